/**
 * SessionStore: the transcripts of stable sessions, on any @effect/sql client. A turn (its new
 * messages and the reply) is written in one transaction, so a failed, cancelled or killed run
 * leaves the transcript as it was.
 *
 * In SQLite for one process, or in PostgreSQL for several gateway processes behind a load
 * balancer: they share the transcripts, and `lock` holds a session for one run at a time across
 * all of them (a session-level advisory lock on a connection of its own, so it is released when
 * the run ends or when its process dies and the connection drops).
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Os from "node:os"
import * as Path from "node:path"
import { Config } from "../config/Config.js"
import { ConfigError } from "../config/ConfigError.js"
import type { ToolCall, Usage } from "../domain/AgentEvent.js"
import { SessionStoreUnavailable } from "../domain/Errors.js"
import type { ChatMessage } from "../domain/Run.js"
import * as ResponseStoreSql from "./StoredResponses.js"

/** One finished turn: the messages the session had not seen, and the agent's reply. */
export interface Turn {
  readonly runId: string
  readonly messages: ReadonlyArray<ChatMessage>
  /** The steps of an agent loop before the reply: its assistant tool calls and the tools' results. */
  readonly steps?: ReadonlyArray<ChatMessage> | undefined
  readonly reply: string
  /** The tool calls of the reply, if the model made any. */
  readonly toolCalls?: ReadonlyArray<ToolCall> | undefined
  readonly usage: Usage | undefined
  /** The agent the session is with (default: read from the key, `agent:<id>:...`). */
  readonly agent?: string | undefined
  /** The API key the session was made with; none for the gateway's own secret. */
  readonly owner?: string | undefined
}

/** A session as the sessions API lists it (times in milliseconds). */
export interface SessionInfo {
  readonly key: string
  readonly agent: string
  /** The API key it was made with, or null for the gateway's own secret. */
  readonly owner: string | null
  readonly createdAt: number
  readonly updatedAt: number
  /** Turns since it was made or last reset. */
  readonly turns: number
  /** Its first user message, cut; null when it has none. */
  readonly title: string | null
}

/** Which sessions to list, newest first. */
export interface ListQuery {
  /** Only the sessions of this API key; null: the gateway's own; undefined: every one. */
  readonly owner?: string | null | undefined
  readonly agent?: string | undefined
  readonly limit: number
  /** The key of the last session of the previous page. */
  readonly after?: string | undefined
}

/** A session's title: its first user message, on one line, at most this long. */
export const TITLE_LENGTH = 80
const titleOf = (messages: ReadonlyArray<ChatMessage>): string | null => {
  const first = messages.find((message) => message.role === "user")
  if (first === undefined) return null
  const line = first.content.replace(/\s+/g, " ").trim()
  return line.length > TITLE_LENGTH ? `${line.slice(0, TITLE_LENGTH - 1)}…` : line
}

/** The agent a session key names (`agent:<id>:...`, possibly after an API key's prefix), if any. */
const agentOfKey = (sessionKey: string) => /(?:^|:)agent:([^:]+):/.exec(sessionKey)?.[1] ?? ""

const migrations = Migrator.fromRecord({
  "1_session_messages": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE session_messages (
      session_key TEXT NOT NULL,
      seq INTEGER NOT NULL,
      role TEXT NOT NULL,
      content TEXT NOT NULL,
      name TEXT,
      tool_call_id TEXT,
      run_id TEXT NOT NULL,
      prompt_tokens INTEGER,
      completion_tokens INTEGER,
      created_at BIGINT NOT NULL,
      PRIMARY KEY (session_key, seq)
    )`),
  // An assistant message's tool calls, as a JSON array of `{ id, name, arguments }`; NULL: none.
  "2_session_tool_calls": Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`ALTER TABLE session_messages ADD COLUMN tool_calls TEXT`
  ),
  // One row per session, for the sessions API: its agent, owner (an API key's id; NULL: the
  // gateway's secret), title and times. Sessions stored before it get theirs from their messages.
  "3_sessions": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE sessions (
      session_key TEXT PRIMARY KEY,
      agent TEXT NOT NULL,
      owner TEXT,
      title TEXT,
      turns INTEGER NOT NULL,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL
    )`
    yield* sql`CREATE INDEX sessions_by_time ON sessions (updated_at, session_key)`
    const existing = yield* sql<{
      readonly session_key: string
      readonly created_at: number | string
      readonly updated_at: number | string
      readonly turns: number | string
      readonly title: string | null
    }>`SELECT m.session_key, MIN(m.created_at) AS created_at, MAX(m.created_at) AS updated_at,
        COUNT(DISTINCT m.run_id) AS turns,
        (SELECT t.content FROM session_messages t WHERE t.session_key = m.session_key AND t.role = 'user'
          ORDER BY t.seq LIMIT 1) AS title
      FROM session_messages m GROUP BY m.session_key`
    for (const row of existing) {
      yield* sql`INSERT INTO sessions ${
        sql.insert({
          session_key: row.session_key,
          agent: agentOfKey(row.session_key),
          owner: null,
          title: row.title === null ? null : titleOf([{ role: "user", content: row.title }]),
          turns: Number(row.turns),
          created_at: Number(row.created_at),
          updated_at: Number(row.updated_at)
        })
      }`
    }
  }),
  // The Responses API's stored responses (ResponseStore.ts).
  "4_responses": Effect.flatMap(SqlClient.SqlClient, ResponseStoreSql.migration),
  "5_responses_created_at": Effect.flatMap(SqlClient.SqlClient, ResponseStoreSql.createdAtIndex)
})

interface SessionRow {
  readonly session_key: string
  readonly agent: string
  readonly owner: string | null
  readonly title: string | null
  readonly turns: number | string
  readonly created_at: number | string
  readonly updated_at: number | string
}

// PostgreSQL gives BIGINT as text.
const toInfo = (row: SessionRow): SessionInfo => ({
  key: row.session_key,
  agent: row.agent,
  owner: row.owner,
  title: row.title,
  turns: Number(row.turns),
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at)
})

interface MessageRow {
  readonly role: string
  readonly content: string
  readonly name: string | null
  readonly tool_call_id: string | null
  readonly tool_calls: string | null
}

const ToolCalls = Schema.parseJson(Schema.Array(Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  arguments: Schema.String
})))
const decodeToolCalls = Schema.decodeUnknown(ToolCalls)
const encodeToolCalls = (calls: ReadonlyArray<ToolCall> | undefined): string | null =>
  calls === undefined || calls.length === 0 ? null : Schema.encodeSync(ToolCalls)(calls)

const toMessage = (row: MessageRow) =>
  Effect.map(
    row.tool_calls === null ? Effect.succeed([]) : decodeToolCalls(row.tool_calls),
    (toolCalls): ChatMessage => ({
      role: row.role === "assistant" ? "assistant" : row.role === "tool" ? "tool" : "user",
      content: row.content,
      ...(row.name !== null && { name: row.name }),
      ...(row.tool_call_id !== null && { toolCallId: row.tool_call_id }),
      ...(toolCalls.length > 0 && { toolCalls })
    })
  )

const unavailable = (cause: unknown) => new SessionStoreUnavailable({ cause })

const MIGRATIONS_TABLE = "clawgate_migrations"

/** What the store runs on: its SqlClient, and on PostgreSQL the client its session locks use. */
const make = (sql: SqlClient.SqlClient, locks: SqlClient.SqlClient) =>
  Effect.gen(function*() {
    const migrate = Migrator.make({})({ loader: migrations, table: MIGRATIONS_TABLE }).pipe(
      Effect.provideService(SqlClient.SqlClient, sql)
    )
    const postgres = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
    if (!postgres) {
      yield* migrate
      return SessionStore.of({
        ...statements(sql),
        lock: () => Effect.void,
        tryHold: () => Effect.succeed(true),
        responses: ResponseStoreSql.make(sql)
      })
    }
    // Advisory locks are per database: their keys name the schema, so that stores in different
    // schemas of one database do not wait on each other.
    const [where] = yield* sql<{ readonly schema: string | null }>`SELECT current_schema() AS schema`
    const namespace = `clawgate:${where?.schema ?? ""}`
    // The Migrator creates its table unguarded (two processes starting at once would both try,
    // and one would fail), and not within a transaction: it runs under a lock of its own, held on
    // a connection of its own.
    yield* Effect.zipRight(advisoryLock(sql, namespace)("migrations"), migrate).pipe(Effect.scoped)
    const sessionLock = advisoryLock(locks, namespace)
    return SessionStore.of({
      ...statements(sql),
      lock: (sessionKey) => Effect.asVoid(sessionLock(`session:${sessionKey}`)),
      tryHold: (sessionKey) => sessionLock(`session:${sessionKey}`, false),
      responses: ResponseStoreSql.make(sql)
    })
  })

/**
 * Holds the advisory lock `name` (in the store's namespace) on a connection reserved for the
 * scope; waits, in the database's order of arrival, while another connection holds it. Unlocked
 * before the connection goes back to its pool; a process that dies drops the connection, and the
 * lock with it. With `wait` false it does not wait: whether the lock was free (and is now held).
 */
const advisoryLock =
  (locks: SqlClient.SqlClient, namespace: string) =>
  (name: string, wait = true): Effect.Effect<boolean, SessionStoreUnavailable, Scope.Scope> =>
    Effect.gen(function*() {
      const connection = yield* locks.reserve
      // Added after the reservation's own finalizer, so it runs first. Also when the wait was
      // interrupted: the lock may have been granted just before the query was cancelled. Should it
      // fail, the next use of the connection ends with it again, and the pool closes idle ones.
      yield* Effect.addFinalizer(() =>
        connection.executeUnprepared("SELECT pg_advisory_unlock_all()", [], undefined).pipe(Effect.ignore)
      )
      const [row] = yield* connection.executeUnprepared(
        `SELECT ${wait ? "pg_advisory_lock" : "pg_try_advisory_lock"}(hashtextextended($1, 0)) AS held`,
        [`${namespace}:${name}`],
        undefined
      )
      // pg_advisory_lock returns once the lock is held.
      return wait || row?.held === true
    }).pipe(Effect.mapError(unavailable))

const statements = (sql: SqlClient.SqlClient) => ({
  load: Effect.fn("SessionStore.load")(function*(sessionKey: string, limit: number) {
    const rows = yield* sql<MessageRow>`
      SELECT role, content, name, tool_call_id, tool_calls FROM session_messages
      WHERE session_key = ${sessionKey} ORDER BY seq DESC LIMIT ${limit}`.pipe(Effect.mapError(unavailable))
    const messages = yield* Effect.forEach(rows, toMessage).pipe(Effect.mapError(unavailable))
    return messages.reverse()
  }),
  commit: Effect.fn("SessionStore.commit")(function*(sessionKey: string, turn: Turn) {
    const now = yield* Clock.currentTimeMillis
    yield* Effect.gen(function*() {
      const [last] = yield* sql<{ readonly seq: number | null }>`
        SELECT MAX(seq) AS seq FROM session_messages WHERE session_key = ${sessionKey}`
      const first = Number(last?.seq ?? 0) + 1
      const rows = [
        ...[...turn.messages, ...turn.steps ?? []].map((message) => ({
          role: message.role,
          content: message.content,
          name: message.name ?? null,
          tool_call_id: message.toolCallId ?? null,
          tool_calls: encodeToolCalls(message.toolCalls),
          prompt_tokens: null,
          completion_tokens: null
        })),
        {
          role: "assistant",
          content: turn.reply,
          name: null,
          tool_call_id: null,
          tool_calls: encodeToolCalls(turn.toolCalls),
          prompt_tokens: turn.usage?.promptTokens ?? null,
          completion_tokens: turn.usage?.completionTokens ?? null
        }
      ].map((row, i) => ({ session_key: sessionKey, seq: first + i, run_id: turn.runId, created_at: now, ...row }))
      yield* sql`INSERT INTO session_messages ${sql.insert(rows)}`
      const session = {
        session_key: sessionKey,
        agent: turn.agent ?? agentOfKey(sessionKey),
        owner: turn.owner ?? null,
        title: titleOf(turn.messages),
        turns: 1,
        created_at: now,
        updated_at: now
      }
      // A session reset keeps its row with no title: its next first message gives it one.
      yield* sql`INSERT INTO sessions ${sql.insert(session)}
        ON CONFLICT (session_key) DO UPDATE SET updated_at = ${now}, turns = sessions.turns + 1,
          title = COALESCE(sessions.title, ${session.title})`
    }).pipe(sql.withTransaction, Effect.mapError(unavailable))
  }),
  info: Effect.fn("SessionStore.info")(function*(sessionKey: string) {
    const rows = yield* sql<SessionRow>`SELECT * FROM sessions WHERE session_key = ${sessionKey}`.pipe(
      Effect.mapError(unavailable)
    )
    return Option.map(Option.fromNullable(rows[0]), toInfo)
  }),
  list: Effect.fn("SessionStore.list")(function*(query: ListQuery) {
    const filters = [
      query.owner === undefined ? undefined : query.owner === null ? sql`owner IS NULL` : sql`owner = ${query.owner}`,
      query.agent === undefined ? undefined : sql`agent = ${query.agent}`
    ]
    if (query.after !== undefined) {
      const [cursor] = yield* sql<{ readonly updated_at: number | string }>`
        SELECT updated_at FROM sessions WHERE session_key = ${query.after}`.pipe(Effect.mapError(unavailable))
      // A cursor that is gone (deleted since) starts nowhere: nothing follows it.
      if (cursor === undefined) return { sessions: [], hasMore: false }
      const at = Number(cursor.updated_at)
      filters.push(sql`(updated_at < ${at} OR (updated_at = ${at} AND session_key < ${query.after}))`)
    }
    const rows = yield* sql<SessionRow>`SELECT * FROM sessions WHERE ${
      sql.and(filters.filter((filter) => filter !== undefined))
    } ORDER BY updated_at DESC, session_key DESC LIMIT ${query.limit + 1}`.pipe(Effect.mapError(unavailable))
    return { sessions: rows.slice(0, query.limit).map(toInfo), hasMore: rows.length > query.limit }
  }),
  reset: Effect.fn("SessionStore.reset")(function*(sessionKey: string) {
    const now = yield* Clock.currentTimeMillis
    yield* Effect.gen(function*() {
      yield* sql`DELETE FROM session_messages WHERE session_key = ${sessionKey}`
      yield* sql`UPDATE sessions SET turns = 0, title = NULL, updated_at = ${now} WHERE session_key = ${sessionKey}`
    }).pipe(sql.withTransaction, Effect.mapError(unavailable))
  }),
  remove: Effect.fn("SessionStore.remove")(function*(sessionKey: string) {
    yield* Effect.gen(function*() {
      yield* sql`DELETE FROM session_messages WHERE session_key = ${sessionKey}`
      yield* sql`DELETE FROM sessions WHERE session_key = ${sessionKey}`
    }).pipe(sql.withTransaction, Effect.mapError(unavailable))
  })
})

/** Options of a PostgreSQL store. */
export interface PgOptions {
  /** `postgres://user:password@host:5432/database`. */
  readonly url: Redacted.Redacted<string>
  /**
   * Runs this process may have in flight at once (`gateway.maxConcurrentRuns`, 64 by default):
   * each holds or waits for its session's lock on a connection of its own, from a pool of its
   * own (so that they never starve the store's reads and writes).
   */
  readonly maxConcurrentRuns?: number | undefined
}

export class SessionStore extends Context.Tag("clawgate/SessionStore")<SessionStore, {
  /** The session's most recent `limit` messages, oldest first (none for a new session). */
  readonly load: (
    sessionKey: string,
    limit: number
  ) => Effect.Effect<ReadonlyArray<ChatMessage>, SessionStoreUnavailable>
  /** Appends a turn, all of it or nothing. */
  readonly commit: (sessionKey: string, turn: Turn) => Effect.Effect<void, SessionStoreUnavailable>
  /** The session, if it was ever written (and not deleted since). */
  readonly info: (sessionKey: string) => Effect.Effect<Option.Option<SessionInfo>, SessionStoreUnavailable>
  /** Sessions, newest first (most recently updated), a page at a time. */
  readonly list: (
    query: ListQuery
  ) => Effect.Effect<
    { readonly sessions: ReadonlyArray<SessionInfo>; readonly hasMore: boolean },
    SessionStoreUnavailable
  >
  /** Starts the session over: its messages go, the session stays (with no turns). */
  readonly reset: (sessionKey: string) => Effect.Effect<void, SessionStoreUnavailable>
  /** Erases the session and its messages for good. */
  readonly remove: (sessionKey: string) => Effect.Effect<void, SessionStoreUnavailable>
  /**
   * Holds the session until the scope closes, waiting while another process holds it: one run at
   * a time per session across every gateway process on this store. The stores here always have
   * it (a no-op on SQLite, which one process uses); a store of an embedding app may leave it out,
   * the in-process RunQueue then being the only line.
   */
  readonly lock?: ((sessionKey: string) => Effect.Effect<void, SessionStoreUnavailable, Scope.Scope>) | undefined
  /**
   * The Responses API's stored responses, in the same database. A store of an embedding app may
   * leave it out: they are then kept in memory (ResponseStore.layer).
   */
  readonly responses?: ResponseStoreSql.ResponseStoreShape | undefined
  /**
   * Holds the session until the scope closes if no process holds it now (true), else false at
   * once: for a reset or delete, which must not happen under a run in flight on another replica.
   */
  readonly tryHold?:
    | ((sessionKey: string) => Effect.Effect<boolean, SessionStoreUnavailable, Scope.Scope>)
    | undefined
}>() {
  /**
   * A store on the SqlClient in context; runs its migrations first. On PostgreSQL its session
   * locks take connections from the same pool: `layerPg` gives them a pool of their own.
   */
  static readonly layerSql = Layer.effect(
    SessionStore,
    Effect.flatMap(SqlClient.SqlClient, (sql) => make(sql, sql))
  )

  /** A store in one SQLite file (created with its folder when missing), or `:memory:`. */
  static readonly layerSqlite = (filename: string) =>
    SessionStore.layerSql.pipe(Layer.provide(Layer.unwrapEffect(Effect.map(
      // The SQL drivers are loaded only for the store in use.
      Effect.promise(() => import("@effect/sql-sqlite-node/SqliteClient")),
      (SqliteClient) => SqliteClient.layer({ filename })
    ))))

  /**
   * A store in a PostgreSQL database, shared by every gateway process given the same `url`. The
   * tables live in the connection's current schema (the first of its `search_path`).
   */
  static readonly layerPg = (options: PgOptions) =>
    Layer.scoped(
      SessionStore,
      Effect.gen(function*() {
        const PgClient = yield* Effect.promise(() => import("@effect/sql-pg/PgClient"))
        const sql = yield* PgClient.make({ url: options.url, applicationName: "clawgate" })
        const locks = yield* PgClient.make({
          url: options.url,
          applicationName: "clawgate-session-locks",
          // One per run in flight, and room for the cancellation of a wait that is given up.
          maxConnections: (options.maxConcurrentRuns ?? 64) + 4
        })
        return yield* make(sql, locks)
      })
    ).pipe(Layer.provide(Reactivity.layer))

  /** The store `session.store` names: its SQLite file (`~` is the home directory), or PostgreSQL. */
  static readonly layer = Layer.unwrapEffect(
    Effect.gen(function*() {
      const settings = yield* Config
      const store = settings.session.store
      if (store.kind === "postgres") {
        return SessionStore.layerPg({ url: store.url, maxConcurrentRuns: settings.maxConcurrentRuns }).pipe(
          Layer.mapError(cannotOpen("session.store.url"))
        )
      }
      const { path } = store
      if (path === ":memory:") {
        return SessionStore.layerSqlite(path).pipe(Layer.mapError(cannotOpen("session.store.path")))
      }
      const filename = path.startsWith("~/") ? Path.join(Os.homedir(), path.slice(2)) : path
      const fs = yield* FileSystem.FileSystem
      yield* fs.makeDirectory(Path.dirname(filename), { recursive: true }).pipe(
        Effect.mapError(cannotOpen("session.store.path"))
      )
      return SessionStore.layerSqlite(filename).pipe(Layer.mapError(cannotOpen("session.store.path")))
    })
  )
}

const cannotOpen = (key: string) => (error: unknown) =>
  new ConfigError({ problems: [`${key}: the session store cannot be opened: ${describe(error)}`] })

/** An error and what caused it (a SqlError's own message only says which step failed). */
const describe = (error: unknown, depth = 0): string => {
  const cause = error instanceof Error ? error.cause : undefined
  return cause === undefined || depth > 4 ? String(error) : `${String(error)} (${describe(cause, depth + 1)})`
}

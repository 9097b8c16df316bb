/**
 * SessionStore: the transcripts of stable sessions, on any @effect/sql client. A turn (its new
 * messages and the reply) is written in one transaction, so a failed, cancelled or killed run
 * leaves the transcript as it was.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Os from "node:os"
import * as Path from "node:path"
import type { ChatMessage, ToolCall, Usage } from "./AgentRunner.js"
import { Config, ConfigError } from "./Config.js"
import { SessionStoreUnavailable } from "./Errors.js"

/** One finished turn: the messages the session had not seen, and the agent's reply. */
export interface Turn {
  readonly runId: string
  readonly messages: ReadonlyArray<ChatMessage>
  readonly reply: string
  /** The tool calls of the reply, if the model made any. */
  readonly toolCalls?: ReadonlyArray<ToolCall> | undefined
  readonly usage: Usage | undefined
}

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
  "2_session_tool_calls": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`ALTER TABLE session_messages ADD COLUMN tool_calls TEXT`)
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

export class SessionStore extends Context.Tag("clawgate/SessionStore")<SessionStore, {
  /** The session's most recent `limit` messages, oldest first (none for a new session). */
  readonly load: (sessionKey: string, limit: number) => Effect.Effect<ReadonlyArray<ChatMessage>, SessionStoreUnavailable>
  /** Appends a turn, all of it or nothing. */
  readonly commit: (sessionKey: string, turn: Turn) => Effect.Effect<void, SessionStoreUnavailable>
}>() {
  /** A store on the SqlClient in context; runs its migrations first. */
  static readonly layerSql = Layer.effect(
    SessionStore,
    Effect.gen(function*() {
      yield* Migrator.make({})({ loader: migrations, table: "clawgate_migrations" })
      const sql = yield* SqlClient.SqlClient
      return SessionStore.of({
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
              ...turn.messages.map((message) => ({
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
          }).pipe(sql.withTransaction, Effect.mapError(unavailable))
        })
      })
    })
  )

  /** A store in one SQLite file (created with its folder when missing), or `:memory:`. */
  static readonly layerSqlite = (filename: string) =>
    SessionStore.layerSql.pipe(Layer.provide(SqliteClient.layer({ filename })))

  /** The store `session.store.path` names; `~` is the home directory. */
  static readonly layer = Layer.unwrapEffect(
    Effect.gen(function*() {
      const { path } = (yield* Config).session.store
      if (path === ":memory:") return SessionStore.layerSqlite(path).pipe(Layer.mapError(cannotOpen))
      const filename = path.startsWith("~/") ? Path.join(Os.homedir(), path.slice(2)) : path
      const fs = yield* FileSystem.FileSystem
      yield* fs.makeDirectory(Path.dirname(filename), { recursive: true }).pipe(Effect.mapError(cannotOpen))
      return SessionStore.layerSqlite(filename).pipe(Layer.mapError(cannotOpen))
    })
  )
}

const cannotOpen = (error: unknown) =>
  new ConfigError({ problems: [`session.store.path: the session store cannot be opened: ${String(error)}`] })

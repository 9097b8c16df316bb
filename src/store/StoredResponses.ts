/**
 * The Responses API's stored responses (`store: true`), each with what continuing
 * it needs: the agent and the session it ran in, and the caller that made it (its owner; another
 * caller neither reads nor continues it), on the session store's SQL client (SessionStore runs the
 * table's migration with its own), so they work on SQLite and PostgreSQL alike; or in memory. Each
 * is kept with the time it was saved, so that those past their retention can be removed (`prune`).
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { SessionStoreUnavailable } from "../domain/Errors.js"

export interface StoredResponse {
  /** `resp_…`. */
  readonly id: string
  /** Who made it (the caller's owner, see `access/Owner.ts`). */
  readonly owner: string
  readonly agentId: string
  /** The session its turn went to: continuing it continues that session. */
  readonly sessionKey: string
  /** The response object as it was answered, as JSON text. */
  readonly body: string
}

/** An output item of a stored response, as JSON text: a later request may refer to it (`item_reference`). */
export interface StoredItem {
  readonly id: string
  readonly body: string
}

export interface ResponseStoreShape {
  /** Keeps a response and its output items (replacing none: ids are new). */
  readonly save: (
    response: StoredResponse,
    items: ReadonlyArray<StoredItem>
  ) => Effect.Effect<void, SessionStoreUnavailable>
  /** The owner's response with that id, if there is one. */
  readonly find: (id: string, owner: string) => Effect.Effect<Option.Option<StoredResponse>, SessionStoreUnavailable>
  /** Removes the owner's response with that id (and its items); whether there was one. */
  readonly remove: (id: string, owner: string) => Effect.Effect<boolean, SessionStoreUnavailable>
  /** The owner's stored output items among `ids`, as JSON text by id. */
  readonly items: (
    ids: ReadonlyArray<string>,
    owner: string
  ) => Effect.Effect<ReadonlyMap<string, string>, SessionStoreUnavailable>
  /** Removes every response (and its items) saved before `before` (ms since the epoch); how many. */
  readonly prune: (before: number) => Effect.Effect<number, SessionStoreUnavailable>
}

/** The tables, created by SessionStore's migration `4_responses`. */
export const migration = (sql: SqlClient.SqlClient) =>
  Effect.zipRight(
    sql`CREATE TABLE responses (
      id TEXT PRIMARY KEY,
      owner TEXT NOT NULL,
      agent_id TEXT NOT NULL,
      session_key TEXT NOT NULL,
      body TEXT NOT NULL,
      created_at BIGINT NOT NULL
    )`,
    sql`CREATE TABLE response_items (
      id TEXT PRIMARY KEY,
      response_id TEXT NOT NULL,
      owner TEXT NOT NULL,
      body TEXT NOT NULL
    )`
  )

/** SessionStore's migration `5_responses_created_at`: `prune` finds the old responses by an index. */
export const createdAtIndex = (sql: SqlClient.SqlClient) =>
  sql`CREATE INDEX responses_created_at ON responses (created_at)`

interface Row {
  readonly id: string
  readonly owner: string
  readonly agent_id: string
  readonly session_key: string
  readonly body: string
}

const unavailable = (cause: unknown) => new SessionStoreUnavailable({ cause })

/** The store on a SQL client whose database has the table. */
export const make = (sql: SqlClient.SqlClient): ResponseStoreShape => ({
  save: Effect.fn("ResponseStore.save")(function*(response: StoredResponse, items: ReadonlyArray<StoredItem>) {
    const now = yield* Clock.currentTimeMillis
    const row = {
      id: response.id,
      owner: response.owner,
      agent_id: response.agentId,
      session_key: response.sessionKey,
      body: response.body,
      created_at: now
    }
    const itemRows = items.map((item) => ({
      id: item.id,
      response_id: response.id,
      owner: response.owner,
      body: item.body
    }))
    yield* Effect.gen(function*() {
      yield* sql`INSERT INTO responses ${sql.insert(row)}`
      if (itemRows.length > 0) yield* sql`INSERT INTO response_items ${sql.insert(itemRows)}`
    }).pipe(sql.withTransaction, Effect.mapError(unavailable))
  }),
  find: Effect.fn("ResponseStore.find")(function*(id: string, owner: string) {
    const rows = yield* sql<Row>`
      SELECT id, owner, agent_id, session_key, body FROM responses
      WHERE id = ${id} AND owner = ${owner}`.pipe(Effect.mapError(unavailable))
    return Option.map(Option.fromNullable(rows[0]), (row): StoredResponse => ({
      id: row.id,
      owner: row.owner,
      agentId: row.agent_id,
      sessionKey: row.session_key,
      body: row.body
    }))
  }),
  remove: Effect.fn("ResponseStore.remove")(function*(id: string, owner: string) {
    const rows = yield* Effect.gen(function*() {
      yield* sql`DELETE FROM response_items WHERE response_id = ${id} AND owner = ${owner}`
      return yield* sql<{ readonly id: string }>`
        DELETE FROM responses WHERE id = ${id} AND owner = ${owner} RETURNING id`
    }).pipe(sql.withTransaction, Effect.mapError(unavailable))
    return rows.length > 0
  }),
  items: Effect.fn("ResponseStore.items")(function*(ids: ReadonlyArray<string>, owner: string) {
    const rows = yield* sql<{ readonly id: string; readonly body: string }>`
      SELECT id, body FROM response_items WHERE owner = ${owner} AND id IN ${sql.in(ids)}`.pipe(
      Effect.mapError(unavailable)
    )
    return new Map(rows.map((row) => [row.id, row.body]))
  }),
  prune: Effect.fn("ResponseStore.prune")(function*(before: number) {
    const rows = yield* Effect.gen(function*() {
      yield* sql`DELETE FROM response_items WHERE response_id IN (
        SELECT id FROM responses WHERE created_at < ${before})`
      return yield* sql<{ readonly id: string }>`DELETE FROM responses WHERE created_at < ${before} RETURNING id`
    }).pipe(sql.withTransaction, Effect.mapError(unavailable))
    return rows.length
  })
})

/**
 * A store in this process's memory, for a SessionStore that has no `responses` of its own (one an
 * embedding app wrote).
 */
export const memory = (): ResponseStoreShape => {
  const responses = new Map<
    string,
    { readonly response: StoredResponse; readonly items: ReadonlyArray<StoredItem>; readonly savedAt: number }
  >()
  const owned = (id: string, owner: string) =>
    Option.filter(Option.fromNullable(responses.get(id)?.response), (response) => response.owner === owner)
  return {
    save: (response, items) =>
      Effect.map(Clock.currentTimeMillis, (savedAt) => void responses.set(response.id, { response, items, savedAt })),
    find: (id, owner) => Effect.sync(() => owned(id, owner)),
    remove: (id, owner) => Effect.sync(() => Option.isSome(owned(id, owner)) && responses.delete(id)),
    items: (ids, owner) =>
      Effect.sync(() =>
        new Map(
          [...responses.values()].filter(({ response }) => response.owner === owner).flatMap(({ items }) =>
            items.filter((item) => ids.includes(item.id)).map((item): [string, string] => [item.id, item.body])
          )
        )
      ),
    prune: (before) =>
      Effect.sync(() => {
        const old = [...responses.values()].filter(({ savedAt }) => savedAt < before)
        for (const { response } of old) responses.delete(response.id)
        return old.length
      })
  }
}

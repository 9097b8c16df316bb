/**
 * The machine's PostgreSQL for the replica tests (127.0.0.1:5432, trust auth, database `test`,
 * user `postgres`; `CLAWGATE_TEST_PG_URL` names another). Each test gets a schema of its own,
 * dropped with everything in it when the test's scope closes, so runs never see each other's
 * tables; `.ci/run` makes sure the server is up.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"

export const DATABASE_URL = process.env["CLAWGATE_TEST_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"

/** How long a wait on the database or a process may take before the test fails. */
export const BOUND = Duration.seconds(10)

export interface TestSchema {
  readonly name: string
  /** The database URL with this schema as the `search_path`: what a store is configured with. */
  readonly url: string
  /** A client of the test's own (on the default search path: names are qualified with `name`). */
  readonly sql: PgClient.PgClient
  /** The messages of a session as stored: role and content, in order. */
  readonly transcript: (
    sessionKey: string
  ) => Effect.Effect<ReadonlyArray<{ readonly role: string; readonly content: string }>>
  /** Waits until some connection is waiting for `sessionKey`'s lock (held by another). */
  readonly someoneWaitsFor: (sessionKey: string) => Effect.Effect<void>
  /** The backend holding `sessionKey`'s lock, if any. */
  readonly holderOf: (sessionKey: string) => Effect.Effect<number | undefined>
}

const withSearchPath = (url: string, schema: string) =>
  `${url}${url.includes("?") ? "&" : "?"}options=${encodeURIComponent(`-c search_path=${schema}`)}`

/** A fresh schema for the scope. */
export const freshSchema: Effect.Effect<TestSchema, never, Scope.Scope> = Effect.gen(function*() {
  const sql = yield* PgClient.make({ url: Redacted.make(DATABASE_URL), applicationName: "clawgate-test" }).pipe(
    Effect.provide(Reactivity.layer),
    Effect.orDie
  )
  const name = `clawgate_test_${Crypto.randomBytes(6).toString("hex")}`
  yield* Effect.acquireRelease(
    sql`CREATE SCHEMA ${sql(name)}`.pipe(Effect.orDie),
    () => sql`DROP SCHEMA ${sql(name)} CASCADE`.pipe(Effect.orDie)
  )
  // The store's lock names (see SessionStore): a 64-bit hash of the schema and the session key.
  const lockOf = (sessionKey: string) => `clawgate:${name}:session:${sessionKey}`
  const locks = (sessionKey: string, granted: boolean) =>
    sql<{ readonly pid: number }>`
      SELECT pid FROM pg_locks
      WHERE locktype = 'advisory' AND objsubid = 1 AND granted = ${granted}
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND ((classid::bigint << 32) | objid::bigint) = hashtextextended(${lockOf(sessionKey)}, 0)`.pipe(Effect.orDie)
  return {
    name,
    url: withSearchPath(DATABASE_URL, name),
    sql,
    transcript: (sessionKey) =>
      sql<{ readonly role: string; readonly content: string }>`
        SELECT role, content FROM ${sql(name)}.session_messages WHERE session_key = ${sessionKey} ORDER BY seq`.pipe(
        Effect.orDie
      ),
    // No event tells that a backend started waiting for a lock: the lock table is read until it
    // shows one (each read is a round trip; the bound fails the test if it never does).
    someoneWaitsFor: (sessionKey) =>
      locks(sessionKey, false).pipe(
        Effect.repeat({ until: (waiting) => waiting.length > 0 }),
        Effect.timeoutFail({ duration: BOUND, onTimeout: () => new Error(`nobody waited for ${sessionKey}'s lock`) }),
        Effect.orDie,
        Effect.asVoid
      ),
    holderOf: (sessionKey) => Effect.map(locks(sessionKey, true), (rows) => rows[0]?.pid)
  }
})

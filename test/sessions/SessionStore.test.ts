/**
 * The SQLite session store alone: the most recent messages in order, a turn
 * written all or nothing, sessions apart, and a file that keeps its turns across openings
 * (migrations tracked, not run twice).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ChatMessage } from "../../src/domain/Run.js"
import { SessionStore } from "../../src/store/SessionStore.js"
import { assistant, user } from "../kit/messages.js"
import { memoryStore, storedTurn } from "../kit/store.js"

describe("SessionStore (SQLite)", () => {
  it.scoped("a session never written has an empty transcript", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      expect(yield* store.load("nobody", 100)).toEqual([])
    }).pipe(Effect.provide(memoryStore())))

  it.scoped("load gives the most recent N messages, oldest first, across turns", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* store.commit("s", storedTurn("r1", [user("one")], "reply one"))
      yield* store.commit("s", storedTurn("r2", [user("two"), user("two more")], "reply two"))
      yield* store.commit("s", storedTurn("r3", [user("three")], "reply three"))
      expect(yield* store.load("s", 100)).toEqual([
        user("one"),
        assistant("reply one"),
        user("two"),
        user("two more"),
        assistant("reply two"),
        user("three"),
        assistant("reply three")
      ])
      expect(yield* store.load("s", 3)).toEqual([assistant("reply two"), user("three"), assistant("reply three")])
      expect(yield* store.load("s", 1)).toEqual([assistant("reply three")])
    }).pipe(Effect.provide(memoryStore())))

  it.scoped("sessions are kept apart", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* store.commit("alice", storedTurn("r1", [user("alice says")], "to alice"))
      yield* store.commit("bob", storedTurn("r2", [user("bob says")], "to bob"))
      yield* store.commit("alice", storedTurn("r3", [user("alice again")], "to alice again"))
      expect(yield* store.load("alice", 100)).toEqual([
        user("alice says"),
        assistant("to alice"),
        user("alice again"),
        assistant("to alice again")
      ])
      expect(yield* store.load("bob", 100)).toEqual([user("bob says"), assistant("to bob")])
    }).pipe(Effect.provide(memoryStore())))

  it.scoped("a turn keeps tool messages' name and call id, and the reply's usage and run id", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const tool: ChatMessage = { role: "tool", content: "{\"temp\":21}", name: "weather", toolCallId: "call_9" }
      yield* store.commit("s", storedTurn("run-1", [user("weather?"), tool], "It is 21 degrees."))
      expect(yield* store.load("s", 10)).toEqual([user("weather?"), tool, assistant("It is 21 degrees.")])
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<
        { role: string; run_id: string; prompt_tokens: number | null; completion_tokens: number | null }
      >`
        SELECT role, run_id, prompt_tokens, completion_tokens FROM session_messages ORDER BY seq`
      expect(rows).toEqual([
        { role: "user", run_id: "run-1", prompt_tokens: null, completion_tokens: null },
        { role: "tool", run_id: "run-1", prompt_tokens: null, completion_tokens: null },
        { role: "assistant", run_id: "run-1", prompt_tokens: 11, completion_tokens: 4 }
      ])
    }).pipe(Effect.provide(memoryStore())))

  it.scoped("a turn that cannot be written entirely is not written at all, and fails with SessionStoreUnavailable", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const sql = yield* SqlClient.SqlClient
      yield* store.commit("s", storedTurn("r1", [user("first")], "first reply"))
      // The database refuses one row of the next turn: its assistant reply.
      yield* sql`CREATE TRIGGER refuse_boom BEFORE INSERT ON session_messages
        WHEN NEW.content = 'boom' BEGIN SELECT RAISE(ABORT, 'refused'); END`
      const error = yield* Effect.flip(
        store.commit("s", storedTurn("r2", [user("second"), user("second, more")], "boom"))
      )
      expect(error._tag).toBe("SessionStoreUnavailable")
      expect(yield* store.load("s", 100)).toEqual([user("first"), assistant("first reply")])
      const [count] = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM session_messages WHERE run_id = 'r2'`
      expect(count?.n).toBe(0)
      // The store goes on working: the next turn follows the first.
      yield* store.commit("s", storedTurn("r3", [user("third")], "third reply"))
      expect(yield* store.load("s", 100)).toEqual([
        user("first"),
        assistant("first reply"),
        user("third"),
        assistant("third reply")
      ])
    }).pipe(Effect.provide(memoryStore())))

  it.scoped("a file store keeps its turns when opened again, and its migrations run once", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "clawgate-store-" })
      const file = `${dir}/sessions.sqlite`
      const open = SessionStore.layerSqlite(file)
      const withSql = SessionStore.layerSql.pipe(Layer.provideMerge(SqliteClient.layer({ filename: file })))
      const migrations = Effect.flatMap(
        SqlClient.SqlClient,
        (sql) =>
          sql<{ readonly migration_id: number }>`SELECT migration_id FROM clawgate_migrations ORDER BY migration_id`
      ).pipe(
        Effect.map((rows) => rows.map((row) => Number(row.migration_id)))
      )
      const firstMigrations = yield* Effect.scoped(
        Effect.gen(function*() {
          const store = yield* SessionStore
          yield* store.commit("s", storedTurn("r1", [user("kept?")], "kept."))
          return yield* migrations
        }).pipe(Effect.provide(Layer.fresh(withSql)))
      )
      yield* Effect.scoped(
        Effect.gen(function*() {
          const store = yield* SessionStore
          expect(yield* store.load("s", 10)).toEqual([user("kept?"), assistant("kept.")])
          yield* store.commit("s", storedTurn("r2", [user("still?")], "still."))
        }).pipe(Effect.provide(Layer.fresh(open)))
      )
      const lastMigrations = yield* Effect.scoped(
        Effect.gen(function*() {
          const store = yield* SessionStore
          expect(yield* store.load("s", 10)).toEqual([
            user("kept?"),
            assistant("kept."),
            user("still?"),
            assistant("still.")
          ])
          return yield* migrations
        }).pipe(Effect.provide(Layer.fresh(withSql)))
      )
      // Each migration recorded once, none run again.
      expect(firstMigrations.length).toBeGreaterThan(0)
      expect(new Set(firstMigrations).size).toBe(firstMigrations.length)
      expect(lastMigrations).toEqual(firstMigrations)
    }).pipe(Effect.provide(NodeContext.layer)))
})

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
import { SessionStore, type Turn } from "../../src/store/SessionStore.js"

const u = (content: string): ChatMessage => ({ role: "user", content })
const a = (content: string): ChatMessage => ({ role: "assistant", content })

const turn = (runId: string, messages: ReadonlyArray<ChatMessage>, reply: string): Turn => ({
  runId,
  messages,
  reply,
  usage: { promptTokens: 11, completionTokens: 4 }
})

/** A store in memory with its SQL client, both for the test. */
const memoryStore = () => {
  const sql = SqliteClient.layer({ filename: ":memory:" })
  return Layer.merge(SessionStore.layerSql.pipe(Layer.provide(sql)), sql)
}

describe("SessionStore (SQLite)", () => {
  it.scoped("a session never written has an empty transcript", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      expect(yield* store.load("nobody", 100)).toEqual([])
    }).pipe(Effect.provide(memoryStore())))

  it.scoped("load gives the most recent N messages, oldest first, across turns", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* store.commit("s", turn("r1", [u("one")], "reply one"))
      yield* store.commit("s", turn("r2", [u("two"), u("two more")], "reply two"))
      yield* store.commit("s", turn("r3", [u("three")], "reply three"))
      expect(yield* store.load("s", 100)).toEqual([
        u("one"),
        a("reply one"),
        u("two"),
        u("two more"),
        a("reply two"),
        u("three"),
        a("reply three")
      ])
      expect(yield* store.load("s", 3)).toEqual([a("reply two"), u("three"), a("reply three")])
      expect(yield* store.load("s", 1)).toEqual([a("reply three")])
    }).pipe(Effect.provide(memoryStore())))

  it.scoped("sessions are kept apart", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* store.commit("alice", turn("r1", [u("alice says")], "to alice"))
      yield* store.commit("bob", turn("r2", [u("bob says")], "to bob"))
      yield* store.commit("alice", turn("r3", [u("alice again")], "to alice again"))
      expect(yield* store.load("alice", 100)).toEqual([
        u("alice says"),
        a("to alice"),
        u("alice again"),
        a("to alice again")
      ])
      expect(yield* store.load("bob", 100)).toEqual([u("bob says"), a("to bob")])
    }).pipe(Effect.provide(memoryStore())))

  it.scoped("a turn keeps tool messages' name and call id, and the reply's usage and run id", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const tool: ChatMessage = { role: "tool", content: "{\"temp\":21}", name: "weather", toolCallId: "call_9" }
      yield* store.commit("s", turn("run-1", [u("weather?"), tool], "It is 21 degrees."))
      expect(yield* store.load("s", 10)).toEqual([u("weather?"), tool, a("It is 21 degrees.")])
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
      yield* store.commit("s", turn("r1", [u("first")], "first reply"))
      // The database refuses one row of the next turn: its assistant reply.
      yield* sql`CREATE TRIGGER refuse_boom BEFORE INSERT ON session_messages
        WHEN NEW.content = 'boom' BEGIN SELECT RAISE(ABORT, 'refused'); END`
      const error = yield* Effect.flip(store.commit("s", turn("r2", [u("second"), u("second, more")], "boom")))
      expect(error._tag).toBe("SessionStoreUnavailable")
      expect(yield* store.load("s", 100)).toEqual([u("first"), a("first reply")])
      const [count] = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM session_messages WHERE run_id = 'r2'`
      expect(count?.n).toBe(0)
      // The store goes on working: the next turn follows the first.
      yield* store.commit("s", turn("r3", [u("third")], "third reply"))
      expect(yield* store.load("s", 100)).toEqual([u("first"), a("first reply"), u("third"), a("third reply")])
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
          yield* store.commit("s", turn("r1", [u("kept?")], "kept."))
          return yield* migrations
        }).pipe(Effect.provide(Layer.fresh(withSql)))
      )
      yield* Effect.scoped(
        Effect.gen(function*() {
          const store = yield* SessionStore
          expect(yield* store.load("s", 10)).toEqual([u("kept?"), a("kept.")])
          yield* store.commit("s", turn("r2", [u("still?")], "still."))
        }).pipe(Effect.provide(Layer.fresh(open)))
      )
      const lastMigrations = yield* Effect.scoped(
        Effect.gen(function*() {
          const store = yield* SessionStore
          expect(yield* store.load("s", 10)).toEqual([u("kept?"), a("kept."), u("still?"), a("still.")])
          return yield* migrations
        }).pipe(Effect.provide(Layer.fresh(withSql)))
      )
      // Each migration recorded once, none run again.
      expect(firstMigrations.length).toBeGreaterThan(0)
      expect(new Set(firstMigrations).size).toBe(firstMigrations.length)
      expect(lastMigrations).toEqual(firstMigrations)
    }).pipe(Effect.provide(NodeContext.layer)))
})

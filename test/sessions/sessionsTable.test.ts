/**
 * The sessions table (migration 3_sessions) on a store written before it: the sessions already
 * stored are listed with their agent, title, turns and times, and stay the gateway token's.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { SessionStore } from "../../src/store/SessionStore.js"

/** A store as migrations 1 and 2 left it, with two sessions in it. */
const beforeSessionsTable = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE clawgate_migrations (
    migration_id integer PRIMARY KEY NOT NULL,
    created_at datetime NOT NULL DEFAULT current_timestamp,
    name VARCHAR(255) NOT NULL)`
  yield* sql`INSERT INTO clawgate_migrations (migration_id, name) VALUES (1, 'session_messages'), (2, 'session_tool_calls')`
  yield* sql`CREATE TABLE session_messages (
    session_key TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, name TEXT,
    tool_call_id TEXT, run_id TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER,
    created_at BIGINT NOT NULL, tool_calls TEXT, PRIMARY KEY (session_key, seq))`
  const row = (key: string, seq: number, role: string, content: string, run: string, at: number) => ({
    session_key: key,
    seq,
    role,
    content,
    run_id: run,
    created_at: at
  })
  yield* sql`INSERT INTO session_messages ${
    sql.insert([
      row("agent:main:openai-user:old", 1, "user", "  the   first\nquestion ", "r1", 1_000_000),
      row("agent:main:openai-user:old", 2, "assistant", "an answer", "r1", 1_000_000),
      row("agent:main:openai-user:old", 3, "user", "the second", "r2", 5_000_000),
      row("agent:main:openai-user:old", 4, "assistant", "another", "r2", 5_000_000),
      row("my-own-key", 1, "user", "hi", "r3", 3_000_000),
      row("my-own-key", 2, "assistant", "hi", "r3", 3_000_000)
    ])
  }`
})

describe("the sessions table on an earlier store", () => {
  it.scoped("sessions stored before it are listed, newest first, with their agent, title and turns", () =>
    Effect.gen(function*() {
      const client = yield* Layer.build(SqliteClient.layer({ filename: ":memory:" }))
      yield* Effect.provide(beforeSessionsTable, client)
      const store = yield* Effect.provide(
        SessionStore,
        yield* Layer.build(Layer.provide(SessionStore.layerSql, Layer.succeedContext(client)))
      )
      const { hasMore, sessions } = yield* store.list({ limit: 10 })
      expect(hasMore).toBe(false)
      expect(sessions).toEqual([
        {
          key: "agent:main:openai-user:old",
          agent: "main",
          owner: null,
          title: "the first question",
          turns: 2,
          createdAt: 1_000_000,
          updatedAt: 5_000_000
        },
        { key: "my-own-key", agent: "", owner: null, title: "hi", turns: 1, createdAt: 3_000_000, updatedAt: 3_000_000 }
      ])
      expect(Option.map(yield* store.info("my-own-key"), (info) => info.turns)).toEqual(Option.some(1))
      expect(yield* store.list({ limit: 10, owner: "some-key" })).toEqual({ sessions: [], hasMore: false })
    }))
})

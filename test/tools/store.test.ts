/**
 * The session store keeps tool calls: an assistant
 * message's tool calls, the reply's own, and the tool results come back as they were committed,
 * arguments byte for byte; and a store written before tool calls were kept is migrated in place.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ToolCall } from "../../src/domain/AgentEvent.js"
import type { ChatMessage } from "../../src/domain/Run.js"
import { SessionStore } from "../../src/store/SessionStore.js"
import { memoryStore } from "../kit/store.js"

const SPACED = { id: "call_1", name: "lookup", arguments: "{ \"word\" : \"claw\",\n  \"n\": 1.50 }" } satisfies ToolCall
const SECOND = { id: "call_2", name: "note", arguments: "" } satisfies ToolCall

const question: ChatMessage = { role: "user", content: "define claw" }
const called: ChatMessage = { role: "assistant", content: "Looking it up.", toolCalls: [SPACED, SECOND] }
const result: ChatMessage = { role: "tool", content: "a hooked nail", toolCallId: "call_1" }

describe("SessionStore with tool calls", () => {
  it.scoped("a turn's tool calls and results load back as committed, the reply's calls included", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      // A seeded history with a tool round, then a reply that calls a tool again.
      yield* store.commit("s", {
        runId: "r1",
        messages: [question, called, result],
        reply: "",
        toolCalls: [{ ...SPACED, id: "call_3" }],
        usage: undefined
      })
      yield* store.commit("s", {
        runId: "r2",
        messages: [{ ...result, toolCallId: "call_3" }],
        reply: "Done.",
        usage: undefined
      })
      expect(yield* store.load("s", 100)).toEqual([
        question,
        called,
        result,
        { role: "assistant", content: "", toolCalls: [{ ...SPACED, id: "call_3" }] },
        { role: "tool", content: "a hooked nail", toolCallId: "call_3" },
        { role: "assistant", content: "Done." }
      ])
      // Messages without tool calls have none at all (not an empty list).
      const [first] = yield* store.load("s", 100)
      expect(first).not.toHaveProperty("toolCalls")
    }).pipe(Effect.provide(memoryStore())))

  it.scoped("a store written by the first schema is migrated, and its transcript still loads", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // The first schema, as a store made before tool calls were kept has it.
      yield* sql`CREATE TABLE clawgate_migrations (
        migration_id INTEGER PRIMARY KEY NOT NULL,
        created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
        name VARCHAR(255) NOT NULL
      )`
      yield* sql`INSERT INTO clawgate_migrations (migration_id, name) VALUES (1, 'session_messages')`
      yield* sql`CREATE TABLE session_messages (
        session_key TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,
        name TEXT, tool_call_id TEXT, run_id TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER,
        created_at BIGINT NOT NULL, PRIMARY KEY (session_key, seq)
      )`
      yield* sql`INSERT INTO session_messages (session_key, seq, role, content, run_id, created_at)
        VALUES ('old', 1, 'user', 'hello', 'r0', 0), ('old', 2, 'assistant', 'hi', 'r0', 0)`

      const store = yield* Effect.provide(
        SessionStore,
        SessionStore.layerSql.pipe(Layer.provide(Layer.succeed(SqlClient.SqlClient, sql)))
      )
      expect(yield* store.load("old", 10)).toEqual([{ role: "user", content: "hello" }, {
        role: "assistant",
        content: "hi"
      }])
      yield* store.commit("old", {
        runId: "r1",
        messages: [question],
        reply: "",
        toolCalls: [SPACED],
        usage: undefined
      })
      expect((yield* store.load("old", 10)).at(-1)).toEqual({ role: "assistant", content: "", toolCalls: [SPACED] })
    }).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" }))))
})

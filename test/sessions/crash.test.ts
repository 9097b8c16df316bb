/**
 * A crash (kill -9) mid-run loses no committed turn and leaves no half turn. The real gateway runs
 * as a child process (the kit's `startGateway`) on a temp SQLite file, its agent on the
 * `openai-completions` provider pointed at the controlled provider, which answers the first request
 * and stops in the middle of the second. The child is killed with SIGKILL mid-run; the file is then
 * opened and read, and a new gateway goes on from it.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Path from "node:path"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { controlledProvider } from "../fakes/ControlledProvider.js"
import { TOKEN } from "../kit/gateway.js"
import { postTo } from "../kit/http.js"
import { requireBuild, startGateway, tempDir, writeConfig } from "../kit/process.js"
import { isContent, streamedText } from "../kit/wire.js"

const SESSION = "agent:main:openai-user:crash"

requireBuild()

/** A streamed turn of user `crash` with these messages. */
const turn = (messages: ReadonlyArray<{ readonly role: string; readonly content: string }>) => ({
  model: "clawdbot:main",
  user: "crash",
  stream: true,
  messages
})

// ---------------------------------------------------------------------------------------------
// The store, read after the crash
// ---------------------------------------------------------------------------------------------

interface Row {
  readonly session_key: string
  readonly role: string
  readonly content: string
  readonly run_id: string
}

const readStore = (file: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [integrity] = yield* sql<{ readonly integrity_check: string }>`PRAGMA integrity_check`
    const rows = yield* sql<
      Row
    >`SELECT session_key, role, content, run_id FROM session_messages ORDER BY session_key, seq`
    return { integrity: integrity?.integrity_check, rows }
  }).pipe(Effect.scoped, Effect.provide(SqliteClient.layer({ filename: file })), Effect.orDie)

/** The gateway's config: agent `main` on the provider at `baseUrl`, the session store in `store`. */
const crashConfig = (baseUrl: string, store: string): ConfigInput => ({
  gateway: {
    http: { endpoints: { chatCompletions: { enabled: true } } },
    auth: { mode: "token", token: TOKEN }
  },
  agents: { list: [{ id: "main", default: true, model: "slow/slow-model" }] },
  models: { providers: { slow: { api: "openai-completions", baseUrl, retry: { attempts: 0 } } } },
  session: { store: { path: store } }
})

describe("a gateway killed with SIGKILL mid-run", () => {
  it.scopedLive("keeps every committed turn and no half of the one in flight; a new gateway goes on from the store", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const store = Path.join(dir, "state", "sessions.sqlite")
      const provider = yield* controlledProvider
      const config = writeConfig(dir, crashConfig(provider.baseUrl, store))

      const gateway = yield* startGateway(config, dir)
      // Turn 1, committed: its answer has ended.
      const first = yield* Effect.fork(
        Effect.scoped(
          Effect.flatMap(
            postTo(gateway.url, turn([{ role: "user", content: "first question" }])),
            (answer) => answer.rest
          )
        )
      )
      yield* Effect.flatMap(provider.nextCall, (call) => call.reply("first answer"))
      expect(streamedText(yield* Fiber.join(first))).toBe("first answer")

      // Turn 2, mid-run: the provider has the request and the client has the first words.
      const opening = yield* Effect.fork(postTo(
        gateway.url,
        turn([
          { role: "user", content: "first question" },
          { role: "assistant", content: "first answer" },
          { role: "user", content: "second question" }
        ])
      ))
      yield* Effect.flatMap(provider.nextCall, (call) => call.say("half of the sec"))
      const second = yield* Fiber.join(opening)
      expect(second.status).toBe(200)
      expect(streamedText(yield* second.until(isContent))).toBe("half of the sec")
      gateway.kill("SIGKILL")
      expect((yield* gateway.exited).signal).toBe("SIGKILL")

      const afterCrash = yield* readStore(store)
      expect(afterCrash.integrity).toBe("ok")
      expect(afterCrash.rows.map(({ content, role, session_key }) => [session_key, role, content])).toEqual([
        [SESSION, "user", "first question"],
        [SESSION, "assistant", "first answer"]
      ])
      // One run wrote both rows.
      expect(new Set(afterCrash.rows.map((row) => row.run_id)).size).toBe(1)

      // A new gateway on the same file: the session goes on from turn 1, nothing of turn 2.
      const restarted = yield* startGateway(config, dir)
      const third = yield* Effect.fork(
        Effect.scoped(
          Effect.flatMap(
            postTo(restarted.url, turn([{ role: "user", content: "third question" }])),
            (answer) => answer.rest
          )
        )
      )
      const call = yield* provider.nextCall
      expect(call.messages).toEqual([
        { role: "user", content: "first question" },
        { role: "assistant", content: "first answer" },
        { role: "user", content: "third question" }
      ])
      yield* call.reply("third answer")
      expect(streamedText(yield* Fiber.join(third))).toBe("third answer")
      restarted.kill("SIGKILL")
      yield* restarted.exited
      const final = yield* readStore(store)
      expect(final.rows.map(({ content, role }) => [role, content])).toEqual([
        ["user", "first question"],
        ["assistant", "first answer"],
        ["user", "third question"],
        ["assistant", "third answer"]
      ])
    }))
})

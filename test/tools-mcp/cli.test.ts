/**
 * `clawgate agent` with an agent that has MCP server tools, as a user runs it (the built command in
 * a child process): the loop runs, the reply goes to stdout and each tool call to stderr.
 * `npm test` builds dist/ first; alone, run `npm run build`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { requireBuild, runClawgate, tempDir, writeConfig } from "../kit/process.js"
import { MODEL, PROVIDER, Upstream, upstreamLayer } from "../kit/upstream.js"
import { API, call, STDIO_SERVER } from "./harness.js"

requireBuild()

describe("clawgate agent with server tools", () => {
  it.scopedLive("runs the loop: the reply on stdout, each tool call on stderr", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      yield* upstream.answerToolCalls([call("call_1", "calc__add", { a: 2, b: 3 })])
      yield* upstream.answerText(["It is 5."])
      const dir = yield* tempDir
      const path = writeConfig(dir, {
        agents: { list: [{ id: "main", model: `${PROVIDER}/${MODEL}`, tools: { allow: ["calc.*"] } }] },
        models: { providers: { [PROVIDER]: { api: API, baseUrl: upstream.baseUrl, apiKey: "k" } } },
        mcp: { servers: { calc: STDIO_SERVER } },
        session: { store: { path: ":memory:" } }
      })
      const result = yield* runClawgate(["agent", "--message", "What is 2 + 3?", "--config", path], { cwd: dir })
      expect(result.code).toBe(0)
      expect(result.stdout).toBe("It is 5.\n")
      expect(result.stderr).toContain("[tool] calc__add {\"a\":2,\"b\":3}\n[tool] calc__add done: 5\n")
    }).pipe(Effect.provide(upstreamLayer(API))))
})

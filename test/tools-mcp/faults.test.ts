/**
 * Server tools that misbehave and the limits around them: which tools an agent is offered, a tool
 * that fails, hangs past its timeout or answers too much, a server that dies or never starts, a
 * loop that reaches maxSteps, a client that leaves mid-call, and reloads that add and remove servers.
 * None of these fails the request: the model sees an error result, or is offered fewer tools.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { completion } from "../kit/clients.js"
import { chat, post, text } from "../kit/http.js"
import { capturingLogs } from "../kit/logs.js"
import { sentConversation } from "../kit/sent.js"
import { eventsOf } from "../kit/sse.js"
import { Upstream } from "../kit/upstream.js"
import { finishReasons, streamedText } from "../kit/wire.js"
import { settingsOf } from "../reload/harness.js"
import {
  API,
  call,
  mcpConfig,
  type McpSetup,
  offeredTools,
  STDIO_SERVER,
  toolEventsOf,
  WebTools,
  withMcp
} from "./harness.js"

const question = { role: "user", content: "Do the thing." } as const
const OPT_IN = { "x-clawgate-tool-events": "1" }

/** The model calls one tool, then answers "Done."; gives what the model got back as the call's result. */
const resultOf = (name: string, args: Record<string, unknown> = {}) =>
  Effect.gen(function*() {
    const upstream = yield* Upstream
    yield* upstream.answerToolCalls([call("call_1", name, args)])
    yield* upstream.answerText(["Done."])
    const answer = yield* completion({ messages: [question] })
    expect(answer.choices[0]?.message.content).toBe("Done.")
    yield* upstream.nextRequest
    const conversation = sentConversation(API, (yield* upstream.nextRequest).body)
    return conversation.at(-1)?.replace(/^result call_1 /, "") ?? ""
  })

/** The tools the model is offered on the next request. */
const offered = Effect.gen(function*() {
  const upstream = yield* Upstream
  yield* upstream.answerText(["Hi."])
  yield* completion({ messages: [question] })
  return offeredTools((yield* upstream.nextRequest).body)
})

describe("which server tools an agent gets", () => {
  it.scopedLive("allow and deny by name and pattern, deny winning; a server's toolFilter applies first", () =>
    Effect.gen(function*() {
      expect(yield* offered).toEqual(["calc__add", "calc__fail", "calc__huge", "calc__barrier", "web__add"])
    }).pipe(withMcp({
      servers: (url) => ({
        calc: STDIO_SERVER,
        web: { url, toolFilter: { include: ["add", "hang"], exclude: ["hang"] } }
      }),
      agent: { tools: { allow: ["calc.*", "web.*"], deny: ["calc.die", "calc.hang"] } }
    })))

  it.scopedLive("an agent without a tools setting is offered none, and its request is as without MCP", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      yield* upstream.answerText(["Hi."])
      yield* completion({ messages: [question] })
      expect((yield* upstream.nextRequest).body).not.toHaveProperty("tools")
      expect(yield* (yield* WebTools).calls).toEqual([])
    }).pipe(withMcp({ agent: {} })))

  it.scopedLive("a server that never starts gives no tools; the others' still come and the answer is given", () =>
    Effect.gen(function*() {
      expect(yield* offered).toEqual(["web__add", "web__fail", "web__hang", "web__huge", "web__barrier", "web__die"])
    }).pipe(withMcp({
      servers: (url) => ({ ghost: { command: "/nonexistent/mcp-server" }, web: { url } })
    })))
})

describe("server tools that misbehave", () => {
  it.scopedLive("a failing tool is an error result the model reads, and an error in the tool events", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      yield* upstream.answerToolCalls([call("call_1", "calc__fail")])
      yield* upstream.answerText(["It broke."])
      const events = eventsOf(yield* text(yield* chat({ messages: [question], stream: true }, { headers: OPT_IN })))
      expect(toolEventsOf(events)).toEqual(["running calc__fail", "error calc__fail: the tool broke"])
      expect(streamedText(events)).toBe("It broke.")
      yield* upstream.nextRequest
      expect(sentConversation(API, (yield* upstream.nextRequest).body).at(-1)).toBe("result call_1 the tool broke")
    }).pipe(withMcp()))

  it.scopedLive("a tool that hangs past requestTimeoutMs is an error result, and its server is told to cancel", () =>
    Effect.gen(function*() {
      expect(yield* resultOf("web__hang")).toMatch(/timed out/i)
      expect(yield* (yield* WebTools).nextCancelled).toBe("hang")
    }).pipe(withMcp({ servers: (url) => ({ web: { url, requestTimeoutMs: 300 } }) })))

  it.scopedLive("a huge result is cut to maxResultChars", () =>
    Effect.gen(function*() {
      const result = yield* resultOf("calc__huge", { chars: 50_000 })
      expect(result.startsWith("x".repeat(1_000))).toBe(true)
      expect(result.length).toBeLessThan(1_200)
      expect(result).toContain("cut")
    }).pipe(withMcp({ servers: () => ({ calc: { ...STDIO_SERVER, maxResultChars: 1_000 } }) })))

  it.scopedLive("a server that dies mid-run is an error result; the next run starts it again", () =>
    Effect.gen(function*() {
      expect(yield* resultOf("calc__die")).toMatch(/failed/)
      expect(yield* resultOf("calc__add", { a: 20, b: 22 })).toBe("42")
    }).pipe(withMcp()))

  it.scopedLive("at maxSteps the answer ends with finish_reason length, and the log says why", () =>
    Effect.gen(function*() {
      const logs = yield* capturingLogs
      yield* Effect.gen(function*() {
        const upstream = yield* Upstream
        yield* upstream.answerToolCalls([call("call_1", "calc__add", { a: 1, b: 1 })], { text: ["Let me add. "] })
        yield* upstream.answerToolCalls([call("call_2", "calc__add", { a: 2, b: 2 })])
        const events = eventsOf(yield* text(yield* chat({ messages: [question], stream: true })))
        expect(finishReasons(events)).toEqual(["length"])
        expect(streamedText(events)).toBe("Let me add. ")
        expect(yield* upstream.requestCount).toBe(2)
        const warning = yield* Queue.take(logs.entries).pipe(
          Effect.repeat({ until: (entry) => String(entry.message[0]).includes("maxSteps") })
        )
        expect(warning.annotations).toMatchObject({ agent: "main", maxSteps: 2 })
      }).pipe(withMcp({ agent: { tools: { allow: ["*"] }, maxSteps: 2 }, logs: logs.layer }))
    }))

  it.scopedLive("a client that leaves mid-call abandons the tool call: its server is told to cancel", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      yield* upstream.answerToolCalls([call("call_1", "web__hang")])
      const answer = yield* post({ messages: [question], stream: true }, { headers: OPT_IN })
      yield* answer.until((event) => event.includes("\"running\""))
      answer.disconnect()
      expect(yield* (yield* WebTools).nextCancelled).toBe("hang")
    }).pipe(withMcp()))
})

describe("reloads and MCP servers", () => {
  it.scopedLive("a reload that adds a server offers its tools; one that removes a server takes them away and closes it", () =>
    Effect.gen(function*() {
      const reloads = yield* Queue.unbounded<ReturnType<typeof settingsOf>>()
      const logs = yield* capturingLogs
      const reloaded = Queue.take(logs.entries).pipe(
        Effect.repeat({ until: (entry) => entry.message[0] === "Config reloaded" })
      )
      yield* Effect.gen(function*() {
        const upstream = yield* Upstream
        const web = yield* WebTools
        const configWith = (servers: McpSetup["servers"]) =>
          settingsOf(mcpConfig(upstream.baseUrl, web.url, { ...(servers && { servers }) }))
        expect(yield* offered).toEqual([])
        yield* Queue.offer(reloads, configWith((url) => ({ web: { url } })))
        yield* reloaded
        expect(yield* offered).toContain("web__add")
        yield* Queue.offer(reloads, configWith(() => ({ calc: STDIO_SERVER })))
        yield* reloaded
        // The previous config's connection to `web` is closed: its session is ended.
        yield* web.nextEnded
        const now = yield* offered
        expect(now).toContain("calc__add")
        expect(now.some((name) => name.startsWith("web__"))).toBe(false)
      }).pipe(withMcp({ servers: () => ({}), logs: logs.layer, reloads: Stream.fromQueue(reloads) }))
    }))
})

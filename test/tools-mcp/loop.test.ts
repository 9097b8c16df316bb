/**
 * Agents that act: the model's calls of MCP server tools run on the gateway (a stdio server and a
 * streamable HTTP one, both real SDK servers), their results go back to the model, and the client
 * gets the final answer, with the tools' activity when it opts in, the whole loop in the session's
 * transcript, and the official `openai` SDK none the wiser.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { SESSION_KEY_HEADER } from "../../src/access/SessionKeys.js"
import { SessionStore } from "../../src/store/SessionStore.js"
import { completion, streamedCompletion } from "../kit/clients.js"
import { chat, json, text } from "../kit/http.js"
import { field } from "../kit/json.js"
import { capturingLogs, nextRequestLine } from "../kit/logs.js"
import { sentConversation } from "../kit/sent.js"
import { eventsOf } from "../kit/sse.js"
import { Upstream } from "../kit/upstream.js"
import { chunksOf, dataOf, finishReasons, streamedText } from "../kit/wire.js"
import { API, call, offeredTools, scriptBarrierPair, STDIO_SERVER, toolEventsOf, withMcp } from "./harness.js"

const question = { role: "user", content: "What is 2 + 3?" } as const
const OPT_IN = { "x-clawgate-tool-events": "1" }

/** The model calls `name` with a + b, then answers with text once it has the result. */
const scriptAdd = (name: string) =>
  Effect.gen(function*() {
    const upstream = yield* Upstream
    yield* upstream.answerToolCalls([call("call_1", name, { a: 2, b: 3 })])
    yield* upstream.answerText(["It is ", "5."])
    return upstream
  })

/** The provider's second request: the conversation the model got back with the tool's result. */
const secondConversation = (upstream: Upstream) =>
  Effect.gen(function*() {
    yield* upstream.nextRequest
    return sentConversation(API, (yield* upstream.nextRequest).body)
  })

describe("the agent loop with MCP server tools", () => {
  it.scopedLive("a streamed answer that needs a stdio server's tool runs it and streams only the final text", () =>
    Effect.gen(function*() {
      const upstream = yield* scriptAdd("calc__add")
      const response = yield* chat({
        messages: [question],
        stream: true,
        stream_options: { include_usage: true }
      })
      const events = eventsOf(yield* text(response))
      expect(streamedText(events)).toBe("It is 5.")
      expect(finishReasons(events)).toEqual(["stop"])
      expect(chunksOf(events).some((chunk) => chunk.choices[0]?.delta.tool_calls !== undefined)).toBe(false)
      expect(toolEventsOf(events)).toEqual([])
      // Usage sums both model calls (5 + 7 tokens each, the fake's).
      const usage = events.filter((event) => event.includes("\"usage\"")).map((event) => field(dataOf(event), "usage"))
      expect(usage).toEqual([{ prompt_tokens: 10, completion_tokens: 14, total_tokens: 24 }])
      expect(yield* secondConversation(upstream)).toEqual([
        "user: What is 2 + 3?",
        "call call_1 calc__add {\"a\":2,\"b\":3}",
        "result call_1 5"
      ])
    }).pipe(withMcp()))

  it.scopedLive("a plain answer that needs a streamable HTTP server's tool runs it and answers with the final text", () =>
    Effect.gen(function*() {
      const upstream = yield* scriptAdd("web__add")
      const answer = yield* completion({ messages: [question] })
      expect(answer.choices[0]?.message.content).toBe("It is 5.")
      expect(answer.choices[0]?.message.tool_calls).toBeUndefined()
      expect(answer.choices[0]?.finish_reason).toBe("stop")
      expect(answer.usage).toMatchObject({ prompt_tokens: 10, completion_tokens: 14 })
      expect((yield* secondConversation(upstream)).at(-1)).toBe("result call_1 5")
    }).pipe(withMcp({
      servers: (url) => ({ web: { url } }),
      agent: { tools: { allow: ["web.*"] } }
    })))

  it.scopedLive("the model's parallel calls run at once", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      yield* scriptBarrierPair
      const answer = yield* completion({ messages: [question] })
      expect(answer.choices[0]?.message.content).toBe("Both.")
      expect((yield* secondConversation(upstream)).slice(-2)).toEqual(["result call_a A", "result call_b B"])
    }).pipe(withMcp({
      servers: () => ({ calc: { ...STDIO_SERVER, requestTimeoutMs: 5_000 } })
    })))

  it.scopedLive("with the opt-in, the stream carries each tool's activity as delta.clawgate; the answer's message lists them", () =>
    Effect.gen(function*() {
      yield* scriptAdd("calc__add")
      const events = eventsOf(yield* text(yield* chat({ messages: [question], stream: true }, { headers: OPT_IN })))
      expect(toolEventsOf(events)).toEqual(["running calc__add", "done calc__add: 5"])
      expect(streamedText(events)).toBe("It is 5.")

      yield* scriptAdd("calc__add")
      const body = yield* json(yield* chat({ messages: [question] }, { headers: OPT_IN }))
      expect(field(body, "choices", 0, "message", "clawgate", "tools")).toEqual([
        { id: "call_1", name: "calc__add", server: "calc", arguments: "{\"a\":2,\"b\":3}", status: "done", result: "5" }
      ])
    }).pipe(withMcp()))

  it.scopedLive("without the agent's toolEvents, the opt-in header shows nothing", () =>
    Effect.gen(function*() {
      yield* scriptAdd("calc__add")
      const events = eventsOf(yield* text(yield* chat({ messages: [question], stream: true }, { headers: OPT_IN })))
      expect(streamedText(events)).toBe("It is 5.")
      expect(toolEventsOf(events)).toEqual([])
      yield* scriptAdd("calc__add")
      const body = yield* json(yield* chat({ messages: [question] }, { headers: OPT_IN }))
      expect(field(body, "choices", 0, "message", "clawgate")).toBeUndefined()
    }).pipe(withMcp({ agent: { tools: { allow: ["*"] } } })))

  it.scopedLive("the session's transcript holds the whole loop; a loop that fails stores nothing", () =>
    Effect.gen(function*() {
      const upstream = yield* scriptAdd("calc__add")
      const store = yield* SessionStore
      const response = yield* chat({ messages: [question] }, { headers: { [SESSION_KEY_HEADER]: "ada" } })
      expect(response.status).toBe(200)
      const transcript = yield* store.load("ada", 50)
      expect(transcript.map((message) => [message.role, message.content, message.toolCalls?.map((c) => c.name)]))
        .toEqual([
          ["user", "What is 2 + 3?", undefined],
          ["assistant", "", ["calc__add"]],
          ["tool", "5", undefined],
          ["assistant", "It is 5.", undefined]
        ])

      // The next model call of the loop fails: nothing of the turn is kept.
      yield* upstream.answerToolCalls([call("call_2", "calc__add", { a: 1, b: 1 })])
      yield* upstream.answerStatus(400, { message: "bad request" })
      const failed = yield* chat({ messages: [question] }, { headers: { [SESSION_KEY_HEADER]: "bob" } })
      expect(failed.status).toBe(502)
      expect(yield* store.load("bob", 50)).toEqual([])
    }).pipe(withMcp()))

  it.scopedLive("client and server tools in one request: the server's run, the client's call comes back to the client", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      yield* upstream.answerToolCalls([call("call_1", "calc__add", { a: 2, b: 3 })])
      yield* upstream.answerToolCalls([call("call_2", "get_weather", { city: "Paris" })])
      const answer = yield* completion({
        messages: [question],
        tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }]
      })
      expect(answer.choices[0]?.finish_reason).toBe("tool_calls")
      expect(answer.choices[0]?.message.tool_calls?.map((c) => c.type === "function" ? c.function.name : ""))
        .toEqual(["get_weather"])
      const first = yield* upstream.nextRequest
      expect(offeredTools(first.body)).toContain("get_weather")
      expect(offeredTools(first.body)).toContain("calc__add")
      expect(sentConversation(API, (yield* upstream.nextRequest).body).at(-1)).toBe("result call_1 5")
    }).pipe(withMcp()))

  it.scopedLive("a step that calls a server tool and a client tool at once runs the server's, then gives the client its call", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      const weather = { type: "function", function: { name: "get_weather", parameters: { type: "object" } } } as const
      for (const [stream, user] of [[true, "ada"], [false, "bob"]] as const) {
        yield* upstream.answerToolCalls([
          call("call_1", "calc__add", { a: 2, b: 3 }),
          call("call_2", "get_weather", { city: "Paris" })
        ])
        const params = { messages: [question], tools: [weather], user }
        const asked = stream ? yield* streamedCompletion(params) : yield* completion(params)
        expect(asked.choices[0]?.finish_reason).toBe("tool_calls")
        const toolCalls = asked.choices[0]?.message.tool_calls ?? []
        expect(toolCalls.map((c) => c.type === "function" ? c.function.name : "")).toEqual(["get_weather"])
        yield* upstream.nextRequest

        // The client answers its call: the model gets both calls, each with its result.
        yield* upstream.answerText(["Sunny, and 5."])
        const answer = yield* completion({
          messages: [
            question,
            { role: "assistant", content: null, tool_calls: toolCalls },
            { role: "tool", tool_call_id: toolCalls[0]!.id, content: "sunny" }
          ],
          tools: [weather],
          user
        })
        expect(answer.choices[0]?.message.content).toBe("Sunny, and 5.")
        expect(sentConversation(API, (yield* upstream.nextRequest).body)).toEqual([
          "user: What is 2 + 3?",
          "call call_1 calc__add {\"a\":2,\"b\":3}",
          "result call_1 5",
          "call call_2 get_weather {\"city\":\"Paris\"}",
          "result call_2 sunny"
        ])
      }
    }).pipe(withMcp()))

  it.scopedLive("the official openai SDK streams an answer that needed a tool, unchanged", () =>
    Effect.gen(function*() {
      yield* scriptAdd("web__add")
      const answer = yield* streamedCompletion({ messages: [question] })
      expect(answer.choices[0]?.message.content).toBe("It is 5.")
      expect(answer.choices[0]?.finish_reason).toBe("stop")
    }).pipe(withMcp()))
})

describe("operations of the loop", () => {
  it.scopedLive("the request's log line lists the tools called, not their arguments or results", () =>
    Effect.gen(function*() {
      const logs = yield* capturingLogs
      yield* Effect.gen(function*() {
        yield* scriptAdd("calc__add")
        yield* completion({ messages: [question] })
        const line = yield* nextRequestLine(logs.entries)
        expect(line.annotations.tools).toBe("calc__add")
        expect(line.text).not.toContain("\"a\":2")
      }).pipe(withMcp({ logs: logs.layer }))
    }))
})

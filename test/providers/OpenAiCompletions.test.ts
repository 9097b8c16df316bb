/**
 * The `openai-completions` provider against the Chat Completions fake: the conformance suite every
 * provider passes, and what is its own: the request (its path, a stream with usage, the prompt as
 * OpenAI messages, the token cap's field), the finish reasons, a stream without usage or kept open
 * after `[DONE]`, and the faults of a server that is not quite OpenAI (a host that does not
 * resolve, an answer of the wrong shape, a stream cut off or ending without a finish).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { ProviderEntry } from "../../src/config/ConfigFile.js"
import { maxTokensFieldOf } from "../../src/providers/openai-completions/Request.js"
import * as Completions from "../fakes/ChatCompletionsServer.js"
import { ChatCompletionsServer } from "../fakes/ChatCompletionsServer.js"
import {
  finishesOf,
  gatewayError,
  generate,
  modelAt,
  modelRequest,
  providerConformance,
  streamEvents,
  textDeltas,
  usageOf
} from "../kit/providerConformance.js"

providerConformance("openai-completions")

type EntryInput = Partial<typeof ProviderEntry.Encoded>

/** A model aimed at the fake server. */
const makeModel = (entry: EntryInput = {}) =>
  Effect.flatMap(ChatCompletionsServer, (server) => modelAt("openai-completions", server.baseUrl, entry))

const withServer = Effect.provide(Layer.merge(ChatCompletionsServer.layer, NodeHttpClient.layerUndici))

describe("openai-completions provider", () => {
  describe("what reaches the server", () => {
    it.scopedLive("a stream with usage asked for, at <baseUrl>/chat/completions, as JSON", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* modelAt("openai-completions", `${server.baseUrl}/`)
        // Nothing scripted: the fake server echoes the last user message.
        expect(textDeltas(yield* streamEvents(model)).join("")).toBe("Say hello")
        const request = yield* server.nextRequest
        expect(request.method).toBe("POST")
        expect(request.path).toBe("/v1/chat/completions")
        expect(request.headers["content-type"]).toContain("application/json")
        expect(request.body).toMatchObject({
          stream: true,
          stream_options: { include_usage: true },
          messages: [{ role: "user", content: "Say hello" }]
        })
      }).pipe(withServer))

    it.scopedLive("maxTokensField max_completion_tokens: the token cap goes out under that name only", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel({ maxTokensField: "max_completion_tokens" })
        yield* streamEvents(model, { maxTokens: 64 })
        const streamed = yield* server.nextRequest
        expect(streamed.body).toMatchObject({ max_completion_tokens: 64 })
        expect(streamed.body).not.toHaveProperty("max_tokens")
        yield* generate(model, { maxTokens: 8 })
        expect((yield* server.nextRequest).body).toMatchObject({ max_completion_tokens: 8 })
      }).pipe(withServer))

    it("the token cap's field by default: max_completion_tokens for OpenAI's own API, max_tokens elsewhere", () => {
      const fieldFor = (input: EntryInput) =>
        maxTokensFieldOf(Schema.decodeUnknownSync(ProviderEntry)({ api: "openai-completions", ...input }))
      expect(fieldFor({})).toBe("max_completion_tokens")
      expect(fieldFor({ baseUrl: "https://api.openai.com/v1" })).toBe("max_completion_tokens")
      expect(fieldFor({ baseUrl: "http://127.0.0.1:11434/v1" })).toBe("max_tokens")
      expect(fieldFor({ baseUrl: "https://openrouter.ai/api/v1" })).toBe("max_tokens")
      expect(fieldFor({ baseUrl: "https://api.openai.com/v1", maxTokensField: "max_tokens" })).toBe("max_tokens")
      expect(fieldFor({ baseUrl: "not a url" })).toBe("max_tokens")
    })

    it.scopedLive("the conversation as OpenAI messages: system, user, assistant, tool call and result, an image as a data URL", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        const png = Buffer.from([137, 80, 78, 71]).toString("base64")
        yield* model.complete({
          ...modelRequest(),
          system: "Be brief.",
          messages: [
            { role: "user", content: "Hi" },
            { role: "assistant", content: "Hello!" },
            {
              role: "assistant",
              content: "",
              toolCalls: [{ id: "call_1", name: "lookup", arguments: "{\"q\":\"x\"}" }]
            },
            { role: "tool", toolCallId: "call_1", name: "lookup", content: "{\"found\":1}" },
            {
              role: "user",
              content: "What is this?\n[image]",
              parts: [
                { type: "text", text: "What is this?" },
                { type: "image", image: { mediaType: "image/png", base64: png, detail: "low" } }
              ]
            }
          ]
        })
        expect((yield* server.nextRequest).body).toMatchObject({
          messages: [
            { role: "system", content: "Be brief." },
            { role: "user", content: "Hi" },
            { role: "assistant", content: "Hello!" },
            {
              role: "assistant",
              content: null,
              tool_calls: [{ id: "call_1", type: "function", function: { name: "lookup", arguments: "{\"q\":\"x\"}" } }]
            },
            { role: "tool", tool_call_id: "call_1", content: "{\"found\":1}" },
            {
              role: "user",
              content: [
                { type: "text", text: "What is this?" },
                { type: "image_url", image_url: { url: `data:image/png;base64,${png}`, detail: "low" } }
              ]
            }
          ]
        })
      }).pipe(withServer))
  })

  describe("what it makes of the answers", () => {
    it.scopedLive("maps the finish reasons: length, tool_calls, content_filter", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        const cases = [["length", "length"], ["tool_calls", "tool_calls"], ["content_filter", "content_filter"]]
        for (const [wire, expected] of cases) {
          yield* server.reply(Completions.text(["cut"], { finishReason: wire ?? "" }))
          expect(finishesOf(yield* streamEvents(model))).toEqual([expected])
        }
      }).pipe(withServer))

    it.scopedLive("a stream without a usage chunk finishes with no usage", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        yield* server.reply(Completions.text(["ok"], { usage: null }))
        const events = yield* streamEvents(yield* makeModel())
        expect(textDeltas(events)).toEqual(["ok"])
        expect(finishesOf(events)).toEqual(["stop"])
        expect(usageOf(events)).toEqual([])
      }).pipe(withServer))

    it.scopedLive("[DONE] ends the answer even when the server keeps the response open", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        yield* server.reply(Completions.raw([
          `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "done" }, finish_reason: "stop" }] })}\n\n`,
          "data: [DONE]\n\n"
        ], { keepOpen: true }))
        const events = yield* streamEvents(yield* makeModel())
        expect(textDeltas(events)).toEqual(["done"])
        expect(finishesOf(events)).toEqual(["stop"])
      }).pipe(withServer))

    it.scopedLive("an event of 300 KB is read whole, however its pieces arrive", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const content = "x".repeat(300_000)
        const event = `data: ${
          JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: "stop" }] })
        }\n\n`
        // cut in three, each piece written in a turn of its own
        yield* server.reply(
          Completions.raw([
            event.slice(0, 100_000),
            event.slice(100_000, 200_000),
            event.slice(200_000),
            "data: [DONE]\n\n"
          ])
        )
        expect(textDeltas(yield* streamEvents(yield* makeModel())).join("")).toBe(content)
      }).pipe(withServer))
  })

  describe("faults of a server that is not quite OpenAI", () => {
    it.scopedLive("a host that does not resolve is ProviderUnreachable", () =>
      Effect.gen(function*() {
        const model = yield* modelAt("openai-completions", "http://clawgate-no-such-host.invalid/v1")
        expect((yield* gatewayError(streamEvents(model)))._tag).toBe("ProviderUnreachable")
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    it.scopedLive("an answer of the wrong shape is a provider failure", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        yield* server.reply(
          Completions.raw([JSON.stringify({ nope: true })], { headers: { "content-type": "application/json" } })
        )
        expect((yield* gatewayError(generate(yield* makeModel())))._tag).toBe("ProviderFailed")
      }).pipe(withServer))

    it.scopedLive("a stream cut off mid-answer fails instead of finishing", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        yield* server.reply(Completions.cutAfter(["half an ans"]))
        expect((yield* gatewayError(streamEvents(yield* makeModel())))._tag).toBe("ProviderFailed")
      }).pipe(withServer))

    it.scopedLive("an event over 1 MiB is a provider failure, whole or in pieces", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const event = `data: ${
          JSON.stringify({ choices: [{ index: 0, delta: { content: "x".repeat(1_100_000) }, finish_reason: "stop" }] })
        }\n\n`
        for (const pieces of [[event], [event.slice(0, 500_000), event.slice(500_000)]]) {
          yield* server.reply(Completions.raw([...pieces, "data: [DONE]\n\n"]))
          expect((yield* gatewayError(streamEvents(yield* makeModel())))._tag).toBe("ProviderFailed")
        }
      }).pipe(withServer))

    it.scopedLive("a stream that ends without a finish reason or [DONE] fails instead of finishing", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        yield* server.reply(Completions.raw([
          `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "half" }, finish_reason: null }] })}\n\n`
        ]))
        expect((yield* gatewayError(streamEvents(yield* makeModel())))._tag).toBe("ProviderFailed")
      }).pipe(withServer))
  })
})

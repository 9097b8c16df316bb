/**
 * The `openai-completions` provider against a fake Chat Completions server on loopback: what it
 * sends (model, messages, sampling, headers), what it makes of JSON and SSE answers (text, usage,
 * finish reasons), each fault as the gateway's provider error, and the upstream request closed as
 * soon as the consumer goes away.
 */
import type * as AiError from "@effect/ai/AiError"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { ProviderEntry } from "../../src/config/ConfigFile.js"
import type { AgentError } from "../../src/domain/Errors.js"
import type { Sampling } from "../../src/domain/Run.js"
import * as OpenAiCompletions from "../../src/providers/openai-completions/Model.js"
import { maxTokensFieldOf } from "../../src/providers/openai-completions/Request.js"
import type { Model } from "../../src/providers/Provider.js"
import { fromAiError } from "../../src/providers/ProviderErrors.js"
import { Answer, ChatCompletionsServer, closedPort } from "../fakes/ChatCompletionsServer.js"

const API_KEY = "sk-test-secret-key-123"

type EntryInput = typeof ProviderEntry.Encoded

const providerEntry = (input: Partial<EntryInput>) =>
  Schema.decodeUnknownSync(ProviderEntry)({ api: "openai-completions", ...input })

/** The provider `local`, model `gpt-test`, aimed at the fake server (or at `baseUrl`). */
const makeModel = (input: Partial<EntryInput> = {}) =>
  Effect.gen(function*() {
    const server = yield* ChatCompletionsServer
    return yield* OpenAiCompletions.make({
      provider: "local",
      model: "gpt-test",
      entry: providerEntry({ baseUrl: server.baseUrl, apiKey: API_KEY, ...input })
    })
  })

const streamParts = (model: Model, prompt: Prompt.RawInput, sampling: Sampling = {}) =>
  Stream.runCollect(model.languageModel.streamText({ prompt })).pipe(
    Effect.map(Chunk.toReadonlyArray),
    Effect.provide(model.settings(sampling))
  )

const generate = (model: Model, prompt: Prompt.RawInput, sampling: Sampling = {}) =>
  model.languageModel.generateText({ prompt }).pipe(Effect.provide(model.settings(sampling)))

const textOf = (parts: ReadonlyArray<Response.AnyPart>) =>
  parts.flatMap((part) => (part.type === "text-delta" ? [part.delta] : [])).join("")

const finishesOf = (parts: ReadonlyArray<Response.AnyPart>) => parts.filter((part) => part.type === "finish")

/** The gateway error for a failed call, as the runner would map it. */
const gatewayError = <A, R>(effect: Effect.Effect<A, AiError.AiError, R>): Effect.Effect<AgentError, A, R> =>
  Effect.flip(effect).pipe(Effect.map((error) => fromAiError("local", error, Date.now())))

const withServer = (client: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndici) =>
  Effect.provide(Layer.merge(ChatCompletionsServer.layer, client))

describe("openai-completions provider", () => {
  describe("streaming", () => {
    it.scopedLive("streams the text pieces and one finish part with the provider's usage", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        yield* server.answer(
          Answer.reply(["Hel", "lo", " there"], { usage: { promptTokens: 11, completionTokens: 3 } })
        )
        const parts = yield* streamParts(model, "hi")
        expect(parts.filter((part) => part.type === "text-delta").map((part) => part.delta)).toEqual([
          "Hel",
          "lo",
          " there"
        ])
        const finishes = finishesOf(parts)
        expect(finishes).toHaveLength(1)
        expect(finishes[0]?.reason).toBe("stop")
        expect(finishes[0]?.usage).toMatchObject({ inputTokens: 11, outputTokens: 3, totalTokens: 14 })
        expect(parts.at(-1)?.type).toBe("finish")
      }).pipe(withServer()))

    it.scopedLive("asks for a stream with usage, at <baseUrl>/chat/completions, with the key and headers", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel({
          baseUrl: `${server.baseUrl}/`,
          headers: { "x-title": "clawgate-test", "http-referer": "https://example.test" }
        })
        // Nothing scripted: the fake server echoes the last user message.
        const parts = yield* streamParts(model, "hi there")
        expect(textOf(parts)).toBe("hi there")
        const request = yield* server.nextRequest
        expect(request.method).toBe("POST")
        expect(request.path).toBe("/v1/chat/completions")
        expect(request.headers["authorization"]).toBe(`Bearer ${API_KEY}`)
        expect(request.headers["x-title"]).toBe("clawgate-test")
        expect(request.headers["http-referer"]).toBe("https://example.test")
        expect(request.headers["content-type"]).toContain("application/json")
        expect(request.body).toMatchObject({
          model: "gpt-test",
          stream: true,
          stream_options: { include_usage: true },
          messages: [{ role: "user", content: "hi there" }]
        })
      }).pipe(withServer()))

    it.scopedLive("maps the finish reasons: length, tool_calls, content_filter", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        const cases = [["length", "length"], ["tool_calls", "tool-calls"], ["content_filter", "content-filter"]]
        for (const [wire, expected] of cases) {
          yield* server.answer(Answer.reply(["cut"], { finishReason: wire ?? "" }))
          const parts = yield* streamParts(model, "hi")
          expect(finishesOf(parts).map((part) => part.reason)).toEqual([expected])
        }
      }).pipe(withServer()))

    it.scopedLive("a stream without a usage chunk finishes with unknown token counts", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        yield* server.answer(Answer.reply(["ok"], { usage: null }))
        const parts = yield* streamParts(model, "hi")
        expect(textOf(parts)).toBe("ok")
        expect(finishesOf(parts)[0]?.usage).toMatchObject({
          inputTokens: undefined,
          outputTokens: undefined,
          totalTokens: undefined
        })
      }).pipe(withServer()))

    it.scopedLive("[DONE] ends the answer even when the server keeps the response open", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        yield* server.answer(Answer.raw([
          `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "done" }, finish_reason: "stop" }] })}\n\n`,
          "data: [DONE]\n\n"
        ], { keepOpen: true }))
        const parts = yield* streamParts(model, "hi")
        expect(textOf(parts)).toBe("done")
        expect(finishesOf(parts).map((part) => part.reason)).toEqual(["stop"])
      }).pipe(withServer()))
  })

  describe("JSON", () => {
    it.scopedLive("answers with the text, the finish reason and the usage", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        yield* server.answer(Answer.reply(["Hello", " world"], { usage: { promptTokens: 4, completionTokens: 2 } }))
        const response = yield* generate(model, "hi")
        expect(response.text).toBe("Hello world")
        expect(response.finishReason).toBe("stop")
        expect(response.usage).toMatchObject({ inputTokens: 4, outputTokens: 2, totalTokens: 6 })
        const request = yield* server.nextRequest
        expect(request.body).toMatchObject({ model: "gpt-test", messages: [{ role: "user", content: "hi" }] })
        expect(request.body).not.toHaveProperty("stream")
      }).pipe(withServer()))

    it.scopedLive("reports length when the model stopped on its token limit", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        yield* server.answer(Answer.reply("Hello", { finishReason: "length" }))
        const response = yield* generate(model, "hi", { maxTokens: 1 })
        expect(response.finishReason).toBe("length")
        expect(response.text).toBe("Hello")
      }).pipe(withServer()))

    it.scopedLive("an answer of the wrong shape is a provider failure", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        yield* server.answer(
          Answer.raw([JSON.stringify({ nope: true })], { headers: { "content-type": "application/json" } })
        )
        const error = yield* gatewayError(generate(model, "hi"))
        expect(error._tag).toBe("ProviderFailed")
      }).pipe(withServer()))
  })

  describe("what reaches the server", () => {
    it.scopedLive("the run's sampling, and only the fields it set", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        yield* streamParts(model, "hi", { temperature: 0.2, topP: 0.9, maxTokens: 64, stop: ["END", "STOP"], seed: 42 })
        const streamed = yield* server.nextRequest
        expect(streamed.body).toMatchObject({
          temperature: 0.2,
          top_p: 0.9,
          max_tokens: 64,
          stop: ["END", "STOP"],
          seed: 42
        })

        yield* generate(model, "hi", { temperature: 0 })
        const plain = yield* server.nextRequest
        expect(plain.body).toMatchObject({ temperature: 0 })
        for (const absent of ["top_p", "max_tokens", "stop", "seed"]) {
          expect(plain.body).not.toHaveProperty(absent)
        }
      }).pipe(withServer()))

    it.scopedLive("maxTokensField max_completion_tokens: the token cap goes out under that name only", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel({ maxTokensField: "max_completion_tokens" })
        yield* streamParts(model, "hi", { maxTokens: 64 })
        const streamed = yield* server.nextRequest
        expect(streamed.body).toMatchObject({ max_completion_tokens: 64 })
        expect(streamed.body).not.toHaveProperty("max_tokens")
        yield* generate(model, "hi", { maxTokens: 8 })
        expect((yield* server.nextRequest).body).toMatchObject({ max_completion_tokens: 8 })
      }).pipe(withServer()))

    it("the token cap's field by default: max_completion_tokens for OpenAI's own API, max_tokens elsewhere", () => {
      const fieldFor = (input: Partial<EntryInput>) => maxTokensFieldOf(providerEntry(input))
      expect(fieldFor({})).toBe("max_completion_tokens")
      expect(fieldFor({ baseUrl: "https://api.openai.com/v1" })).toBe("max_completion_tokens")
      expect(fieldFor({ baseUrl: "http://127.0.0.1:11434/v1" })).toBe("max_tokens")
      expect(fieldFor({ baseUrl: "https://openrouter.ai/api/v1" })).toBe("max_tokens")
      expect(fieldFor({ baseUrl: "https://api.openai.com/v1", maxTokensField: "max_tokens" })).toBe("max_tokens")
      expect(fieldFor({ baseUrl: "not a url" })).toBe("max_tokens")
    })

    it.scopedLive("the prompt as OpenAI messages: system, user, assistant, tool, and an image as a data URL", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        const png = new Uint8Array([137, 80, 78, 71])
        yield* generate(model, [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello!" },
          {
            role: "assistant",
            content: [{ type: "tool-call", id: "call_1", name: "lookup", params: { q: "x" }, providerExecuted: false }]
          },
          {
            role: "tool",
            content: [{
              type: "tool-result",
              id: "call_1",
              name: "lookup",
              isFailure: false,
              result: { found: 1 },
              providerExecuted: false
            }]
          },
          {
            role: "user",
            content: [
              { type: "text", text: "What is this?" },
              { type: "file", mediaType: "image/png", data: png },
              { type: "file", mediaType: "application/pdf", fileName: "a.pdf", data: "JVBERi0=" }
            ]
          }
        ])
        const request = yield* server.nextRequest
        expect(request.body).toMatchObject({
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
                {
                  type: "image_url",
                  image_url: { url: `data:image/png;base64,${Buffer.from(png).toString("base64")}` }
                },
                { type: "file", file: { filename: "a.pdf", file_data: "data:application/pdf;base64,JVBERi0=" } }
              ]
            }
          ]
        })
      }).pipe(withServer()))

    it.scopedLive("no Authorization header without an apiKey", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* OpenAiCompletions.make({
          provider: "ollama",
          model: "llama3",
          entry: providerEntry({ baseUrl: server.baseUrl })
        })
        yield* generate(model, "hi")
        const request = yield* server.nextRequest
        expect(request.headers).not.toHaveProperty("authorization")
        expect(request.body).toMatchObject({ model: "llama3" })
      }).pipe(withServer()))
  })

  describe("faults", () => {
    it.scopedLive("connection refused is ProviderUnreachable, streamed or not", () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const model = yield* makeModel({ baseUrl: `http://127.0.0.1:${port}/v1` })
        const streamed = yield* gatewayError(streamParts(model, "hi"))
        const plain = yield* gatewayError(generate(model, "hi"))
        expect(streamed._tag).toBe("ProviderUnreachable")
        expect(plain._tag).toBe("ProviderUnreachable")
      }).pipe(withServer()))

    it.scopedLive("a host that does not resolve is ProviderUnreachable", () =>
      Effect.gen(function*() {
        const model = yield* makeModel({ baseUrl: "http://clawgate-no-such-host.invalid/v1" })
        const error = yield* gatewayError(streamParts(model, "hi"))
        expect(error._tag).toBe("ProviderUnreachable")
      }).pipe(withServer()))

    it.scopedLive("401 and 403 are ProviderAuthRejected", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        yield* server.answer(Answer.status(401), Answer.status(403), Answer.status(403), Answer.status(401))
        const errors = [
          yield* gatewayError(streamParts(model, "hi")),
          yield* gatewayError(streamParts(model, "hi")),
          yield* gatewayError(generate(model, "hi")),
          yield* gatewayError(generate(model, "hi"))
        ]
        expect(errors.map((error) => error._tag)).toEqual(Array(4).fill("ProviderAuthRejected"))
      }).pipe(withServer()))

    it.scopedLive("the key and the configured headers appear in no error, whatever the fault", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const port = yield* closedPort
        const secrets = { headers: { "x-secret-header": "hdr-secret-456" } }
        const live = yield* makeModel(secrets)
        const unreachable = yield* makeModel({ ...secrets, baseUrl: `http://127.0.0.1:${port}/v1` })
        const faults = [
          { model: live, answer: Answer.status(401) },
          { model: live, answer: Answer.status(500) },
          { model: live, answer: Answer.cut(["half"]) },
          { model: live, answer: Answer.inBandError(["half"], { message: "boom" }) },
          { model: unreachable, answer: undefined }
        ]
        for (const fault of faults) {
          // One answer for the streamed call, one for the plain one.
          if (fault.answer !== undefined) yield* server.answer(fault.answer, fault.answer)
          for (
            const call of [Effect.asVoid(streamParts(fault.model, "hi")), Effect.asVoid(generate(fault.model, "hi"))]
          ) {
            const failure = yield* Effect.flip(call)
            const error = fromAiError("local", failure, Date.now())
            const texts = [
              failure.message,
              JSON.stringify(failure),
              Inspectable.format(failure),
              Inspectable.format(error),
              Cause.pretty(Cause.fail(error)),
              "detail" in error ? error.detail : ""
            ]
            for (const text of texts) {
              expect(text).not.toContain(API_KEY)
              expect(text).not.toContain("hdr-secret-456")
            }
          }
        }
      }).pipe(withServer()))

    it.scopedLive("429 is ProviderRateLimited with the provider's Retry-After", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        yield* server.answer(
          Answer.status(429, { headers: { "retry-after": "17" } }),
          Answer.status(429, { headers: { "retry-after": "3" } })
        )
        const streamed = yield* gatewayError(streamParts(model, "hi"))
        const plain = yield* gatewayError(generate(model, "hi"))
        expect(streamed).toMatchObject({ _tag: "ProviderRateLimited", provider: "local", retryAfterSeconds: 17 })
        expect(plain).toMatchObject({ _tag: "ProviderRateLimited", provider: "local", retryAfterSeconds: 3 })
      }).pipe(withServer()))

    it.scopedLive("5xx is ProviderFailed with the status, the provider's text kept for the log", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        yield* server.answer(
          Answer.status(503, { body: { error: { message: "model overloaded" } } }),
          Answer.status(500)
        )
        const streamed = yield* gatewayError(streamParts(model, "hi"))
        const plain = yield* gatewayError(generate(model, "hi"))
        expect(streamed).toMatchObject({ _tag: "ProviderFailed", status: 503 })
        expect(streamed._tag === "ProviderFailed" && streamed.detail).toContain("model overloaded")
        expect(plain).toMatchObject({ _tag: "ProviderFailed", status: 500 })
      }).pipe(withServer()))

    it.scopedLive("an in-band error fails the stream after the pieces sent before it", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        yield* server.answer(Answer.inBandError(["partial"], { message: "upstream exploded", type: "server_error" }))
        const seen: Array<string> = []
        const error = yield* gatewayError(
          model.languageModel.streamText({ prompt: "hi" }).pipe(
            Stream.runForEach((part) => Effect.sync(() => part.type === "text-delta" && seen.push(part.delta))),
            Effect.provide(model.settings({}))
          )
        )
        expect(seen).toEqual(["partial"])
        expect(error._tag).toBe("ProviderFailed")
        expect(error._tag === "ProviderFailed" && error.detail).toContain("upstream exploded")
      }).pipe(withServer()))

    it.scopedLive("a stream cut off mid-answer fails instead of finishing", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        yield* server.answer(Answer.cut(["half an ans"]))
        const error = yield* gatewayError(streamParts(model, "hi"))
        expect(error._tag).toBe("ProviderFailed")
      }).pipe(withServer()))

    it.scopedLive("a stream that ends without a finish reason or [DONE] fails instead of finishing", () =>
      Effect.gen(function*() {
        const server = yield* ChatCompletionsServer
        const model = yield* makeModel()
        yield* server.answer(Answer.raw([
          `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "half" }, finish_reason: null }] })}\n\n`
        ]))
        const error = yield* gatewayError(streamParts(model, "hi"))
        expect(error._tag).toBe("ProviderFailed")
      }).pipe(withServer()))
  })

  describe("interruption", () => {
    const clients = [["undici", NodeHttpClient.layerUndici], ["node:http", NodeHttpClient.layer]] as const

    for (const [name, client] of clients) {
      it.scopedLive(`closes the upstream request within a second of the consumer leaving mid-stream (${name})`, () =>
        Effect.gen(function*() {
          const server = yield* ChatCompletionsServer
          const model = yield* makeModel()
          yield* server.answer(Answer.hang(["first"]))
          const firstDelta = yield* Deferred.make<string>()
          const consumer = yield* model.languageModel.streamText({ prompt: "hi" }).pipe(
            Stream.runForEach((part) =>
              part.type === "text-delta" ? Deferred.succeed(firstDelta, part.delta) : Effect.void
            ),
            Effect.provide(model.settings({})),
            Effect.fork
          )
          // The first piece arrives while the upstream answer is still open.
          expect(yield* Deferred.await(firstDelta)).toBe("first")
          const request = yield* server.nextRequest
          yield* Fiber.interruptFork(consumer)
          yield* request.closedByClient.pipe(Effect.timeout("1 second"))
          expect((yield* Fiber.await(consumer))._tag).toBe("Failure")
        }).pipe(withServer(client)))

      it.scopedLive(`closes the upstream request within a second of the consumer leaving before any token (${name})`, () =>
        Effect.gen(function*() {
          const server = yield* ChatCompletionsServer
          const model = yield* makeModel()
          yield* server.answer(Answer.hang(), Answer.hang())
          const streaming = yield* streamParts(model, "hi").pipe(Effect.fork)
          const streamed = yield* server.nextRequest
          yield* Fiber.interruptFork(streaming)
          yield* streamed.closedByClient.pipe(Effect.timeout("1 second"))

          const plain = yield* generate(model, "hi").pipe(Effect.fork)
          const generated = yield* server.nextRequest
          yield* Fiber.interruptFork(plain)
          yield* generated.closedByClient.pipe(Effect.timeout("1 second"))
        }).pipe(withServer(client)))
    }
  })
})

import * as Generated from "@effect/ai-openai/Generated"
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import type * as AiError from "@effect/ai/AiError"
import type * as Response from "@effect/ai/Response"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Net from "node:net"
import type { ProviderEntry } from "../../src/config/ConfigFile.js"
import type { Sampling } from "../../src/domain/Run.js"
import * as Responses from "../../src/providers/OpenAiResponses.js"
import type { Model } from "../../src/providers/Provider.js"
import { fromAiError } from "../../src/providers/ProviderErrors.js"
import * as Fake from "../fakes/ResponsesServer.js"
import { ResponsesServer } from "../fakes/ResponsesServer.js"

const API_KEY = "sk-openai-test-key"

const entryFor = (baseUrl: string, extra: Partial<ProviderEntry> = {}): ProviderEntry => ({
  api: "openai-responses",
  baseUrl,
  apiKey: Redacted.make(API_KEY),
  retry: { attempts: 0, initialDelayMs: 1, maxDelayMs: 1 },
  ...extra
})

const modelAt = (baseUrl: string, extra: Partial<ProviderEntry> = {}) =>
  Responses.make({ provider: "openai", entry: entryFor(baseUrl, extra), model: "gpt-test-1" })

const modelOf = (extra: Partial<ProviderEntry> = {}) =>
  Effect.flatMap(ResponsesServer, (server) => modelAt(server.baseUrl, extra))

const streamParts = (model: Model, sampling: Sampling = {}, prompt = "Say hello") =>
  model.languageModel.streamText({ prompt }).pipe(
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray),
    Effect.provide(model.settings(sampling))
  )

const generate = (model: Model, sampling: Sampling = {}, prompt = "Say hello") =>
  model.languageModel.generateText({ prompt }).pipe(Effect.provide(model.settings(sampling)))

const textOf = (parts: ReadonlyArray<Response.AnyPart>) =>
  parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : [])

const finishOf = (parts: ReadonlyArray<Response.AnyPart>) => {
  const finish = parts.find((part): part is Response.FinishPart => part.type === "finish")
  if (finish === undefined) throw new Error("no finish part")
  return finish
}

const withServer = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.provide(Layer.merge(ResponsesServer.layer, NodeHttpClient.layer)))

/** A loopback URL where nothing listens. */
const refusedUrl = Effect.async<string>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(`http://127.0.0.1:${port}/v1`)))
  })
})

/** Runs `effect`, expecting an AiError, and maps it as the gateway does. */
const gatewayError = <A, R>(effect: Effect.Effect<A, AiError.AiError, R>) =>
  effect.pipe(
    Effect.flip,
    Effect.map((error) => fromAiError("openai", error, Date.now()))
  )

describe("openai-responses provider", () => {
  it("the fake's events and responses have the shapes the library decodes", () => {
    // The library skips stream events it cannot decode: a wrong shape in the fake would go unseen.
    for (const incomplete of [false, true]) {
      for (const event of Fake.textEvents(["a", "b"], "gpt-x", { incomplete })) {
        expect(Schema.decodeUnknownEither(OpenAiClient.ResponseStreamEvent)(event)._tag, event.type).toBe("Right")
      }
      const response = Fake.textResponse(["a", "b"], "gpt-x", { incomplete })
      expect(Schema.decodeUnknownEither(Generated.Response)(response)._tag).toBe("Right")
    }
  })

  it.scopedLive("streams the provider's text pieces, usage and stop", () =>
    withServer(Effect.gen(function*() {
      const server = yield* ResponsesServer
      yield* server.reply(Fake.text(["Hel", "lo ", "world"], { inputTokens: 37, outputTokens: 5 }))
      const parts = yield* streamParts(yield* modelOf())
      expect(textOf(parts)).toEqual(["Hel", "lo ", "world"])
      const finish = finishOf(parts)
      expect(finish.reason).toBe("stop")
      expect(finish.usage.inputTokens).toBe(37)
      expect(finish.usage.outputTokens).toBe(5)
      const request = yield* server.nextRequest
      expect(request.method).toBe("POST")
      expect(request.path).toBe("/v1/responses")
      expect(request.body).toMatchObject({
        model: "gpt-test-1",
        stream: true,
        input: [{ role: "user", content: [{ type: "input_text", text: "Say hello" }] }]
      })
    })))

  it.scopedLive("reports length when the answer is incomplete on max_output_tokens (stream and JSON)", () =>
    withServer(Effect.gen(function*() {
      const server = yield* ResponsesServer
      const model = yield* modelOf()
      yield* server.reply(
        Fake.text(["cut"], { incomplete: true, outputTokens: 3 }),
        Fake.text(["cut"], { incomplete: true, outputTokens: 3 })
      )
      const parts = yield* streamParts(model, { maxTokens: 3 })
      expect(textOf(parts)).toEqual(["cut"])
      expect(finishOf(parts).reason).toBe("length")
      expect(finishOf(parts).usage.outputTokens).toBe(3)
      const reply = yield* generate(model, { maxTokens: 3 })
      expect(reply.finishReason).toBe("length")
      expect(reply.usage.outputTokens).toBe(3)
    })))

  it.scopedLive("answers a non-stream request with the JSON response's text, usage and finish", () =>
    withServer(Effect.gen(function*() {
      const server = yield* ResponsesServer
      yield* server.reply(Fake.text(["All ", "at once"], { inputTokens: 21, outputTokens: 4 }))
      const reply = yield* generate(yield* modelOf())
      expect(reply.text).toBe("All at once")
      expect(reply.finishReason).toBe("stop")
      expect(reply.usage.inputTokens).toBe(21)
      expect(reply.usage.outputTokens).toBe(4)
      const request = yield* server.nextRequest
      expect(request.path).toBe("/v1/responses")
      expect(request.body).not.toHaveProperty("stream", true)
    })))

  it.scopedLive("sends the run's sampling as Responses API fields, without stop and seed", () =>
    withServer(Effect.gen(function*() {
      const server = yield* ResponsesServer
      const model = yield* modelOf()
      yield* streamParts(model, { temperature: 0.25, topP: 0.75, maxTokens: 321, stop: ["END"], seed: 9 })
      const request = yield* server.nextRequest
      expect(request.body).toMatchObject({ max_output_tokens: 321, temperature: 0.25, top_p: 0.75 })
      expect(request.body).not.toHaveProperty("stop")
      expect(request.body).not.toHaveProperty("seed")
    })))

  it.scopedLive("sends no sampling field when the run sets none", () =>
    withServer(Effect.gen(function*() {
      const server = yield* ResponsesServer
      yield* generate(yield* modelOf(), {})
      const request = yield* server.nextRequest
      expect(request.body).toHaveProperty("model", "gpt-test-1")
      expect(request.body).not.toHaveProperty("max_output_tokens")
      expect(request.body).not.toHaveProperty("temperature")
      expect(request.body).not.toHaveProperty("top_p")
    })))

  it.scopedLive("sends the api key as a bearer token and the provider's extra headers", () =>
    withServer(Effect.gen(function*() {
      const server = yield* ResponsesServer
      const model = yield* modelOf({ headers: { "x-team": "blue", "OpenAI-Project": "proj_1" } })
      yield* streamParts(model)
      yield* generate(model)
      const requests = yield* server.requests
      expect(requests).toHaveLength(2)
      for (const request of requests) {
        expect(request.headers["authorization"]).toBe(`Bearer ${API_KEY}`)
        expect(request.headers["x-team"]).toBe("blue")
        expect(request.headers["openai-project"]).toBe("proj_1")
      }
    })))

  it.scopedLive("sends no authorization without an api key (local servers)", () =>
    withServer(Effect.gen(function*() {
      const server = yield* ResponsesServer
      const reply = yield* generate(
        yield* Responses.make({
          provider: "local",
          entry: {
            api: "openai-responses",
            baseUrl: server.baseUrl,
            retry: { attempts: 0, initialDelayMs: 1, maxDelayMs: 1 }
          },
          model: "local-model"
        })
      )
      expect(reply.text).toBe("Hello from the fake")
      const request = yield* server.nextRequest
      expect(request.headers).not.toHaveProperty("authorization")
    })))

  describe("faults", () => {
    it.scopedLive("connection refused is ProviderUnreachable", () =>
      Effect.gen(function*() {
        const model = yield* modelAt(yield* refusedUrl)
        const streamed = yield* gatewayError(streamParts(model))
        expect(streamed._tag).toBe("ProviderUnreachable")
        expect((yield* gatewayError(generate(model)))._tag).toBe("ProviderUnreachable")
        // What the gateway logs of it (the cause's text, or the whole failure) names no key.
        expect(streamed._tag === "ProviderUnreachable" && String(streamed.cause)).not.toContain(API_KEY)
        expect(Cause.pretty(Cause.fail(streamed))).not.toContain(API_KEY)
      }).pipe(Effect.provide(NodeHttpClient.layer)))

    for (const status of [401, 403]) {
      it.scopedLive(`${status} is ProviderAuthRejected, stream and JSON, whatever the body`, () =>
        withServer(Effect.gen(function*() {
          const server = yield* ResponsesServer
          const model = yield* modelOf()
          yield* server.reply(
            Fake.error(status),
            Fake.error(status),
            Fake.error(status, { body: { detail: "a proxy's own error" } })
          )
          expect((yield* gatewayError(streamParts(model)))._tag).toBe("ProviderAuthRejected")
          expect((yield* gatewayError(generate(model)))._tag).toBe("ProviderAuthRejected")
          expect((yield* gatewayError(generate(model)))._tag).toBe("ProviderAuthRejected")
        })))
    }

    it.scopedLive("429 is ProviderRateLimited with the provider's Retry-After, without retrying", () =>
      withServer(Effect.gen(function*() {
        const server = yield* ResponsesServer
        const model = yield* modelOf()
        yield* server.reply(Fake.error(429, { retryAfter: "17" }), Fake.error(429, { retryAfter: "23" }))
        const streamed = yield* gatewayError(streamParts(model))
        expect(streamed).toMatchObject({ _tag: "ProviderRateLimited", retryAfterSeconds: 17 })
        const plain = yield* gatewayError(generate(model))
        expect(plain).toMatchObject({ _tag: "ProviderRateLimited", retryAfterSeconds: 23 })
        expect(yield* server.requests).toHaveLength(2)
      })))

    for (const status of [500, 502, 503]) {
      it.scopedLive(`${status} is ProviderFailed with the status, without retrying`, () =>
        withServer(Effect.gen(function*() {
          const server = yield* ResponsesServer
          const model = yield* modelOf()
          yield* server.reply(Fake.error(status), Fake.error(status))
          expect(yield* gatewayError(streamParts(model))).toMatchObject({ _tag: "ProviderFailed", status })
          expect(yield* gatewayError(generate(model))).toMatchObject({ _tag: "ProviderFailed", status })
          expect(yield* server.requests).toHaveLength(2)
        })))
    }

    it.scopedLive("a provider error after the first piece arrives as an error part, before any finish", () =>
      withServer(Effect.gen(function*() {
        const server = yield* ResponsesServer
        yield* server.reply(Fake.failAfter("partial", { message: "overloaded right now" }))
        const parts = yield* streamParts(yield* modelOf())
        expect(textOf(parts)).toEqual(["partial"])
        const errorAt = parts.findIndex((part) => part.type === "error")
        expect(errorAt).toBeGreaterThan(parts.findIndex((part) => part.type === "text-delta"))
        expect(JSON.stringify(parts[errorAt])).toContain("overloaded right now")
        const finishAt = parts.findIndex((part) => part.type === "finish")
        expect(finishAt === -1 || finishAt > errorAt).toBe(true)
      })))

    it.scopedLive("the provider's error text stays in the log detail, the api key nowhere", () =>
      withServer(Effect.gen(function*() {
        const server = yield* ResponsesServer
        yield* server.reply(Fake.error(500, { message: "database on fire" }))
        const failed = yield* gatewayError(streamParts(yield* modelOf()))
        expect(failed._tag).toBe("ProviderFailed")
        expect(failed._tag === "ProviderFailed" && failed.detail).toContain("database on fire")
        expect(JSON.stringify(failed)).not.toContain(API_KEY)
        expect(failed._tag === "ProviderFailed" && failed.detail).not.toContain(API_KEY)
      })))
  })

  describe("interruption aborts the upstream request", () => {
    const clients: ReadonlyArray<[string, Layer.Layer<HttpClient.HttpClient>]> = [
      ["node:http", NodeHttpClient.layer],
      ["undici", NodeHttpClient.layerUndici]
    ]
    for (const [name, client] of clients) {
      it.scopedLive(`a stream, within a second (${name})`, () =>
        Effect.gen(function*() {
          const server = yield* ResponsesServer
          const model = yield* modelOf()
          yield* server.reply(Fake.hangAfter("first"))
          const firstPiece = yield* Deferred.make<string>()
          const consumer = yield* model.languageModel.streamText({ prompt: "go on" }).pipe(
            Stream.runForEach((part) =>
              part.type === "text-delta" ? Deferred.succeed(firstPiece, part.delta) : Effect.void
            ),
            Effect.provide(model.settings({})),
            Effect.fork
          )
          const request = yield* server.nextRequest
          expect(yield* Deferred.await(firstPiece)).toBe("first")
          const interruptedAt = yield* Clock.currentTimeMillis
          yield* Fiber.interrupt(consumer)
          const closed = yield* server.closed(request).pipe(Effect.timeout("1 second"), Effect.either)
          expect(Either.isRight(closed)).toBe(true)
          expect((yield* Clock.currentTimeMillis) - interruptedAt).toBeLessThan(1000)
        }).pipe(Effect.provide(Layer.merge(ResponsesServer.layer, client))))

      it.scopedLive(`a JSON request waiting for its answer, within a second (${name})`, () =>
        Effect.gen(function*() {
          const server = yield* ResponsesServer
          const model = yield* modelOf()
          yield* server.reply(Fake.hangAfter("never sent"))
          const consumer = yield* generate(model).pipe(Effect.fork)
          const request = yield* server.nextRequest
          const interruptedAt = yield* Clock.currentTimeMillis
          yield* Fiber.interrupt(consumer)
          const closed = yield* server.closed(request).pipe(Effect.timeout("1 second"), Effect.either)
          expect(Either.isRight(closed)).toBe(true)
          expect((yield* Clock.currentTimeMillis) - interruptedAt).toBeLessThan(1000)
        }).pipe(Effect.provide(Layer.merge(ResponsesServer.layer, client))))
    }
  })
})

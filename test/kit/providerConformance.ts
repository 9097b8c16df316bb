/**
 * The provider conformance suite: what every provider api must give the agent runner, checked
 * against the api's fake server through the kit's `Upstream`. Each provider's test file runs it
 * (`providerConformance("anthropic-messages")`) next to the tests of what is its own.
 *
 * What it checks: text answers, streamed and not, with the provider's usage and finish reason
 * (`stop`, and `length` at the token limit); the run's sampling under the api's names and nothing
 * the run did not set; the key and the configured headers; each fault as the gateway's provider
 * error (unreachable, auth refused whatever the body, rate limited with its Retry-After, 5xx with
 * its status, an error after the first piece), never naming the key; and the upstream request
 * closed within a second once its consumer goes away, on both of Node's HTTP clients.
 */
import type * as AiError from "@effect/ai/AiError"
import type * as Response from "@effect/ai/Response"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { ProviderEntry } from "../../src/config/ConfigFile.js"
import type { AgentError } from "../../src/domain/Errors.js"
import type { Sampling } from "../../src/domain/Run.js"
import * as AnthropicMessages from "../../src/providers/AnthropicMessages.js"
import * as OpenAiCompletions from "../../src/providers/openai-completions/Model.js"
import * as OpenAiResponses from "../../src/providers/OpenAiResponses.js"
import type { MakeModel, Model } from "../../src/providers/Provider.js"
import { fromAiError } from "../../src/providers/ProviderErrors.js"
import { closedPort } from "../fakes/listen.js"
import { field } from "./json.js"
import { SAMPLING_FIELDS, samplingAsSent } from "./sent.js"
import { type Api, MODEL, PROVIDER, Upstream, upstreamLayer } from "./upstream.js"

export const API_KEY = "sk-conformance-key-7310"

const makers: Record<Api, MakeModel> = {
  "openai-completions": OpenAiCompletions.make,
  "anthropic-messages": AnthropicMessages.make,
  "openai-responses": OpenAiResponses.make
}

/** The header each api sends the key in, and how. */
const keyHeader: Record<Api, readonly [string, string]> = {
  "openai-completions": ["authorization", `Bearer ${API_KEY}`],
  "anthropic-messages": ["x-api-key", API_KEY],
  "openai-responses": ["authorization", `Bearer ${API_KEY}`]
}

/** Where each api is asked, and how the prompt `Say hello` looks in its request. */
const asked: Record<Api, { readonly path: string; readonly prompt: Readonly<Record<string, unknown>> }> = {
  "openai-completions": {
    path: "/v1/chat/completions",
    prompt: { messages: [{ role: "user", content: "Say hello" }] }
  },
  "anthropic-messages": {
    path: "/v1/messages",
    prompt: { messages: [{ role: "user", content: [{ type: "text", text: "Say hello" }] }] }
  },
  "openai-responses": {
    path: "/v1/responses",
    prompt: { input: [{ role: "user", content: [{ type: "input_text", text: "Say hello" }] }] }
  }
}

/** The sampling fields an api sends when the run sets none: the Messages API requires max_tokens. */
const requiredSampling: Record<Api, Readonly<Record<string, unknown>>> = {
  "openai-completions": {},
  "anthropic-messages": { max_tokens: AnthropicMessages.DEFAULT_MAX_TOKENS },
  "openai-responses": {}
}

type EntryInput = Partial<typeof ProviderEntry.Encoded>

/** A model of provider `up` on `api`, aimed at `baseUrl`, with the key unless `entry` says otherwise. */
export const modelAt = (api: Api, baseUrl: string, entry: EntryInput = {}) =>
  makers[api]({
    provider: PROVIDER,
    model: MODEL,
    entry: Schema.decodeUnknownSync(ProviderEntry)({ api, baseUrl, apiKey: API_KEY, retry: { attempts: 0 }, ...entry })
  })

/** A model aimed at the fake of `Upstream`. */
export const upstreamModel = (entry: EntryInput = {}) =>
  Effect.flatMap(Upstream, (upstream) => modelAt(upstream.api, upstream.baseUrl, entry))

/** A streamed answer's parts, collected. */
export const streamParts = (model: Model, sampling: Sampling = {}) =>
  model.languageModel.streamText({ prompt: "Say hello" }).pipe(
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray),
    Effect.provide(model.settings(sampling))
  )

/** A non-stream answer. */
export const generate = (model: Model, sampling: Sampling = {}) =>
  model.languageModel.generateText({ prompt: "Say hello" }).pipe(Effect.provide(model.settings(sampling)))

/** The text pieces of a streamed answer. */
export const textDeltas = (parts: ReadonlyArray<Response.AnyPart>) =>
  parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : [])

export const finishesOf = (parts: ReadonlyArray<Response.AnyPart>) =>
  parts.filter((part): part is Response.FinishPart => part.type === "finish")

/** The failure of a call that must fail, as the gateway's provider error. */
export const gatewayError = <A, R>(call: Effect.Effect<A, AiError.AiError, R>): Effect.Effect<AgentError, A, R> =>
  Effect.map(Effect.flip(call), (error) => fromAiError(PROVIDER, error, Date.now()))

/** The sampling fields of a request body, by their wire names. */
const samplingSent = (body: unknown) =>
  Object.fromEntries(
    SAMPLING_FIELDS.flatMap((name) => field(body, name) === undefined ? [] : [[name, field(body, name)]])
  )

/**
 * The providers that make their own AiErrors. The others' come from @effect/ai's clients, whose
 * errors carry the request as sent, headers included (in the message of an answer they cannot
 * decode): the runner maps them to the gateway's errors at once, and only those are logged.
 */
const OWN_ERRORS: ReadonlyArray<Api> = ["openai-completions"]

/** Everything the gateway makes of a failure, or of a stream's error part, to look for secrets in. */
const errorTexts = (api: Api) => (outcome: Either.Either<ReadonlyArray<Response.AnyPart>, AiError.AiError>) =>
  Either.match(outcome, {
    onLeft: (failure) => {
      const error = fromAiError(PROVIDER, failure, Date.now())
      return [
        ...(OWN_ERRORS.includes(api) ? [failure.message, JSON.stringify(failure), Inspectable.format(failure)] : []),
        JSON.stringify(error),
        Inspectable.format(error),
        Cause.pretty(Cause.fail(error)),
        "detail" in error ? error.detail : ""
      ]
    },
    onRight: (parts) =>
      parts.flatMap((part) => part.type === "error" ? [JSON.stringify(part), Inspectable.format(part.error)] : [])
  })

/** The upstream request's connection is closed within a second. */
const closedWithinASecond = (closed: Effect.Effect<void>) =>
  closed.pipe(
    Effect.timeoutFail({
      duration: "1 second",
      onTimeout: () => new Error("the upstream request was still open a second after its consumer left")
    })
  )

const CLIENTS: ReadonlyArray<readonly [string, Layer.Layer<HttpClient.HttpClient>]> = [
  ["undici", NodeHttpClient.layerUndici],
  ["node:http", NodeHttpClient.layer]
]

/** Provides a fake provider of `api` (as `Upstream`) and the HttpClient a model calls it with. */
export const withUpstream = (api: Api, client: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndici) =>
  Effect.provide(Layer.merge(upstreamLayer(api), client))

/** Registers the suite for `api`. */
export const providerConformance = (api: Api) =>
  describe(`what every provider does, on ${api}`, () => {
    describe("answers", () => {
      it.scopedLive("streams the provider's text pieces, then one finish with its usage and stop", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          yield* upstream.answerText(["Hel", "lo ", "world"], { inputTokens: 37, outputTokens: 5 })
          const parts = yield* streamParts(yield* upstreamModel())
          expect(textDeltas(parts)).toEqual(["Hel", "lo ", "world"])
          const finishes = finishesOf(parts)
          expect(finishes).toHaveLength(1)
          expect(finishes[0]?.reason).toBe("stop")
          expect(finishes[0]?.usage).toMatchObject({ inputTokens: 37, outputTokens: 5, totalTokens: 42 })
          expect(parts.at(-1)?.type).toBe("finish")
          const request = yield* upstream.nextRequest
          expect(field(request.body, "model")).toBe(MODEL)
          expect(field(request.body, "stream")).toBe(true)
        }).pipe(withUpstream(api)))

      it.scopedLive("answers a non-stream request with the provider's text, usage and finish", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          yield* upstream.answerText(["All ", "at once"], { inputTokens: 21, outputTokens: 4 })
          const reply = yield* generate(yield* upstreamModel())
          expect(reply.text).toBe("All at once")
          expect(reply.finishReason).toBe("stop")
          expect(reply.usage).toMatchObject({ inputTokens: 21, outputTokens: 4, totalTokens: 25 })
          const request = yield* upstream.nextRequest
          expect(field(request.body, "model")).toBe(MODEL)
          expect(field(request.body, "stream")).not.toBe(true)
        }).pipe(withUpstream(api)))

      it.scopedLive("reports length when the provider stopped on its token limit, stream and JSON", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const model = yield* upstreamModel()
          yield* upstream.answerText(["cut"], { finish: "length", inputTokens: 2, outputTokens: 3 })
          yield* upstream.answerText(["cut"], { finish: "length", inputTokens: 2, outputTokens: 3 })
          const parts = yield* streamParts(model, { maxTokens: 3 })
          expect(textDeltas(parts)).toEqual(["cut"])
          expect(finishesOf(parts).map((finish) => [finish.reason, finish.usage.outputTokens])).toEqual([["length", 3]])
          const reply = yield* generate(model, { maxTokens: 3 })
          expect([reply.text, reply.finishReason, reply.usage.outputTokens]).toEqual(["cut", "length", 3])
        }).pipe(withUpstream(api)))
    })

    describe("what reaches the provider", () => {
      it.scopedLive("a POST to the api's path with the prompt in the api's shape, streamed or not", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const model = yield* upstreamModel()
          yield* streamParts(model)
          yield* generate(model)
          for (const request of [yield* upstream.nextRequest, yield* upstream.nextRequest]) {
            expect(request.method).toBe("POST")
            expect(request.path.split("?")[0]).toBe(asked[api].path)
            expect(request.body).toMatchObject(asked[api].prompt)
          }
        }).pipe(withUpstream(api)))

      it.scopedLive("the run's sampling, under the api's own names, and none the api does not have", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const sampling = { temperature: 0.25, topP: 0.75, maxTokens: 321, stop: ["END", "STOP"], seed: 9 }
          yield* streamParts(yield* upstreamModel(), sampling)
          expect(samplingSent((yield* upstream.nextRequest).body)).toEqual(samplingAsSent(api, sampling))
        }).pipe(withUpstream(api)))

      it.scopedLive("only the sampling fields the run sets (and what the api requires)", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const model = yield* upstreamModel()
          yield* generate(model, {})
          expect(samplingSent((yield* upstream.nextRequest).body)).toEqual(requiredSampling[api])
          yield* generate(model, { temperature: 0 })
          expect(samplingSent((yield* upstream.nextRequest).body)).toEqual({ ...requiredSampling[api], temperature: 0 })
        }).pipe(withUpstream(api)))

      it.scopedLive("the api key in the api's header and the provider's extra headers, stream and JSON", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const model = yield* upstreamModel({ headers: { "x-team": "blue", "x-title": "clawgate-test" } })
          yield* streamParts(model)
          yield* generate(model)
          const [name, value] = keyHeader[api]
          for (const request of [yield* upstream.nextRequest, yield* upstream.nextRequest]) {
            expect(request.headers).toMatchObject({ [name]: value, "x-team": "blue", "x-title": "clawgate-test" })
          }
        }).pipe(withUpstream(api)))

      it.scopedLive("no key header without an api key (local servers)", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          yield* upstream.answerText(["Hello"])
          expect((yield* generate(yield* upstreamModel({ apiKey: undefined }))).text).toBe("Hello")
          expect((yield* upstream.nextRequest).headers).not.toHaveProperty(keyHeader[api][0])
        }).pipe(withUpstream(api)))
    })

    describe("faults, as the gateway's provider errors", () => {
      it.scopedLive("a refused connection is ProviderUnreachable, stream and JSON, and its cause names no key", () =>
        Effect.gen(function*() {
          const model = yield* modelAt(api, `http://127.0.0.1:${yield* closedPort}/v1`)
          const streamed = yield* gatewayError(streamParts(model))
          expect(streamed._tag).toBe("ProviderUnreachable")
          expect((yield* gatewayError(generate(model)))._tag).toBe("ProviderUnreachable")
          expect(streamed._tag === "ProviderUnreachable" && String(streamed.cause)).not.toContain(API_KEY)
          expect(Cause.pretty(Cause.fail(streamed))).not.toContain(API_KEY)
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      for (const status of [401, 403]) {
        it.scopedLive(`${status} is ProviderAuthRejected, stream and JSON, whatever the body`, () =>
          Effect.gen(function*() {
            const upstream = yield* Upstream
            const model = yield* upstreamModel()
            yield* upstream.answerStatus(status)
            yield* upstream.answerStatus(status)
            yield* upstream.answerStatus(status, { body: "upstream says no" })
            yield* upstream.answerStatus(status, { body: { detail: "a proxy's own error" } })
            const errors = [
              yield* gatewayError(streamParts(model)),
              yield* gatewayError(generate(model)),
              yield* gatewayError(generate(model)),
              yield* gatewayError(generate(model))
            ]
            expect(errors.map((error) => error._tag)).toEqual(Array(4).fill("ProviderAuthRejected"))
          }).pipe(withUpstream(api)))
      }

      it.scopedLive("429 is ProviderRateLimited with the provider's Retry-After, without retrying", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const model = yield* upstreamModel()
          yield* upstream.answerStatus(429, { retryAfter: "17" })
          yield* upstream.answerStatus(429, { retryAfter: "23" })
          expect(yield* gatewayError(streamParts(model))).toMatchObject({
            _tag: "ProviderRateLimited",
            provider: PROVIDER,
            retryAfterSeconds: 17
          })
          expect(yield* gatewayError(generate(model))).toMatchObject({
            _tag: "ProviderRateLimited",
            retryAfterSeconds: 23
          })
          expect(yield* upstream.requestCount).toBe(2)
        }).pipe(withUpstream(api)))

      for (const status of [500, 502, 503, 529]) {
        it.scopedLive(`${status} is ProviderFailed with the status, without retrying`, () =>
          Effect.gen(function*() {
            const upstream = yield* Upstream
            const model = yield* upstreamModel()
            yield* upstream.answerStatus(status)
            yield* upstream.answerStatus(status)
            expect(yield* gatewayError(streamParts(model))).toMatchObject({ _tag: "ProviderFailed", status })
            expect(yield* gatewayError(generate(model))).toMatchObject({ _tag: "ProviderFailed", status })
            expect(yield* upstream.requestCount).toBe(2)
          }).pipe(withUpstream(api)))
      }

      it.scopedLive("the provider's error text is kept for the log", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          yield* upstream.answerStatus(500, { message: "database on fire" })
          const failed = yield* gatewayError(streamParts(yield* upstreamModel()))
          expect(failed._tag).toBe("ProviderFailed")
          expect(failed._tag === "ProviderFailed" && failed.detail).toContain("database on fire")
        }).pipe(withUpstream(api)))

      it.scopedLive("an error after the first piece: the piece, then the provider's error, and no finish before it", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          yield* upstream.answerFailAfter("partial", "overloaded right now")
          const model = yield* upstreamModel()
          const seen: Array<Response.AnyPart> = []
          // The provider's error comes as the stream's failure, or as an `error` part (as the libraries send it).
          const failure = yield* model.languageModel.streamText({ prompt: "Say hello" }).pipe(
            Stream.runForEach((part) => Effect.sync(() => seen.push(part))),
            Effect.provide(model.settings({})),
            Effect.flip,
            Effect.map((error) => fromAiError(PROVIDER, error, Date.now())),
            Effect.option
          )
          expect(textDeltas(seen)).toEqual(["partial"])
          const errorAt = seen.findIndex((part) => part.type === "error")
          const finishAt = seen.findIndex((part) => part.type === "finish")
          if (failure._tag === "Some") {
            expect(failure.value._tag).toBe("ProviderFailed")
            expect(failure.value._tag === "ProviderFailed" && failure.value.detail).toContain("overloaded right now")
            expect(finishAt).toBe(-1)
          } else {
            expect(errorAt).toBeGreaterThan(seen.findIndex((part) => part.type === "text-delta"))
            expect(JSON.stringify(seen[errorAt])).toContain("overloaded right now")
            expect(finishAt === -1 || finishAt > errorAt).toBe(true)
          }
        }).pipe(withUpstream(api)))

      it.scopedLive("the key and the configured headers appear in no error, whatever the fault", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const secrets = { headers: { "x-secret-header": "hdr-secret-456" } }
          const live = yield* upstreamModel(secrets)
          const unreachable = yield* modelAt(api, `http://127.0.0.1:${yield* closedPort}/v1`, secrets)
          const faults = [
            { model: live, script: upstream.answerStatus(401) },
            { model: live, script: upstream.answerStatus(500) },
            { model: live, script: upstream.answerCutAfterHead },
            { model: live, script: upstream.answerFailAfter("half", "boom") },
            { model: unreachable, script: Effect.void }
          ]
          for (const { model, script } of faults) {
            // One answer for the streamed call, one for the plain one.
            yield* script
            yield* script
            const outcomes = [
              yield* Effect.either(streamParts(model)),
              yield* Effect.either(Effect.map(generate(model), (): ReadonlyArray<Response.AnyPart> => []))
            ]
            for (const text of outcomes.flatMap(errorTexts(api))) {
              expect(text).not.toContain(API_KEY)
              expect(text).not.toContain("hdr-secret-456")
            }
          }
        }).pipe(withUpstream(api)))
    })

    describe("the upstream request is closed within a second of its consumer leaving", () => {
      for (const [name, client] of CLIENTS) {
        it.scopedLive(`mid-stream, after the first piece (${name})`, () =>
          Effect.gen(function*() {
            const upstream = yield* Upstream
            const model = yield* upstreamModel()
            yield* upstream.answerHangAfter("first")
            const firstPiece = yield* Deferred.make<string>()
            const consumer = yield* model.languageModel.streamText({ prompt: "go on" }).pipe(
              Stream.runForEach((part) =>
                part.type === "text-delta" ? Deferred.succeed(firstPiece, part.delta) : Effect.void
              ),
              Effect.provide(model.settings({})),
              Effect.fork
            )
            const request = yield* upstream.nextRequest
            // The first piece arrives while the upstream answer is still open.
            expect(yield* Deferred.await(firstPiece)).toBe("first")
            yield* Fiber.interruptFork(consumer)
            yield* closedWithinASecond(request.closed)
          }).pipe(withUpstream(api, client)))

        it.scopedLive(`a stream before any piece, and a JSON request waiting for its answer (${name})`, () =>
          Effect.gen(function*() {
            const upstream = yield* Upstream
            const model = yield* upstreamModel()
            for (const call of [Effect.asVoid(streamParts(model)), Effect.asVoid(generate(model))]) {
              yield* upstream.answerNothing
              const consumer = yield* Effect.fork(call)
              const request = yield* upstream.nextRequest
              yield* Fiber.interruptFork(consumer)
              yield* closedWithinASecond(request.closed)
            }
          }).pipe(withUpstream(api, client)))
      }
    })
  })

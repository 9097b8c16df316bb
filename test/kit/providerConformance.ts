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
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { ProviderEntry } from "../../src/config/ConfigFile.js"
import type { AgentEvent } from "../../src/domain/AgentEvent.js"
import { type AgentError, ProviderTimeout } from "../../src/domain/Errors.js"
import type { Sampling } from "../../src/domain/Run.js"
import * as AnthropicMessages from "../../src/providers/anthropic-messages/Model.js"
import { DEFAULT_MAX_TOKENS as ANTHROPIC_MAX_TOKENS } from "../../src/providers/anthropic-messages/Request.js"
import * as OpenAiCompletions from "../../src/providers/openai-completions/Model.js"
import * as OpenAiResponses from "../../src/providers/OpenAiResponses.js"
import type { MakeModel, Model, ModelRequest } from "../../src/providers/Provider.js"
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
  "anthropic-messages": { max_tokens: ANTHROPIC_MAX_TOKENS },
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

/** What a model is asked in these tests: "Say hello", with `sampling`. */
export const modelRequest = (sampling: Sampling = {}, text = "Say hello"): ModelRequest => ({
  system: undefined,
  messages: [{ role: "user", content: text }],
  tools: undefined,
  sampling,
  answerFormat: undefined,
  timeLimit: { ms: 60_000, error: () => new ProviderTimeout({ provider: PROVIDER, timeoutMs: 60_000 }) }
})

/** A streamed answer's events, each passed to `seen` as it comes, all of them at the end. */
export const streamEvents = (
  model: Model,
  sampling: Sampling = {},
  seen: (event: AgentEvent) => Effect.Effect<void> = () => Effect.void
) =>
  Effect.scoped(Effect.gen(function*() {
    const pull = yield* model.open(modelRequest(sampling))
    const events: Array<AgentEvent> = []
    while (true) {
      const next = yield* Effect.either(pull)
      if (Either.isLeft(next)) {
        return Option.isSome(next.left) ? yield* Effect.fail(next.left.value) : events
      }
      for (const event of next.right) {
        events.push(event)
        yield* seen(event)
      }
    }
  }))

/** A non-stream answer. */
export const generate = (model: Model, sampling: Sampling = {}) => model.complete(modelRequest(sampling))

/** The text pieces of a streamed answer. */
export const textDeltas = (events: ReadonlyArray<AgentEvent>) =>
  events.flatMap((event) => event._tag === "TextDelta" ? [event.text] : [])

export const finishesOf = (events: ReadonlyArray<AgentEvent>) =>
  events.flatMap((event) => event._tag === "Finish" ? [event.reason] : [])

export const usageOf = (events: ReadonlyArray<AgentEvent>) =>
  events.flatMap((event) => event._tag === "Usage" ? [event.usage] : [])

/** The failure of a call that must fail. */
export const gatewayError = <A, R>(call: Effect.Effect<A, AgentError, R>): Effect.Effect<AgentError, A, R> =>
  Effect.flip(call)

/** The sampling fields of a request body, by their wire names. */
const samplingSent = (body: unknown) =>
  Object.fromEntries(
    SAMPLING_FIELDS.flatMap((name) => field(body, name) === undefined ? [] : [[name, field(body, name)]])
  )

/** Everything the gateway makes of a failure, to look for secrets in. */
const errorTexts = (outcome: Either.Either<unknown, AgentError>) =>
  Either.match(outcome, {
    onLeft: (error) => [
      JSON.stringify(error),
      Inspectable.format(error),
      Cause.pretty(Cause.fail(error)),
      "detail" in error ? error.detail : ""
    ],
    onRight: () => []
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
          const events = yield* streamEvents(yield* upstreamModel())
          expect(textDeltas(events)).toEqual(["Hel", "lo ", "world"])
          expect(finishesOf(events)).toEqual(["stop"])
          expect(usageOf(events)).toEqual([{ promptTokens: 37, completionTokens: 5 }])
          expect(events.at(-1)?._tag).toBe("Finish")
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
          expect(reply.usage).toEqual({ promptTokens: 21, completionTokens: 4 })
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
          const events = yield* streamEvents(model, { maxTokens: 3 })
          expect(textDeltas(events)).toEqual(["cut"])
          expect([finishesOf(events), usageOf(events).map((usage) => usage.completionTokens)]).toEqual([["length"], [
            3
          ]])
          const reply = yield* generate(model, { maxTokens: 3 })
          expect([reply.text, reply.finishReason, reply.usage?.completionTokens]).toEqual(["cut", "length", 3])
        }).pipe(withUpstream(api)))
    })

    describe("what reaches the provider", () => {
      it.scopedLive("a POST to the api's path with the prompt in the api's shape, streamed or not", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const model = yield* upstreamModel()
          yield* streamEvents(model)
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
          yield* streamEvents(yield* upstreamModel(), sampling)
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
          yield* streamEvents(model)
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
          const streamed = yield* gatewayError(streamEvents(model))
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
              yield* gatewayError(streamEvents(model)),
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
          expect(yield* gatewayError(streamEvents(model))).toMatchObject({
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
            expect(yield* gatewayError(streamEvents(model))).toMatchObject({ _tag: "ProviderFailed", status })
            expect(yield* gatewayError(generate(model))).toMatchObject({ _tag: "ProviderFailed", status })
            expect(yield* upstream.requestCount).toBe(2)
          }).pipe(withUpstream(api)))
      }

      it.scopedLive("the provider's error text is kept for the log, stream and JSON", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const model = yield* upstreamModel()
          yield* upstream.answerStatus(500, { message: "database on fire" })
          yield* upstream.answerStatus(500, { message: "disk full" })
          const streamed = yield* gatewayError(streamEvents(model))
          const answered = yield* gatewayError(generate(model))
          expect(streamed._tag === "ProviderFailed" && streamed.detail).toContain("database on fire")
          expect(answered._tag === "ProviderFailed" && answered.detail).toContain("disk full")
        }).pipe(withUpstream(api)))

      it.scopedLive("an error after the first piece: the piece, then the provider's error, and no finish before it", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          yield* upstream.answerFailAfter("partial", "overloaded right now")
          const model = yield* upstreamModel()
          const seen: Array<AgentEvent> = []
          const failure = yield* Effect.flip(streamEvents(model, {}, (event) => Effect.sync(() => seen.push(event))))
          expect(textDeltas(seen)).toEqual(["partial"])
          expect(failure._tag).toBe("ProviderFailed")
          expect(failure._tag === "ProviderFailed" && failure.detail).toContain("overloaded right now")
          expect(finishesOf(seen)).toEqual([])
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
            const outcomes = [yield* Effect.either(streamEvents(model)), yield* Effect.either(generate(model))]
            for (const text of outcomes.flatMap(errorTexts)) {
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
            const consumer = yield* streamEvents(
              model,
              {},
              (event) =>
                event._tag === "TextDelta" ? Deferred.succeed(firstPiece, event.text).pipe(Effect.asVoid) : Effect.void
            ).pipe(Effect.fork)
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
            for (const call of [Effect.asVoid(streamEvents(model)), Effect.asVoid(generate(model))]) {
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

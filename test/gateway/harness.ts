/**
 * The gateway tests' harness: the real gateway (test/support.ts) with the live AgentRunner, whose
 * one agent `main` sits on a real provider of each `api`, aimed at the matching fake provider
 * server (test/fakes/) on loopback. `Upstream` hides the three fakes' own scripting APIs behind
 * one, so each test runs once per api.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type { ConfigInput, ProviderEntry } from "../../src/config/ConfigFile.js"
import * as Anthropic from "../fakes/AnthropicServer.js"
import { Answer, ChatCompletionsServer } from "../fakes/ChatCompletionsServer.js"
import * as Responses from "../fakes/ResponsesServer.js"
import { baseConfig, gateway } from "../support.js"

export type Api = ProviderEntry["api"]

export const APIS: ReadonlyArray<Api> = ["openai-completions", "anthropic-messages", "openai-responses"]

/** The gateway's own key for the provider: it must never reach a client. */
export const PROVIDER_KEY = "sk-upstream-SECRET-4242"

/** The provider's name in `models.providers` and the model id the agent uses. */
export const PROVIDER = "up"
export const MODEL = "fake-model-1"

/** A request as the fake provider received it. */
export interface UpstreamRequest {
  readonly body: unknown
  readonly headers: Readonly<Record<string, string>>
  /** Succeeds once the connection is gone while the fake was still answering (the gateway left). */
  readonly closed: Effect.Effect<void>
}

export interface TextAnswer {
  readonly pieces: ReadonlyArray<string>
  /** `length`: the provider stopped on its token limit, in its own words. */
  readonly finish: "stop" | "length"
  readonly inputTokens: number
  readonly outputTokens: number
}

/**
 * A fake provider of one api, scripted in the gateway's terms. Each `answer...` scripts the next
 * request (in order); unscripted requests get the fake's default text answer.
 */
export interface Upstream {
  readonly api: Api
  readonly baseUrl: string
  /** Text with the provider's own usage and finish reason, as JSON or SSE as the request asks. */
  readonly answerText: (answer: TextAnswer) => Effect.Effect<void>
  /** An error status with the api's error body saying `message`, and `Retry-After` when given. */
  readonly answerStatus: (
    status: number,
    options?: { readonly message?: string; readonly retryAfter?: string }
  ) => Effect.Effect<void>
  /** A stream that sends `piece`, then the api's in-band error saying `message`. */
  readonly answerFailAfter: (piece: string, message: string) => Effect.Effect<void>
  /** A stream that sends `piece`, then nothing more, never ending. */
  readonly answerHangAfter: (piece: string) => Effect.Effect<void>
  /** Nothing at all, not even a status line: the request waits. */
  readonly answerNothing: Effect.Effect<void>
  /** A 200 stream with the api's opening events but no text, never ending. */
  readonly answerOpenSilent: Effect.Effect<void>
  /** A 200 status line (and for a stream, at most a role chunk), then the connection is destroyed. */
  readonly answerCutAfterHead: Effect.Effect<void>
  readonly nextRequest: Effect.Effect<UpstreamRequest>
  /** How many requests the fake has received so far. */
  readonly requestCount: Effect.Effect<number>
}

export const Upstream = Context.GenericTag<Upstream>("test/gateway/Upstream")

const silentReply: Anthropic.Reply = () => ({ status: 200, headers: {}, chunks: [], hang: true })

const completions: Effect.Effect<Upstream, never, ChatCompletionsServer> = Effect.map(
  ChatCompletionsServer,
  (server) => ({
    api: "openai-completions",
    baseUrl: server.baseUrl,
    answerText: ({ finish, inputTokens, outputTokens, pieces }) =>
      server.answer(
        Answer.reply(pieces, {
          finishReason: finish,
          usage: { promptTokens: inputTokens, completionTokens: outputTokens }
        })
      ),
    answerStatus: (status, options = {}) =>
      server.answer(Answer.status(status, {
        body: { error: { message: options.message ?? `fake error ${status}`, type: "fake_error", code: null } },
        headers: options.retryAfter === undefined ? {} : { "retry-after": options.retryAfter }
      })),
    answerFailAfter: (piece, message) => server.answer(Answer.inBandError([piece], { message, type: "server_error" })),
    answerHangAfter: (piece) => server.answer(Answer.hang([piece])),
    answerNothing: server.answer(Answer.hang([])),
    // The role chunk and an empty content piece: the stream is open, no text has come.
    answerOpenSilent: server.answer(Answer.hang([""])),
    answerCutAfterHead: server.answer(Answer.cut([])),
    nextRequest: Effect.map(server.nextRequest, (request) => ({
      body: request.body,
      headers: request.headers,
      closed: request.closedByClient
    })),
    requestCount: Effect.map(server.requests, (requests) => requests.length)
  })
)

/** The parts the Anthropic and Responses fakes share (both are built on `AnthropicServer.serve`). */
const served = (server: Anthropic.Service) => ({
  baseUrl: server.baseUrl,
  nextRequest: Effect.map(server.nextRequest, (request): UpstreamRequest => ({
    body: request.body,
    headers: request.headers,
    closed: server.closed(request)
  })),
  requestCount: Effect.map(server.requests, (requests) => requests.length),
  answerNothing: server.reply(silentReply),
  answerCutAfterHead: server.reply(Anthropic.cutAfterHead)
})

const anthropic: Effect.Effect<Upstream, never, Anthropic.AnthropicServer> = Effect.map(
  Anthropic.AnthropicServer,
  (server) => ({
    ...served(server),
    api: "anthropic-messages",
    answerText: ({ finish, inputTokens, outputTokens, pieces }) =>
      server.reply(
        Anthropic.text(pieces, {
          stopReason: finish === "length" ? "max_tokens" : "end_turn",
          inputTokens,
          outputTokens
        })
      ),
    answerStatus: (status, options = {}) =>
      server.reply(Anthropic.error(status, {
        ...(options.message !== undefined && { message: options.message }),
        ...(options.retryAfter !== undefined && { retryAfter: options.retryAfter })
      })),
    answerFailAfter: (piece, message) => server.reply(Anthropic.failAfter(piece, { message })),
    answerHangAfter: (piece) => server.reply(Anthropic.hangAfter(piece)),
    answerOpenSilent: server.reply((request) =>
      Anthropic.sse(Anthropic.textEvents([], Anthropic.requestedModel(request)).slice(0, 3), { hang: true })(request)
    )
  })
)

const responses: Effect.Effect<Upstream, never, Responses.ResponsesServer> = Effect.map(
  Responses.ResponsesServer,
  (server) => ({
    ...served(server),
    api: "openai-responses",
    answerText: ({ finish, inputTokens, outputTokens, pieces }) =>
      server.reply(Responses.text(pieces, { incomplete: finish === "length", inputTokens, outputTokens })),
    answerStatus: (status, options = {}) =>
      server.reply(Responses.error(status, {
        ...(options.message !== undefined && { message: options.message }),
        ...(options.retryAfter !== undefined && { retryAfter: options.retryAfter })
      })),
    answerFailAfter: (piece, message) => server.reply(Responses.failAfter(piece, { message })),
    answerHangAfter: (piece) => server.reply(Responses.hangAfter(piece)),
    // The created / in_progress / item and part added events: no text delta.
    answerOpenSilent: server.reply((request) =>
      Responses.sse(Responses.textEvents([], MODEL).slice(0, 4), { hang: true })(request)
    )
  })
)

/** A fake provider server of `api` on loopback, as `Upstream` (stopped with the scope). */
export const upstreamLayer = (api: Api): Layer.Layer<Upstream> => {
  switch (api) {
    case "openai-completions":
      return Layer.effect(Upstream, completions).pipe(Layer.provide(ChatCompletionsServer.layer))
    case "anthropic-messages":
      return Layer.effect(Upstream, anthropic).pipe(Layer.provide(Anthropic.AnthropicServer.layer))
    case "openai-responses":
      return Layer.effect(Upstream, responses).pipe(Layer.provide(Responses.ResponsesServer.layer))
  }
}

// ---------------------------------------------------------------------------------------------
// Config and gateway
// ---------------------------------------------------------------------------------------------

type AgentInput = NonNullable<NonNullable<ConfigInput["agents"]>["list"]>[number]
type ProviderInput = typeof ProviderEntry.Encoded

export interface Setup {
  /** Settings of agent `main` (its model is `up/fake-model-1`). */
  readonly agent?: Omit<AgentInput, "id">
  /** Settings of provider `up` (api, baseUrl and key are set). */
  readonly provider?: Partial<ProviderInput>
}

/** Fast retries unless a test says otherwise: the delays stay a few milliseconds. */
const FAST_RETRY = { attempts: 2, initialDelayMs: 5, maxDelayMs: 10 }

/** `baseConfig` whose default agent `main` uses model `fake-model-1` of provider `up` (`api` at `baseUrl`). */
export const configFor = (api: Api, baseUrl: string, setup: Setup = {}): ConfigInput => ({
  ...baseConfig,
  agents: { list: [{ id: "main", default: true, model: `${PROVIDER}/${MODEL}`, ...setup.agent }] },
  models: {
    providers: {
      [PROVIDER]: { api, baseUrl, apiKey: PROVIDER_KEY, retry: FAST_RETRY, ...setup.provider }
    }
  }
})

/**
 * The gateway with the live runner on a provider of `api` aimed at a fresh fake of that api; both
 * the gateway's services and `Upstream` are provided. The log goes to `logger` (default: silenced).
 */
export const upstreamGateway = (
  api: Api,
  setup: Setup & { readonly logger?: Layer.Layer<never> } = {}
) =>
  Layer.unwrapEffect(
    Effect.map(Upstream, (upstream) =>
      gateway({ config: configFor(api, upstream.baseUrl, setup) }).pipe(
        Layer.provide(setup.logger ?? Logger.minimumLogLevel(LogLevel.None))
      ))
  ).pipe(Layer.provideMerge(upstreamLayer(api)))

/** The gateway with its provider aimed at `baseUrl`, no fake at all (e.g. a closed port). */
export const gatewayAt = (api: Api, baseUrl: string, setup: Setup = {}) =>
  gateway({ config: configFor(api, baseUrl, setup) }).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.None)))

/** The sampling fields of a request body as `api` names them. */
export const samplingAsSent = (
  api: Api,
  sampling: {
    readonly temperature: number
    readonly topP: number
    readonly maxTokens: number
    readonly stop: ReadonlyArray<string>
    readonly seed: number
  }
): Record<string, unknown> => {
  switch (api) {
    case "openai-completions":
      return {
        temperature: sampling.temperature,
        top_p: sampling.topP,
        max_tokens: sampling.maxTokens,
        stop: sampling.stop,
        seed: sampling.seed
      }
    case "anthropic-messages":
      // The Messages API has no seed.
      return {
        temperature: sampling.temperature,
        top_p: sampling.topP,
        max_tokens: sampling.maxTokens,
        stop_sequences: sampling.stop
      }
    case "openai-responses":
      // The Responses API has neither stop nor seed.
      return { temperature: sampling.temperature, top_p: sampling.topP, max_output_tokens: sampling.maxTokens }
  }
}

/** The field that carries the token limit in `api`'s request body. */
export const maxTokensField = (api: Api) => api === "openai-responses" ? "max_output_tokens" : "max_tokens"

/** A field of a JSON body. */
export const field = (body: unknown, name: string): unknown =>
  typeof body === "object" && body !== null ? new Map<string, unknown>(Object.entries(body)).get(name) : undefined

/** Runs a test's body against a gateway whose agent is on a fresh fake provider of `api`. */
export const against = <A, E, R>(api: Api, body: Effect.Effect<A, E, R>, setup: Setup = {}) =>
  body.pipe(Effect.scoped, Effect.provide(upstreamGateway(api, setup)))

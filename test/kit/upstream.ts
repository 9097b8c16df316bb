/**
 * A fake provider of any `api`, in the gateway's terms: `Upstream` hides the three fake servers'
 * own replies (test/fakes/) behind one, so a test runs once per api. Plus the config whose agent
 * `main` sits on it, and the gateway built on that config with the live runner.
 *
 *   const upstream = yield* Upstream                   // with upstreamLayer(api) provided
 *   yield* upstream.answerText(["Hel", "lo"], { finish: "length" })
 *   // ... a request to the gateway under test ...
 *   const request = yield* upstream.nextRequest        // what the provider received
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { ConfigInput, ProviderEntry } from "../../src/config/ConfigFile.js"
import * as Anthropic from "../fakes/AnthropicServer.js"
import * as Completions from "../fakes/ChatCompletionsServer.js"
import * as Responses from "../fakes/ResponsesServer.js"
import { cutAfterHead, plainText, type Reply, type Service, silence, sse, sseFrame } from "../fakes/server.js"
import { baseConfig, type GatewayOptions, testGateway } from "./gateway.js"

export type Api = ProviderEntry["api"]

export const APIS: ReadonlyArray<Api> = ["openai-completions", "anthropic-messages", "openai-responses"]

/** The gateway's own key for the provider: it must never reach a client. */
export const PROVIDER_KEY = "sk-upstream-SECRET-4242"

/** The provider's name in `models.providers` and the model id the agent uses. */
export const PROVIDER = "up"
export const MODEL = "fake-model-1"

/** A request as the fake provider received it. */
export interface UpstreamRequest {
  readonly method: string
  /** The path with its query. */
  readonly path: string
  readonly body: unknown
  readonly headers: Readonly<Record<string, string>>
  /** Succeeds once the request's connection is gone. */
  readonly closed: Effect.Effect<void>
}

export interface TextOptions {
  /** `length`: the provider stopped on its token limit, in its own words. Default: `stop`. */
  readonly finish?: "stop" | "length"
  /** The provider's usage (default: the fake's). */
  readonly inputTokens?: number
  readonly outputTokens?: number
}

/** A tool call for the fake to make: its arguments in the pieces the provider streams them in. */
export interface ScriptedCall {
  readonly id: string
  readonly name: string
  readonly pieces: ReadonlyArray<string>
}

export interface ToolCallOptions {
  /** Text the model says before its calls (the Responses fake says none). */
  readonly text?: ReadonlyArray<string>
  /**
   * The provider's finish reason is its plain "stop" (`stop`, `end_turn`) although it called
   * tools, as some servers do (the Responses API has no such answer).
   */
  readonly saysStop?: boolean
}

export interface StatusOptions {
  /** The message of the api's own error body. */
  readonly message?: string
  readonly retryAfter?: string
  /** Another body than the api's own: a value as JSON, a string as plain text (a proxy's). */
  readonly body?: unknown
}

/**
 * A fake provider of one api. Each `answer...` scripts the next request (in order); unscripted
 * requests get the fake's default text answer.
 */
export interface Upstream {
  readonly api: Api
  /** The `baseUrl` to give a provider of `api`. */
  readonly baseUrl: string
  /** Text with the provider's own usage and finish reason, as JSON or SSE as the request asks. */
  readonly answerText: (pieces: ReadonlyArray<string>, options?: TextOptions) => Effect.Effect<void>
  /** These tool calls (after `text`, if any), as JSON or SSE as the request asks. */
  readonly answerToolCalls: (calls: ReadonlyArray<ScriptedCall>, options?: ToolCallOptions) => Effect.Effect<void>
  /** An error status with the api's error body, and `Retry-After` when given. */
  readonly answerStatus: (status: number, options?: StatusOptions) => Effect.Effect<void>
  /** A stream that sends `piece`, then the api's in-band error saying `message`. */
  readonly answerFailAfter: (piece: string, message: string) => Effect.Effect<void>
  /** A stream that sends `piece`, then nothing more, never ending; a JSON request gets no answer at all. */
  readonly answerHangAfter: (piece: string) => Effect.Effect<void>
  /** Nothing at all, not even a status line: the request waits. */
  readonly answerNothing: Effect.Effect<void>
  /** A 200 stream with the api's opening events but no text, never ending. */
  readonly answerOpenSilent: Effect.Effect<void>
  /** A 200 status line, then the connection is destroyed. */
  readonly answerCutAfterHead: Effect.Effect<void>
  /** The next request the fake received, in arrival order. */
  readonly nextRequest: Effect.Effect<UpstreamRequest>
  /** How many requests the fake has received so far. */
  readonly requestCount: Effect.Effect<number>
}

export const Upstream = Context.GenericTag<Upstream>("test/kit/Upstream")

/** What differs between the apis: their fake server and how it says each answer. */
interface Fake {
  readonly start: Effect.Effect<Service, never, Scope.Scope>
  readonly text: (pieces: ReadonlyArray<string>, options: TextOptions) => Reply
  readonly toolCalls: (calls: ReadonlyArray<ScriptedCall>, options: ToolCallOptions) => Reply
  /** The api's error body (or `body`, a JSON value). */
  readonly status: (status: number, options: StatusOptions) => Reply
  readonly failAfter: (piece: string, message: string) => Reply
  readonly hangAfter: (piece: string) => Reply
  readonly openSilent: Reply
}

const fakes: Record<Api, Fake> = {
  "openai-completions": {
    start: Completions.make,
    text: (pieces, options) =>
      Completions.text(pieces, {
        ...(options.finish !== undefined && { finishReason: options.finish }),
        ...(options.inputTokens !== undefined && options.outputTokens !== undefined && {
          usage: { promptTokens: options.inputTokens, completionTokens: options.outputTokens }
        })
      }),
    toolCalls: (calls, options) =>
      Completions.toolCalls(calls.map((call) => ({ id: call.id, name: call.name, arguments: call.pieces })), {
        text: options.text ?? [],
        ...(options.saysStop === true && { finishReason: "stop" })
      }),
    status: (status, options) =>
      Completions.error(status, {
        ...(options.message !== undefined && { message: options.message }),
        ...(options.body !== undefined && { body: options.body }),
        headers: options.retryAfter === undefined ? {} : { "retry-after": options.retryAfter }
      }),
    failAfter: (piece, message) => Completions.failAfter([piece], { message, type: "server_error" }),
    hangAfter: (piece) => Completions.hangAfter([piece]),
    // The role chunk and an empty content piece: the stream is open, no text has come.
    openSilent: Completions.hangAfter([""])
  },
  "anthropic-messages": {
    start: Anthropic.make(),
    text: (pieces, options) =>
      Anthropic.text(pieces, {
        stopReason: options.finish === "length" ? "max_tokens" : "end_turn",
        inputTokens: options.inputTokens,
        outputTokens: options.outputTokens
      }),
    toolCalls: (calls, options) =>
      Anthropic.toolUse(calls.map((call) => ({ id: call.id, name: call.name, input: call.pieces })), {
        text: options.text ?? [],
        ...(options.saysStop === true && { stopReason: "end_turn" as const })
      }),
    status: (status, options) => Anthropic.error(status, options),
    failAfter: (piece, message) => Anthropic.failAfter(piece, { message }),
    hangAfter: Anthropic.hangAfter,
    // The message start, the text block's start and a ping: no text delta.
    openSilent: () => sse(Anthropic.textEvents([], MODEL).slice(0, 3).map(sseFrame), { hang: true })
  },
  "openai-responses": {
    start: Responses.make(),
    text: (pieces, options) =>
      Responses.text(pieces, {
        incomplete: options.finish === "length",
        inputTokens: options.inputTokens,
        outputTokens: options.outputTokens
      }),
    toolCalls: (calls) =>
      Responses.functionCalls(calls.map((call) => ({ callId: call.id, name: call.name, arguments: call.pieces }))),
    status: (status, options) => Responses.error(status, options),
    failAfter: (piece, message) => Responses.failAfter(piece, { message }),
    hangAfter: Responses.hangAfter,
    // The created / in_progress / item and part added events: no text delta.
    openSilent: () => sse(Responses.textEvents([], MODEL).slice(0, 4).map(sseFrame), { hang: true })
  }
}

/** A fake provider server of `api` on loopback, as `Upstream` (stopped with the scope). */
export const upstreamLayer = (api: Api): Layer.Layer<Upstream> =>
  Layer.scoped(
    Upstream,
    Effect.map(fakes[api].start, (server): Upstream => {
      const fake = fakes[api]
      return {
        api,
        baseUrl: server.baseUrl,
        answerText: (pieces, options = {}) => server.reply(fake.text(pieces, options)),
        answerToolCalls: (calls, options = {}) => server.reply(fake.toolCalls(calls, options)),
        answerStatus: (status, options = {}) =>
          server.reply(
            typeof options.body === "string"
              ? () => plainText(status, String(options.body))
              : fake.status(status, options)
          ),
        answerFailAfter: (piece, message) => server.reply(fake.failAfter(piece, message)),
        answerHangAfter: (piece) => server.reply(fake.hangAfter(piece)),
        answerNothing: server.reply(() => silence),
        answerOpenSilent: server.reply(fake.openSilent),
        answerCutAfterHead: server.reply(cutAfterHead),
        nextRequest: Effect.map(server.nextRequest, (request) => ({
          method: request.method,
          path: request.path,
          body: request.body,
          headers: request.headers,
          closed: server.closed(request)
        })),
        requestCount: Effect.map(server.requests, (requests) => requests.length)
      }
    })
  )

// ---------------------------------------------------------------------------------------------
// The gateway on it
// ---------------------------------------------------------------------------------------------

type AgentInput = NonNullable<NonNullable<ConfigInput["agents"]>["list"]>[number]
/** `gateway.http.endpoints.chatCompletions.images` as a config file writes it. */
export type ImagesInput = NonNullable<
  NonNullable<NonNullable<NonNullable<NonNullable<ConfigInput["gateway"]>["http"]>["endpoints"]>["chatCompletions"]>[
    "images"
  ]
>

export interface Setup {
  /** Settings of agent `main` (its model is `up/fake-model-1`). */
  readonly agent?: Omit<AgentInput, "id">
  /** Settings of provider `up` (api, baseUrl and key are set). */
  readonly provider?: Partial<typeof ProviderEntry.Encoded>
  /** The endpoint's image settings. */
  readonly images?: ImagesInput
}

/** Fast retries unless a test says otherwise: the delays stay a few milliseconds. */
const FAST_RETRY = { attempts: 2, initialDelayMs: 5, maxDelayMs: 10 }

/**
 * `baseConfig` whose default agent `main` uses model `fake-model-1` of provider `up` (`api` at
 * `baseUrl`), with agent `beta` still on echo.
 */
export const upstreamConfig = (api: Api, baseUrl: string, setup: Setup = {}): ConfigInput => ({
  ...baseConfig,
  gateway: {
    ...baseConfig.gateway,
    http: { endpoints: { chatCompletions: { enabled: true, ...(setup.images && { images: setup.images }) } } }
  },
  agents: {
    list: [{ id: "main", default: true, model: `${PROVIDER}/${MODEL}`, ...setup.agent }, { id: "beta", model: "echo" }]
  },
  models: {
    providers: { [PROVIDER]: { api, baseUrl, apiKey: PROVIDER_KEY, retry: FAST_RETRY, ...setup.provider } }
  }
})

/**
 * The gateway with the live runner, its agent `main` on a provider of `api` aimed at a fresh fake
 * of that api; both the gateway's services and `Upstream` are provided.
 */
export const upstreamGateway = (api: Api, setup: Setup & Pick<GatewayOptions<never>, "logs"> = {}) =>
  Layer.unwrapEffect(
    Effect.map(Upstream, (upstream) =>
      testGateway({
        config: upstreamConfig(api, upstream.baseUrl, setup),
        ...(setup.logs !== undefined && { logs: setup.logs })
      }))
  ).pipe(Layer.provideMerge(upstreamLayer(api)))

/** Runs a test's body against a gateway whose agent is on a fresh fake provider of `api`. */
export const against = <A, E, R>(api: Api, body: Effect.Effect<A, E, R>, setup: Setup = {}) =>
  body.pipe(Effect.scoped, Effect.provide(upstreamGateway(api, setup)))

/**
 * The image and response-format tests' harness: the real gateway (test/support.ts) with the live
 * AgentRunner, whose agent `main` sits on a real provider of each `api`, aimed at the matching
 * fake provider server (test/fakes/) on loopback. `Upstream` scripts the provider's answer and
 * reads back what it received; `userMessages` reads the user messages of a provider request
 * (their text and images), whatever the api's own format.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import OpenAI from "openai"
import type { ConfigInput, ProviderEntry } from "../../src/config/ConfigFile.js"
import * as Anthropic from "../fakes/AnthropicServer.js"
import { Answer, ChatCompletionsServer } from "../fakes/ChatCompletionsServer.js"
import * as Responses from "../fakes/ResponsesServer.js"
import { baseConfig, baseUrl, gateway, TOKEN } from "../support.js"

export type Api = ProviderEntry["api"]

export const APIS: ReadonlyArray<Api> = ["openai-completions", "anthropic-messages", "openai-responses"]

export interface Upstream {
  readonly api: Api
  readonly baseUrl: string
  /** The next request is answered with this text (JSON or SSE, as asked). */
  readonly answerText: (pieces: ReadonlyArray<string>) => Effect.Effect<void>
  /** The JSON body of the next request the fake received (in arrival order). */
  readonly nextBody: Effect.Effect<unknown>
  /** How many requests the fake has received so far. */
  readonly received: Effect.Effect<number>
}

export const Upstream = Context.GenericTag<Upstream>("test/images/Upstream")

const completions = Effect.map(ChatCompletionsServer, (server): Upstream => ({
  api: "openai-completions",
  baseUrl: server.baseUrl,
  answerText: (pieces) => server.answer(Answer.reply(pieces)),
  nextBody: Effect.map(server.nextRequest, (request) => request.body),
  received: Effect.map(server.requests, (requests) => requests.length)
}))

const anthropic = Effect.map(Anthropic.AnthropicServer, (server): Upstream => ({
  api: "anthropic-messages",
  baseUrl: server.baseUrl,
  answerText: (pieces) => server.reply(Anthropic.text(pieces)),
  nextBody: Effect.map(server.nextRequest, (request) => request.body),
  received: Effect.map(server.requests, (requests) => requests.length)
}))

const responses = Effect.map(Responses.ResponsesServer, (server): Upstream => ({
  api: "openai-responses",
  baseUrl: server.baseUrl,
  answerText: (pieces) => server.reply(Responses.text(pieces)),
  nextBody: Effect.map(server.nextRequest, (request) => request.body),
  received: Effect.map(server.requests, (requests) => requests.length)
}))

const upstreamLayer = (api: Api): Layer.Layer<Upstream> => {
  switch (api) {
    case "openai-completions":
      return Layer.effect(Upstream, completions).pipe(Layer.provide(ChatCompletionsServer.layer))
    case "anthropic-messages":
      return Layer.effect(Upstream, anthropic).pipe(Layer.provide(Anthropic.AnthropicServer.layer))
    case "openai-responses":
      return Layer.effect(Upstream, responses).pipe(Layer.provide(Responses.ResponsesServer.layer))
  }
}

/** `gateway.http.endpoints.chatCompletions.images` as a config file writes it. */
export type ImagesInput = NonNullable<
  NonNullable<NonNullable<NonNullable<NonNullable<ConfigInput["gateway"]>["http"]>["endpoints"]>["chatCompletions"]>[
    "images"
  ]
>

/**
 * `baseConfig` whose default agent `main` is on model `fake-model` of provider `up` (`api` at
 * `baseUrl`), agent `beta` on `echo`, with these image settings.
 */
export const configFor = (api: Api, baseUrl: string, images: ImagesInput = {}): ConfigInput => ({
  ...baseConfig,
  gateway: { ...baseConfig.gateway, http: { endpoints: { chatCompletions: { enabled: true, images } } } },
  agents: { list: [{ id: "main", default: true, model: "up/fake-model" }, { id: "beta", model: "echo" }] },
  models: { providers: { up: { api, baseUrl, apiKey: "sk-upstream", retry: { attempts: 0 } } } }
})

/** The gateway (its log silenced) with agent `main` on a provider of `api`, aimed at a fresh fake. */
export const upstreamGateway = (api: Api, images: ImagesInput = {}) =>
  Layer.unwrapEffect(
    Effect.map(Upstream, (upstream) =>
      gateway({ config: configFor(api, upstream.baseUrl, images) }).pipe(
        Layer.provide(Logger.minimumLogLevel(LogLevel.None))
      ))
  ).pipe(Layer.provideMerge(upstreamLayer(api)))

/** The official SDK aimed at the gateway under test; no retries, so every answer is seen as it is. */
export const sdk = Effect.map(baseUrl, (url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: TOKEN, maxRetries: 0 }))

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

/** A 1x1 PNG. */
export const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64"
)

/** Bytes that start as a JPEG does (a JFIF header), then `size` bytes in all. */
export const jpeg = (size = 64) => {
  const bytes = Buffer.alloc(size, 0x42)
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]).copy(bytes)
  return bytes
}

/** Bytes that start as a GIF does. */
export const GIF = Buffer.concat([Buffer.from("GIF89a", "ascii"), Buffer.alloc(32, 1)])

export const dataUri = (mediaType: string, bytes: Uint8Array) =>
  `data:${mediaType};base64,${Buffer.from(bytes).toString("base64")}`

// ---------------------------------------------------------------------------------------------
// What the provider received
// ---------------------------------------------------------------------------------------------

/** A piece of a user message as the provider received it: text, or an image (base64 bytes). */
export type Piece =
  | { readonly text: string }
  | { readonly image: string; readonly base64: string; readonly detail?: unknown }

type Json = Record<string, unknown>

const isRecord = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const records = (value: unknown): ReadonlyArray<Json> => Array.isArray(value) ? value.filter(isRecord) : []

const get = (value: unknown, ...path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>((at, key) => isRecord(at) ? at[key] : undefined, value)

/** A data URL as an image piece (anything else as the text `<url ...>`, so a test sees it). */
const fromDataUrl = (url: unknown, detail: unknown): Piece => {
  const match = typeof url === "string" ? /^data:([^;,]+);base64,(.*)$/s.exec(url) : null
  if (match === null) return { text: `<url ${String(url)}>` }
  return { image: match[1] ?? "", base64: match[2] ?? "", ...(detail !== undefined && { detail }) }
}

const piecesOf = (api: Api, content: unknown): ReadonlyArray<Piece> => {
  if (typeof content === "string") return [{ text: content }]
  return records(content).map((part): Piece => {
    switch (part.type) {
      case "text":
      case "input_text":
        return { text: String(part.text) }
      case "image_url":
        return fromDataUrl(get(part, "image_url", "url"), get(part, "image_url", "detail"))
      case "input_image":
        return fromDataUrl(part.image_url, part.detail)
      case "image":
        return get(part, "source", "type") === "base64"
          ? { image: String(get(part, "source", "media_type")), base64: String(get(part, "source", "data")) }
          : { text: `<image ${JSON.stringify(part.source)}>` }
      default:
        return { text: `<${String(part.type)} in ${api}>` }
    }
  })
}

/** The user messages of a provider request, oldest first, as pieces. */
export const userMessages = (api: Api, body: unknown): ReadonlyArray<ReadonlyArray<Piece>> => {
  const messages = api === "openai-responses" ? get(body, "input") : get(body, "messages")
  return records(messages).filter((message) => message.role === "user").map((message) => piecesOf(api, message.content))
}

/** The images of a provider request, in order. */
export const imagesOf = (api: Api, body: unknown) => userMessages(api, body).flat().filter((piece) => "image" in piece)

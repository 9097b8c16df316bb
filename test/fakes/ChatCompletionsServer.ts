/**
 * A scripted fake of an OpenAI-compatible Chat Completions server on a loopback port (the server
 * of ./server.ts), for the provider and gateway tests. Unscripted requests get the last user
 * message echoed back, word by word.
 *
 *   const server = yield* ChatCompletionsServer       // with ChatCompletionsServer.layer provided
 *   yield* server.reply(Completions.text(["Hel", "lo"], { finishReason: "length" }))
 *   yield* server.reply(Completions.toolCalls([{ id: "call_1", name: "f", arguments: ['{"a":', "1}"] }]))
 *   // ... a provider's baseUrl is server.baseUrl (`http://127.0.0.1:<port>/v1`) ...
 *   const request = yield* server.nextRequest          // the request as the server saw it
 *   yield* server.closed(request)                      // its connection is gone
 *
 * `text` and `toolCalls` answer as JSON, or as SSE when the request asks to stream (with a usage
 * chunk when it asks for one).
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { field, textOf } from "../kit/json.js"
import {
  type Answer,
  json,
  plainText,
  type RecordedRequest,
  type Reply,
  serve,
  type Service,
  silence,
  sse
} from "./server.js"

/** Token counts as the server reports them (`null`: no usage at all). */
export interface FakeUsage {
  readonly promptTokens: number
  readonly completionTokens: number
}

export interface UpstreamError {
  readonly message: string
  readonly type?: string
  readonly code?: string | number | null
}

const DEFAULT_USAGE: FakeUsage = { promptTokens: 5, completionTokens: 7 }

const wireUsage = (usage: FakeUsage) => ({
  prompt_tokens: usage.promptTokens,
  completion_tokens: usage.completionTokens,
  total_tokens: usage.promptTokens + usage.completionTokens
})

let counter = 0

/** How an answer to `request` is written: its JSON completion, or its chunks as SSE. */
const answering = (request: RecordedRequest) => {
  const model = typeof field(request.body, "model") === "string" ? String(field(request.body, "model")) : "fake-model"
  const id = `chatcmpl-fake-${++counter}`
  const created = Math.floor(Date.now() / 1000)
  const chunk = (choices: ReadonlyArray<unknown>, extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices, ...extra })}\n\n`
  const delta = (value: Record<string, unknown>) => chunk([{ index: 0, delta: value, finish_reason: null }])
  return {
    streamed: field(request.body, "stream") === true,
    completion: (message: Record<string, unknown>, finishReason: string, usage: FakeUsage | null): Answer =>
      json(200, {
        id,
        object: "chat.completion",
        created,
        model,
        choices: [{ index: 0, message: { role: "assistant", ...message }, finish_reason: finishReason }],
        ...(usage !== null && { usage: wireUsage(usage) })
      }),
    /** The role chunk, then a content chunk per piece. */
    opening: (pieces: ReadonlyArray<string>) => [
      delta({ role: "assistant", content: "" }),
      ...pieces.map((content) => delta({ content }))
    ],
    delta,
    /** The finish chunk, usage when the request asked for it, `[DONE]`. */
    ending: (finishReason: string, usage: FakeUsage | null) => [
      chunk([{ index: 0, delta: {}, finish_reason: finishReason }]),
      ...(usage !== null && field(request.body, "stream_options", "include_usage") === true
        ? [chunk([], { usage: wireUsage(usage) })]
        : []),
      "data: [DONE]\n\n"
    ]
  }
}

/** A completion with these pieces of text (one SSE chunk each when streamed). */
export const text = (
  pieces: string | ReadonlyArray<string>,
  options: { readonly finishReason?: string; readonly usage?: FakeUsage | null } = {}
): Reply =>
(request) => {
  const parts = typeof pieces === "string" ? [pieces] : pieces
  const finishReason = options.finishReason ?? "stop"
  const usage = options.usage === undefined ? DEFAULT_USAGE : options.usage
  const answer = answering(request)
  return answer.streamed
    ? sse([...answer.opening(parts), ...answer.ending(finishReason, usage)])
    : answer.completion({ content: parts.join("") }, finishReason, usage)
}

/** A tool call the server answers with; `arguments` are the pieces it streams (joined in JSON). */
export interface FakeToolCall {
  readonly id: string
  readonly name: string
  readonly arguments: string | ReadonlyArray<string>
}

/**
 * Tool calls after some text (maybe none), finish reason `tool_calls` by default: JSON
 * `message.tool_calls`, or streamed as OpenAI streams them (per call: its index, id, type and name
 * with empty arguments, then one chunk per piece of its arguments).
 */
export const toolCalls = (
  calls: ReadonlyArray<FakeToolCall>,
  options: {
    readonly text?: ReadonlyArray<string>
    readonly finishReason?: string
    readonly usage?: FakeUsage | null
  } = {}
): Reply =>
(request) => {
  const text = options.text ?? []
  const finishReason = options.finishReason ?? "tool_calls"
  const usage = options.usage === undefined ? DEFAULT_USAGE : options.usage
  const piecesOf = (call: FakeToolCall) => typeof call.arguments === "string" ? [call.arguments] : call.arguments
  const answer = answering(request)
  return answer.streamed
    ? sse([
      ...answer.opening(text),
      ...calls.flatMap((call, index) => [
        answer.delta({
          tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }]
        }),
        ...piecesOf(call).map((piece) => answer.delta({ tool_calls: [{ index, function: { arguments: piece } }] }))
      ]),
      ...answer.ending(finishReason, usage)
    ])
    : answer.completion(
      {
        content: text.length === 0 ? null : text.join(""),
        tool_calls: calls.map((call) => ({
          id: call.id,
          type: "function",
          function: { name: call.name, arguments: piecesOf(call).join("") }
        }))
      },
      finishReason,
      usage
    )
}

/**
 * An error status with OpenAI's error body saying `message` (or `body` as given: a string is sent as
 * plain text), and extra headers (e.g. `retry-after`).
 */
export const error = (
  status: number,
  options: {
    readonly message?: string
    readonly body?: unknown
    readonly headers?: Readonly<Record<string, string>>
  } = {}
): Reply =>
() =>
  typeof options.body === "string"
    ? plainText(status, options.body)
    : json(
      status,
      options.body ?? {
        error: { message: options.message ?? `fake upstream error ${status}`, type: "fake_error", code: null }
      },
      options.headers
    )

/** A 200 stream: the pieces, then `data: {"error": ...}`, then the end of the response. */
export const failAfter = (pieces: ReadonlyArray<string>, failure: UpstreamError): Reply => (request) =>
  sse([...answering(request).opening(pieces), `data: ${JSON.stringify({ error: failure })}\n\n`])

/** A 200 stream with the pieces that then never ends; with no pieces, no answer at all. */
export const hangAfter = (pieces: ReadonlyArray<string> = []): Reply => (request) =>
  pieces.length === 0 ? silence : sse(answering(request).opening(pieces), { hang: true })

/** A 200 stream with the pieces, then the connection is destroyed: no finish, no `[DONE]`. */
export const cutAfter = (pieces: ReadonlyArray<string>): Reply => (request) => ({
  ...sse(answering(request).opening(pieces)),
  cut: true
})

/** Raw writes, as given, then the end of the response (unless `keepOpen`). */
export const raw = (
  chunks: ReadonlyArray<string>,
  options: {
    readonly status?: number
    readonly headers?: Readonly<Record<string, string>>
    readonly keepOpen?: boolean
  } = {}
): Reply =>
() => ({
  status: options.status ?? 200,
  headers: options.headers ?? { "content-type": "text/event-stream" },
  chunks,
  hang: options.keepOpen ?? false
})

/** The default answer: the last user message echoed back in words, with word-count usage. */
export const echoLastUser: Reply = (request) => {
  const messages = field(request.body, "messages")
  const last: unknown = Array.isArray(messages)
    ? messages.findLast((message) => field(message, "role") === "user")
    : undefined
  const words = textOf(field(last, "content")).match(/\s*\S+/g) ?? []
  return text(words, { usage: { promptTokens: words.length, completionTokens: words.length } })(request)
}

/** The fake for the scope; its `baseUrl` ends in `/v1`, as OpenAI's does. */
export const make: Effect.Effect<Service, never, Scope.Scope> = serve(echoLastUser, "/v1")

/** The fake as a service: `ChatCompletionsServer.layer` starts one for the test's scope. */
export class ChatCompletionsServer
  extends Context.Tag("test/fakes/ChatCompletionsServer")<ChatCompletionsServer, Service>()
{
  static readonly layer: Layer.Layer<ChatCompletionsServer> = Layer.scoped(ChatCompletionsServer, make)
}

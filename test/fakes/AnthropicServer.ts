/**
 * A scripted fake of Anthropic's Messages API on a loopback port (the server of ./server.ts).
 *
 *   const server = yield* AnthropicServer            // with AnthropicServer.layer provided
 *   yield* server.reply(Anthropic.text(["Hel", "lo"], { inputTokens: 12, outputTokens: 2 }))
 *   // ...a provider's baseUrl is server.baseUrl...
 *   const request = yield* server.nextRequest         // path, headers, JSON body
 *   yield* server.closed(request)                     // its connection is gone
 *
 * `text` answers in the form the request asks for: SSE (`message_start`, `content_block_start`,
 * `content_block_delta` text_delta, `content_block_stop`, `message_delta` with `stop_reason` and
 * usage, `message_stop`) when its body has `stream: true`, else the JSON message. Other replies:
 * `toolUse(calls)` (`tool_use` blocks: streamed as `content_block_start` then `input_json_delta`
 * pieces, stop reason `tool_use`), `error(status, { retryAfter })` (Anthropic's error body),
 * `hangAfter(piece)` (to watch the client close) and `failAfter(piece)` (an `error` event
 * mid-stream).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import {
  json,
  type Reply,
  requestedModel,
  serve,
  type Service,
  silence,
  sse,
  type SseEvent,
  sseFrame,
  wantsStream
} from "./server.js"

export type StopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "refusal"

export interface TextOptions {
  readonly stopReason?: StopReason | undefined
  /** Sent with `stop_reason: "stop_sequence"`. */
  readonly stopSequence?: string | undefined
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  /** The model the answer names; default: the request's `model`. */
  readonly model?: string | undefined
}

/** The model an answer names when the request names none. */
const MODEL = "claude-fake"

const messageStart = (id: string, model: string, inputTokens: number) => ({
  type: "message_start",
  message: {
    id,
    type: "message",
    role: "assistant",
    content: [],
    model,
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: inputTokens, output_tokens: 1 }
  }
})

const textBlockStart = { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }
const textDelta = (text: string) => ({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text } })

/** The events of a streamed text answer, in Anthropic's order. */
export const textEvents = (
  pieces: ReadonlyArray<string>,
  model: string,
  options: TextOptions = {}
): Array<SseEvent> => [
  messageStart("msg_fake_stream", options.model ?? model, options.inputTokens ?? 10),
  textBlockStart,
  { type: "ping" },
  ...pieces.map(textDelta),
  { type: "content_block_stop", index: 0 },
  {
    type: "message_delta",
    delta: { stop_reason: options.stopReason ?? "end_turn", stop_sequence: options.stopSequence ?? null },
    usage: { output_tokens: options.outputTokens ?? pieces.length }
  },
  { type: "message_stop" }
]

/** The JSON message of a non-stream text answer. */
export const textMessage = (pieces: ReadonlyArray<string>, model: string, options: TextOptions = {}) => ({
  id: "msg_fake_json",
  type: "message",
  role: "assistant",
  content: [{ type: "text", text: pieces.join("") }],
  model: options.model ?? model,
  stop_reason: options.stopReason ?? "end_turn",
  stop_sequence: options.stopSequence ?? null,
  usage: { input_tokens: options.inputTokens ?? 10, output_tokens: options.outputTokens ?? pieces.length }
})

/** A text answer, streamed piece by piece or as one JSON message, as the request asks. */
export const text = (pieces: string | ReadonlyArray<string>, options: TextOptions = {}): Reply => (request) => {
  const parts = typeof pieces === "string" ? [pieces] : pieces
  const model = requestedModel(request, MODEL)
  return wantsStream(request)
    ? sse(textEvents(parts, model, options).map(sseFrame))
    : json(200, textMessage(parts, model, options))
}

/** A tool use the fake answers with; `input` is streamed in these pieces of JSON text. */
export interface FakeToolUse {
  readonly id: string
  readonly name: string
  readonly input: ReadonlyArray<string>
}

/** The events of a streamed answer with text (maybe none) then tool uses, in Anthropic's order. */
export const toolUseEvents = (
  text: ReadonlyArray<string>,
  calls: ReadonlyArray<FakeToolUse>,
  model: string,
  options: TextOptions = {}
) => {
  const first = text.length > 0 ? 1 : 0
  return [
    messageStart("msg_fake_tools", options.model ?? model, options.inputTokens ?? 10),
    ...(text.length > 0 ? [textBlockStart, ...text.map(textDelta), { type: "content_block_stop", index: 0 }] : []),
    ...calls.flatMap((call, i) => [
      {
        type: "content_block_start",
        index: first + i,
        content_block: { type: "tool_use", id: call.id, name: call.name, input: {} }
      },
      ...call.input.map((piece) => ({
        type: "content_block_delta",
        index: first + i,
        delta: { type: "input_json_delta", partial_json: piece }
      })),
      { type: "content_block_stop", index: first + i }
    ]),
    {
      type: "message_delta",
      delta: { stop_reason: options.stopReason ?? "tool_use", stop_sequence: null },
      usage: { output_tokens: options.outputTokens ?? calls.length }
    },
    { type: "message_stop" }
  ]
}

const parseInput = (pieces: ReadonlyArray<string>): unknown => JSON.parse(pieces.join("") || "{}")

/** The JSON message of a non-stream answer with text (maybe none) then tool uses. */
export const toolUseMessage = (
  text: ReadonlyArray<string>,
  calls: ReadonlyArray<FakeToolUse>,
  model: string,
  options: TextOptions = {}
) => ({
  id: "msg_fake_tools_json",
  type: "message",
  role: "assistant",
  content: [
    ...(text.length > 0 ? [{ type: "text", text: text.join("") }] : []),
    ...calls.map((call) => ({ type: "tool_use", id: call.id, name: call.name, input: parseInput(call.input) }))
  ],
  model: options.model ?? model,
  stop_reason: options.stopReason ?? "tool_use",
  stop_sequence: null,
  usage: { input_tokens: options.inputTokens ?? 10, output_tokens: options.outputTokens ?? calls.length }
})

/** An answer that uses tools (after `text`, if any), streamed or as one JSON message, as the request asks. */
export const toolUse = (
  calls: ReadonlyArray<{ readonly id: string; readonly name: string; readonly input: string | ReadonlyArray<string> }>,
  options: TextOptions & { readonly text?: ReadonlyArray<string> } = {}
): Reply =>
(request) => {
  const uses = calls.map((call) => ({ ...call, input: typeof call.input === "string" ? [call.input] : call.input }))
  const text = options.text ?? []
  const model = requestedModel(request, MODEL)
  return wantsStream(request)
    ? sse(toolUseEvents(text, uses, model, options).map(sseFrame))
    : json(200, toolUseMessage(text, uses, model, options))
}

/**
 * A stream that sends its start and one text piece, then hangs until the client goes away. A
 * non-stream request gets nothing at all (it waits for its answer).
 */
export const hangAfter = (piece: string): Reply => (request) =>
  wantsStream(request)
    ? sse(
      [messageStart("msg_fake_hang", requestedModel(request, MODEL), 10), textBlockStart, textDelta(piece)].map(
        sseFrame
      ),
      {
        hang: true
      }
    )
    : silence

/**
 * A stream that sends one text piece, then an `error` event (as Anthropic does when it is
 * overloaded mid-answer) and ends. The library reports the event as an `error` part, not a failure.
 */
export const failAfter =
  (piece: string, options: { readonly errorType?: string; readonly message?: string } = {}): Reply => (request) =>
    sse([
      messageStart("msg_fake_fail", requestedModel(request, MODEL), 10),
      textBlockStart,
      textDelta(piece),
      {
        type: "error",
        error: { type: options.errorType ?? "overloaded_error", message: options.message ?? "Overloaded" }
      }
    ].map(sseFrame))

const errorTypes: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error"
}

/** An error status with Anthropic's error body (or `body` as given), and `Retry-After` when set. */
export const error = (
  status: number,
  options: { readonly retryAfter?: string; readonly body?: unknown; readonly message?: string } = {}
): Reply =>
() =>
  json(
    status,
    options.body ?? {
      type: "error",
      error: { type: errorTypes[status] ?? "api_error", message: options.message ?? `fake error ${status}` }
    },
    options.retryAfter === undefined ? {} : { "retry-after": options.retryAfter }
  )

/** The Messages API fake; by default it answers `Hello from the fake` (streamed in three pieces). */
export const make = (options: { readonly fallback?: Reply } = {}): Effect.Effect<Service, never, Scope.Scope> =>
  serve(options.fallback ?? text(["Hello", " from", " the fake"]))

/** The fake as a service: `AnthropicServer.layer` starts one for the test's scope. */
export class AnthropicServer extends Context.Tag("test/fakes/AnthropicServer")<AnthropicServer, Service>() {
  static readonly layer: Layer.Layer<AnthropicServer> = Layer.scoped(AnthropicServer, make())
  static readonly layerWith = (options: { readonly fallback?: Reply }): Layer.Layer<AnthropicServer> =>
    Layer.scoped(AnthropicServer, make(options))
}

/**
 * A scripted fake of Anthropic's Messages API on a loopback port, for tests.
 *
 *   const server = yield* AnthropicServer            // with AnthropicServer.layer provided
 *   yield* server.reply(Anthropic.text(["Hel", "lo"], { inputTokens: 12, outputTokens: 2 }))
 *   // ...point a provider at server.baseUrl...
 *   const request = yield* server.nextRequest         // path, headers, JSON body
 *   yield* server.closed(request)                     // its connection is gone
 *
 * Replies are used one per request in arrival order; when none is queued the `fallback` answers.
 * `text` answers in the form the request asks for: SSE (`message_start`, `content_block_start`,
 * `content_block_delta` text_delta, `content_block_stop`, `message_delta` with `stop_reason` and
 * usage, `message_stop`) when its body has `stream: true`, else the JSON message. Other replies:
 * `toolUse(calls)` (`tool_use` blocks: streamed as `content_block_start` then `input_json_delta`
 * pieces, stop reason `tool_use`), `error(status, { retryAfter })` (Anthropic's error body),
 * `plainError`, `hangAfter(piece)` (to watch
 * the client close), `failAfter(piece)` (an `error` event mid-stream), and the raw `sse` / `json`.
 * `serve(fallback)` is the API-agnostic server under it (the Responses fake uses it too).
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import { listenOnLoopback } from "./listen.js"

export interface RecordedRequest {
  /** 0 for the first request the server received, then 1, ... */
  readonly index: number
  readonly method: string
  /** The path with its query, e.g. `/v1/messages?beta=true`. */
  readonly path: string
  /** Header names in lower case; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>
  /** The JSON body, or the raw text when it is not JSON. */
  readonly body: unknown
}

/** The raw answer to one request. */
export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** Written one by one; nothing (not even the status line) is sent when empty and `hang`. */
  readonly chunks: ReadonlyArray<string>
  /** Keep the response open after the chunks, until the client goes away. */
  readonly hang: boolean
  /** Destroy the connection after the status line and the chunks, mid-answer. */
  readonly cut?: boolean
}

/** How to answer one request. */
export type Reply = (request: RecordedRequest) => Answer

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

/** Whether the request's JSON body has `stream: true`. */
export const wantsStream = (request: RecordedRequest): boolean =>
  typeof request.body === "object" && request.body !== null && "stream" in request.body && request.body.stream === true

/** The `model` of the request's JSON body, else `otherwise`. */
export const requestedModel = (request: RecordedRequest, otherwise = "claude-fake"): string =>
  typeof request.body === "object" && request.body !== null && "model" in request.body &&
    typeof request.body.model === "string"
    ? request.body.model
    : otherwise

/** A server-sent event's JSON payload; its `type` is also the SSE `event:` name. */
export interface SseEvent {
  readonly type: string
  readonly [field: string]: unknown
}

/** One SSE frame as Anthropic and OpenAI send it: `event: <type>` then `data: <json>`. */
export const sseFrame = (event: SseEvent): string => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`

/** Any SSE events, as given. */
export const sse = (
  events: ReadonlyArray<SseEvent>,
  options: { readonly hang?: boolean; readonly headers?: Readonly<Record<string, string>> } = {}
): Reply =>
() => ({
  status: 200,
  headers: { "content-type": "text/event-stream", "cache-control": "no-cache", ...options.headers },
  chunks: events.map(sseFrame),
  hang: options.hang ?? false
})

/** A 200 status line (JSON or SSE, as the request asks), then the connection is destroyed. */
export const cutAfterHead: Reply = (request) => ({
  status: 200,
  headers: { "content-type": wantsStream(request) ? "text/event-stream" : "application/json" },
  chunks: [],
  hang: false,
  cut: true
})

/** Any JSON answer. */
export const json = (status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): Reply => () => ({
  status,
  headers: { "content-type": "application/json", ...headers },
  chunks: [JSON.stringify(body)],
  hang: false
})

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
export const textEvents = (pieces: ReadonlyArray<string>, model: string, options: TextOptions = {}) => [
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
  return wantsStream(request)
    ? sse(textEvents(parts, requestedModel(request), options))(request)
    : json(200, textMessage(parts, requestedModel(request), options))(request)
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
  return wantsStream(request)
    ? sse(toolUseEvents(text, uses, requestedModel(request), options))(request)
    : json(200, toolUseMessage(text, uses, requestedModel(request), options))(request)
}

/**
 * A stream that sends its start and one text piece, then hangs until the client goes away. A
 * non-stream request gets nothing at all (it waits for its answer).
 */
export const hangAfter = (piece: string): Reply => (request) =>
  wantsStream(request)
    ? sse([messageStart("msg_fake_hang", requestedModel(request), 10), textBlockStart, textDelta(piece)], {
      hang: true
    })(
      request
    )
    : { status: 200, headers: {}, chunks: [], hang: true }

/**
 * A stream that sends one text piece, then an `error` event (as Anthropic does when it is
 * overloaded mid-answer) and ends. The library reports the event as an `error` part, not a failure.
 */
export const failAfter =
  (piece: string, options: { readonly errorType?: string; readonly message?: string } = {}): Reply => (request) =>
    sse([
      messageStart("msg_fake_fail", requestedModel(request), 10),
      textBlockStart,
      textDelta(piece),
      {
        type: "error",
        error: { type: options.errorType ?? "overloaded_error", message: options.message ?? "Overloaded" }
      }
    ])(request)

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
  json(
    status,
    options.body ?? {
      type: "error",
      error: { type: errorTypes[status] ?? "api_error", message: options.message ?? `fake error ${status}` }
    },
    options.retryAfter === undefined ? {} : { "retry-after": options.retryAfter }
  )

/** An error status with a plain-text body, as a proxy in front of the API might send. */
export const plainError = (status: number, body = "upstream says no"): Reply => () => ({
  status,
  headers: { "content-type": "text/plain" },
  chunks: [body],
  hang: false
})

export interface Service {
  /** `http://127.0.0.1:<port>`, the API root to give the provider as `baseUrl`. */
  readonly baseUrl: string
  /** Queues replies for the next requests, in order. */
  readonly reply: (...replies: ReadonlyArray<Reply>) => Effect.Effect<void>
  /** Every request received so far, in arrival order. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Waits for the next request not yet taken (each request is taken once, in arrival order). */
  readonly nextRequest: Effect.Effect<RecordedRequest>
  /** Waits until the connection of `request` is closed (its answer ended or the client left). */
  readonly closed: (request: RecordedRequest) => Effect.Effect<void>
}

const headersOf = (headers: Http.IncomingHttpHeaders): Record<string, string> => {
  const result: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) result[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return result
}

const parseBody = (raw: string): unknown => {
  if (raw === "") return undefined
  try {
    return JSON.parse(raw)
  } catch {
    return raw
  }
}

/**
 * A scripted HTTP server on a free loopback port, whatever API it fakes: answers each request with
 * the next queued reply, else `fallback`. It stops (dropping open connections) with the scope.
 * The Responses fake (./ResponsesServer.ts) is built on it too.
 */
export const serve = (fallback: Reply): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scripted: Array<Reply> = []
    const recorded: Array<RecordedRequest> = []
    const closes = new Map<number, Deferred.Deferred<void>>()
    const arrivals = yield* Queue.unbounded<RecordedRequest>()

    let received = 0

    const server = Http.createServer((req, res) => {
      const index = received++
      const closed = Deferred.unsafeMake<void>(FiberId.none)
      closes.set(index, closed)
      res.on("close", () => Deferred.unsafeDone(closed, Effect.void))
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        const request: RecordedRequest = {
          index,
          method: req.method ?? "",
          path: req.url ?? "",
          headers: headersOf(req.headers),
          body: parseBody(Buffer.concat(chunks).toString("utf8"))
        }
        recorded.push(request)
        Queue.unsafeOffer(arrivals, request)
        const answer = (scripted.shift() ?? fallback)(request)
        res.writeHead(answer.status, answer.headers)
        for (const chunk of answer.chunks) res.write(chunk)
        if (answer.cut === true) {
          res.flushHeaders()
          res.write("", () => res.destroy())
        } else if (!answer.hang) res.end()
      })
    })

    const port = yield* listenOnLoopback(server)

    return {
      baseUrl: `http://127.0.0.1:${port}`,
      reply: (...replies) => Effect.sync(() => void scripted.push(...replies)),
      requests: Effect.sync(() => [...recorded]),
      nextRequest: Queue.take(arrivals),
      closed: (request) =>
        Effect.suspend(() => {
          const closed = closes.get(request.index)
          return closed === undefined ? Effect.dieMessage(`no request ${request.index}`) : Deferred.await(closed)
        })
    }
  })

/** The Messages API fake; by default it answers `Hello from the fake` (streamed in three pieces). */
export const make = (options: { readonly fallback?: Reply } = {}): Effect.Effect<Service, never, Scope.Scope> =>
  serve(options.fallback ?? text(["Hello", " from", " the fake"]))

/** The fake as a service: `AnthropicServer.layer` starts one for the test's scope. */
export class AnthropicServer extends Context.Tag("test/fakes/AnthropicServer")<AnthropicServer, Service>() {
  static readonly layer: Layer.Layer<AnthropicServer> = Layer.scoped(AnthropicServer, make())
  static readonly layerWith = (options: { readonly fallback?: Reply }): Layer.Layer<AnthropicServer> =>
    Layer.scoped(AnthropicServer, make(options))
}

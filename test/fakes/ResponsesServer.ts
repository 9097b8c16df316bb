/**
 * A scripted fake of OpenAI's Responses API (`POST /responses`) on a loopback port, for tests.
 *
 *   const server = yield* ResponsesServer             // with ResponsesServer.layer provided
 *   yield* server.reply(Responses.text(["Hel", "lo"], { inputTokens: 12, outputTokens: 2 }))
 *   // ...point a provider at server.baseUrl (it ends in /v1, as OpenAI's does)...
 *   const request = yield* server.nextRequest         // path, headers, JSON body
 *   yield* server.closed(request)                     // its connection is gone
 *
 * Replies are used one per request in arrival order; when none is queued the `fallback` answers.
 * `text` answers in the form the request asks for: SSE (`response.created`, `response.in_progress`,
 * `response.output_item.added`, `response.content_part.added`, `response.output_text.delta`...,
 * the `.done` events, then `response.completed` with usage, or `response.incomplete` with
 * `incomplete_details.reason` when it stops on `max_output_tokens`) when its body has
 * `stream: true`, else the JSON response object. The shapes are the ones @effect/ai-openai decodes
 * (it skips events it cannot decode, so a wrong shape would go unnoticed: the tests check them).
 *
 * `functionCalls(calls)` answers with `function_call` items (streamed as `output_item.added`, then
 * `function_call_arguments.delta` pieces, `.done` and `output_item.done`).
 *
 * The server machinery (recording, scripting, `closed`) is the one of ./server.ts.
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

export interface TextOptions {
  /** The answer stopped on `max_output_tokens`: status `incomplete`, finish reason `length`. */
  readonly incomplete?: boolean | undefined
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  /** The model the answer names; default: the request's `model`. */
  readonly model?: string | undefined
}

const RESPONSE_ID = "resp_fake"
const ITEM_ID = "msg_fake"

type Status = "in_progress" | "completed" | "incomplete"

const usageOf = (options: TextOptions, pieces: ReadonlyArray<string>) => {
  const input = options.inputTokens ?? 10
  const output = options.outputTokens ?? pieces.length
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + output
  }
}

const outputText = (text: string) => ({ type: "output_text", text, annotations: [], logprobs: [] })

const messageItem = (status: Status, text: string | undefined) => ({
  id: ITEM_ID,
  type: "message",
  status,
  role: "assistant",
  content: text === undefined ? [] : [outputText(text)]
})

/** A Responses API response object. */
export const responseObject = (options: {
  readonly status: Status
  readonly model: string
  readonly output: ReadonlyArray<unknown>
  readonly usage: ReturnType<typeof usageOf> | null
  readonly incomplete?: boolean | undefined
}) => ({
  id: RESPONSE_ID,
  object: "response",
  created_at: 1_750_000_000,
  status: options.status,
  error: null,
  incomplete_details: options.incomplete === true ? { reason: "max_output_tokens" } : null,
  instructions: null,
  max_output_tokens: null,
  model: options.model,
  output: options.output,

  parallel_tool_calls: true,
  previous_response_id: null,
  temperature: 1,
  top_p: 1,
  tool_choice: "auto",
  tools: [],
  usage: options.usage,
  metadata: {}
})

const created = (model: string) => [
  {
    type: "response.created",
    sequence_number: 0,
    response: responseObject({ status: "in_progress", model, output: [], usage: null })
  },
  {
    type: "response.in_progress",
    sequence_number: 1,
    response: responseObject({ status: "in_progress", model, output: [], usage: null })
  },
  {
    type: "response.output_item.added",
    sequence_number: 2,
    output_index: 0,
    item: messageItem("in_progress", undefined)
  },
  {
    type: "response.content_part.added",
    sequence_number: 3,
    output_index: 0,
    content_index: 0,
    item_id: ITEM_ID,
    part: { type: "output_text", text: "", annotations: [] }
  }
]

const textDelta = (delta: string, sequence: number) => ({
  type: "response.output_text.delta",
  sequence_number: sequence,
  output_index: 0,
  content_index: 0,
  item_id: ITEM_ID,
  delta,
  logprobs: []
})

/** The events of a streamed text answer, in the API's order. */
export const textEvents = (
  pieces: ReadonlyArray<string>,
  model: string,
  options: TextOptions = {}
): Array<SseEvent> => {
  const answerModel = options.model ?? model
  const text = pieces.join("")
  const status: Status = options.incomplete === true ? "incomplete" : "completed"
  let sequence = 4
  const next = () => sequence++
  return [
    ...created(answerModel),
    ...pieces.map((piece) => textDelta(piece, next())),
    {
      type: "response.output_text.done",
      sequence_number: next(),
      output_index: 0,
      content_index: 0,
      item_id: ITEM_ID,
      text,
      logprobs: []
    },
    {
      type: "response.content_part.done",
      sequence_number: next(),
      output_index: 0,
      content_index: 0,
      item_id: ITEM_ID,
      part: outputText(text)
    },
    { type: "response.output_item.done", sequence_number: next(), output_index: 0, item: messageItem(status, text) },
    {
      type: options.incomplete === true ? "response.incomplete" : "response.completed",
      sequence_number: next(),
      response: responseObject({
        status,
        model: answerModel,
        output: [messageItem(status, text)],
        usage: usageOf(options, pieces),
        incomplete: options.incomplete
      })
    }
  ]
}

/** The JSON response object of a non-stream text answer. */
export const textResponse = (pieces: ReadonlyArray<string>, model: string, options: TextOptions = {}) => {
  const status: Status = options.incomplete === true ? "incomplete" : "completed"
  return responseObject({
    status,
    model: options.model ?? model,
    output: [messageItem(status, pieces.join(""))],
    usage: usageOf(options, pieces),
    incomplete: options.incomplete
  })
}

const MODEL = "gpt-fake"

/** A text answer, streamed piece by piece or as one JSON response, as the request asks. */
export const text = (pieces: string | ReadonlyArray<string>, options: TextOptions = {}): Reply => (request) => {
  const parts = typeof pieces === "string" ? [pieces] : pieces
  return wantsStream(request)
    ? sse(textEvents(parts, requestedModel(request, MODEL), options).map(sseFrame))
    : json(200, textResponse(parts, requestedModel(request, MODEL), options))
}

/** A function call the fake answers with; `arguments` is streamed in these pieces of JSON text. */
export interface FakeFunctionCall {
  readonly callId: string
  readonly name: string
  readonly arguments: ReadonlyArray<string>
}

const functionCallItem = (call: FakeFunctionCall, index: number, status: Status, args: string) => ({
  id: `fc_fake_${index}`,
  type: "function_call",
  status,
  call_id: call.callId,
  name: call.name,
  arguments: args
})

/** The events of a streamed answer that calls functions, in the API's order. */
export const functionCallEvents = (
  calls: ReadonlyArray<FakeFunctionCall>,
  model: string,
  options: TextOptions = {}
) => {
  const answerModel = options.model ?? model
  let sequence = 0
  const next = () => sequence++
  const items = calls.map((call, index) => functionCallItem(call, index, "completed", call.arguments.join("")))
  return [
    {
      type: "response.created",
      sequence_number: next(),
      response: responseObject({ status: "in_progress", model: answerModel, output: [], usage: null })
    },
    {
      type: "response.in_progress",
      sequence_number: next(),
      response: responseObject({ status: "in_progress", model: answerModel, output: [], usage: null })
    },
    ...calls.flatMap((call, index) => [
      {
        type: "response.output_item.added",
        sequence_number: next(),
        output_index: index,
        item: functionCallItem(call, index, "in_progress", "")
      },
      ...call.arguments.map((delta) => ({
        type: "response.function_call_arguments.delta",
        sequence_number: next(),
        output_index: index,
        item_id: `fc_fake_${index}`,
        delta
      })),
      {
        type: "response.function_call_arguments.done",
        sequence_number: next(),
        output_index: index,
        item_id: `fc_fake_${index}`,
        arguments: call.arguments.join("")
      },
      { type: "response.output_item.done", sequence_number: next(), output_index: index, item: items[index] }
    ]),
    {
      type: "response.completed",
      sequence_number: next(),
      response: responseObject({
        status: "completed",
        model: answerModel,
        output: items,
        usage: usageOf(options, calls.map((call) => call.name))
      })
    }
  ]
}

/** An answer that calls functions, streamed or as one JSON response, as the request asks. */
export const functionCalls = (
  calls: ReadonlyArray<
    { readonly callId: string; readonly name: string; readonly arguments: string | ReadonlyArray<string> }
  >,
  options: TextOptions = {}
): Reply =>
(request) => {
  const model = requestedModel(request, MODEL)
  const fakes = calls.map((call) => ({
    ...call,
    arguments: typeof call.arguments === "string" ? [call.arguments] : call.arguments
  }))
  return wantsStream(request)
    ? sse(functionCallEvents(fakes, model, options).map(sseFrame))
    : json(
      200,
      responseObject({
        status: "completed",
        model: options.model ?? model,
        output: fakes.map((call, index) => functionCallItem(call, index, "completed", call.arguments.join(""))),
        usage: usageOf(options, fakes.map((call) => call.name))
      })
    )
}

/**
 * A stream that sends its start and one text piece, then hangs until the client goes away. A
 * non-stream request gets nothing at all (it waits for its answer).
 */
export const hangAfter = (piece: string): Reply => (request) =>
  wantsStream(request)
    ? sse([...created(requestedModel(request, MODEL)), textDelta(piece, 4)].map(sseFrame), { hang: true })
    : silence

/**
 * A stream that sends one text piece, then an `error` event and `response.failed`, and ends. The
 * library reports the `error` event as an `error` part (and `response.failed` as a finish part).
 */
export const failAfter = (piece: string, options: { readonly message?: string } = {}): Reply => (request) => {
  const model = requestedModel(request, MODEL)
  const message = options.message ?? "The server had an error while processing your request."
  return sse([
    ...created(model),
    textDelta(piece, 4),
    { type: "error", sequence_number: 5, code: "server_error", message, param: null },
    {
      type: "response.failed",
      sequence_number: 6,
      response: {
        ...responseObject({ status: "in_progress", model, output: [], usage: null }),
        status: "failed",
        error: { code: "server_error", message }
      }
    }
  ].map(sseFrame))
}

const errorTypes: Record<number, { readonly type: string; readonly code: string | null }> = {
  400: { type: "invalid_request_error", code: null },
  401: { type: "invalid_request_error", code: "invalid_api_key" },
  403: { type: "invalid_request_error", code: "unsupported_country_region_territory" },
  404: { type: "invalid_request_error", code: "model_not_found" },
  429: { type: "requests", code: "rate_limit_exceeded" },
  500: { type: "server_error", code: null },
  503: { type: "server_error", code: null }
}

/** An error status with OpenAI's error body (or `body` as given), and `Retry-After` when set. */
export const error = (
  status: number,
  options: { readonly retryAfter?: string; readonly body?: unknown; readonly message?: string } = {}
): Reply =>
() =>
  json(
    status,
    options.body ?? {
      error: {
        message: options.message ?? `fake error ${status}`,
        type: errorTypes[status]?.type ?? "server_error",
        param: null,
        code: errorTypes[status]?.code ?? null
      }
    },
    options.retryAfter === undefined ? {} : { "retry-after": options.retryAfter }
  )

/**
 * The Responses API fake; by default it answers `Hello from the fake` (streamed in three pieces).
 * Its `baseUrl` ends in `/v1`, like `https://api.openai.com/v1`.
 */
export const make = (options: { readonly fallback?: Reply } = {}): Effect.Effect<Service, never, Scope.Scope> =>
  serve(options.fallback ?? text(["Hello", " from", " the fake"]), "/v1")

/** The fake as a service: `ResponsesServer.layer` starts one for the test's scope. */
export class ResponsesServer extends Context.Tag("test/fakes/ResponsesServer")<ResponsesServer, Service>() {
  static readonly layer: Layer.Layer<ResponsesServer> = Layer.scoped(ResponsesServer, make())
  static readonly layerWith = (options: { readonly fallback?: Reply }): Layer.Layer<ResponsesServer> =>
    Layer.scoped(ResponsesServer, make(options))
}

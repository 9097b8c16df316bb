/**
 * The gateway's answers as a client reads them: the wire shapes as Schemas (so a test reads typed
 * fields and a wrong shape fails it; fields the Schema does not name are kept, so `toEqual` still
 * sees them), and readers of SSE events and JSON bodies.
 */
import * as Schema from "effect/Schema"
import { isRecord } from "./json.js"

export const ErrorBody = Schema.Struct({
  error: Schema.Struct({
    message: Schema.String,
    type: Schema.String,
    param: Schema.NullOr(Schema.String),
    code: Schema.NullOr(Schema.String)
  })
})
export type ErrorBody = typeof ErrorBody.Type

const WireUsage = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  total_tokens: Schema.Number
})

/** What a completion and each chunk of a stream have alike. */
const answerFields = {
  id: Schema.String,
  object: Schema.String,
  created: Schema.Number,
  model: Schema.String,
  usage: Schema.optional(WireUsage)
}

export const Completion = Schema.Struct({
  ...answerFields,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Number,
    message: Schema.Struct({ role: Schema.String, content: Schema.NullOr(Schema.String) }),
    logprobs: Schema.optional(Schema.Unknown),
    finish_reason: Schema.NullOr(Schema.String)
  }))
})
export type Completion = typeof Completion.Type

/** A piece of a streamed call: a tool call's (with its `index`) or a legacy `function_call`'s. */
const CallDelta = Schema.Struct({
  name: Schema.optional(Schema.String),
  arguments: Schema.optional(Schema.String)
})

export const Chunk = Schema.Struct({
  ...answerFields,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Number,
    delta: Schema.Struct({
      role: Schema.optional(Schema.String),
      content: Schema.optional(Schema.String),
      tool_calls: Schema.optional(Schema.Array(Schema.Struct({
        index: Schema.Number,
        id: Schema.optional(Schema.String),
        type: Schema.optional(Schema.String),
        function: CallDelta
      }))),
      function_call: Schema.optional(CallDelta)
    }),
    logprobs: Schema.optional(Schema.Unknown),
    finish_reason: Schema.NullOr(Schema.String)
  }))
})
export type Chunk = typeof Chunk.Type

/** Decodes `json` as `schema`, keeping the fields it does not name; fails the test on another shape. */
export const decodeAs = <A, I>(schema: Schema.Schema<A, I>) => (json: unknown): A =>
  Schema.decodeUnknownSync(schema, { onExcessProperty: "preserve" })(json)

/** A UUID in its usual text form, as a regular expression source. */
export const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

/** The `x-request-id` the gateway gives every answer. */
export const REQUEST_ID = new RegExp(`^req_${UUID}$`)

/** The `id` of a completion, and of each chunk of a stream. */
export const COMPLETION_ID = new RegExp(`^chatcmpl_${UUID}$`)

// ---------------------------------------------------------------------------------------------
// SSE events
// ---------------------------------------------------------------------------------------------

export const DONE = "data: [DONE]"

/** The JSON of a `data:` event that carries JSON (not `[DONE]`, not a comment). */
export const dataOf = (event: string): unknown => {
  if (!event.startsWith("data: {")) throw new Error(`not a JSON data event: ${JSON.stringify(event)}`)
  return JSON.parse(event.slice("data: ".length))
}

/** An in-band `data: {"error": ...}` event's `error`. */
export const inBandError = (event: string): Record<string, unknown> | undefined => {
  if (!event.startsWith("data: {")) return undefined
  const data = dataOf(event)
  return isRecord(data) && isRecord(data.error) ? data.error : undefined
}

export const isError = (event: string) => inBandError(event) !== undefined

/** A `data:` event with a chunk (not `[DONE]`, not an in-band error, not a comment). */
export const isChunk = (event: string) => event.startsWith("data: {") && !isError(event)

export const chunkOf = (event: string): Chunk => decodeAs(Chunk)(dataOf(event))

/** The chunks among `events`. */
export const chunksOf = (events: ReadonlyArray<string>): ReadonlyArray<Chunk> => events.filter(isChunk).map(chunkOf)

/** What the agent said in a chunk event: its content, when it has some and no role. */
export const contentOf = (event: string): string | undefined => {
  if (!isChunk(event)) return undefined
  const delta = chunkOf(event).choices[0]?.delta
  return delta?.role === undefined && delta?.content !== undefined && delta.content !== "" ? delta.content : undefined
}

export const isContent = (event: string) => contentOf(event) !== undefined

/** The content pieces of `events`, in order. */
export const contentsOf = (events: ReadonlyArray<string>): ReadonlyArray<string> =>
  events.flatMap((event) => contentOf(event) ?? [])

/** All that the agent said in `events`. */
export const streamedText = (events: ReadonlyArray<string>) => contentsOf(events).join("")

/** The finish reasons the chunks among `events` carry. */
export const finishReasons = (events: ReadonlyArray<string>): ReadonlyArray<string> =>
  chunksOf(events).flatMap((chunk) => chunk.choices.flatMap((choice) => choice.finish_reason ?? []))

/** What (the rest of) a stream says: its text, its finish reasons, its in-band errors, its last event. */
export const summaryOf = (events: ReadonlyArray<string>) => ({
  text: streamedText(events),
  finishReasons: finishReasons(events),
  errors: events.filter(isError),
  last: events.at(-1)
})

/** The summary of a stream that says `text` and ends normally: finish reason `stop`, then `[DONE]`. */
export const endsNormally = (text: string): ReturnType<typeof summaryOf> => ({
  text,
  finishReasons: ["stop"],
  errors: [],
  last: DONE
})

// ---------------------------------------------------------------------------------------------
// JSON bodies
// ---------------------------------------------------------------------------------------------

/** The answer's text, from a completion body (fails the test on another shape, or without text). */
export const answerText = (json: unknown): string => {
  const content = decodeAs(Completion)(json).choices[0]?.message.content
  if (typeof content !== "string") throw new Error(`not an answer with text: ${JSON.stringify(json)}`)
  return content
}

/** The `error` of an error body (fails the test on another shape). */
export const errorOf = (json: unknown): ErrorBody["error"] => decodeAs(ErrorBody)(json).error

/**
 * The OpenAI Chat Completions wire format: the request schema (loose where clients are loose,
 * strict where a value would be misread) and the shapes of answers, chunks and errors.
 */
import * as Schema from "effect/Schema"
import type { FinishReason, Usage } from "./AgentRunner.js"

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/** OpenAI's optional fields may also be sent as `null`. */
const nullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

const TextPart = Schema.Struct({
  type: Schema.Literal("text", "input_text"),
  text: Schema.String
})

const ImagePart = Schema.Struct({
  type: Schema.Literal("image_url"),
  image_url: Schema.Union(Schema.String, Schema.Struct({ url: Schema.String, detail: nullable(Schema.String) }))
})

const knownPartTypes: ReadonlyArray<string> = ["text", "input_text", "image_url"]

/** Parts the gateway does not use (audio, files, refusals): accepted and ignored. */
const OtherPart = Schema.Struct({
  type: Schema.String.pipe(Schema.filter((type) => !knownPartTypes.includes(type)))
})

export const ContentPart = Schema.Union(TextPart, ImagePart, OtherPart)
export type ContentPart = typeof ContentPart.Type

export const Message = Schema.Struct({
  role: Schema.Literal("system", "developer", "user", "assistant", "tool", "function"),
  content: nullable(Schema.Union(Schema.String, Schema.Array(ContentPart))),
  name: nullable(Schema.String),
  tool_call_id: nullable(Schema.String)
})
export type Message = typeof Message.Type

export const ChatCompletionRequest = Schema.Struct({
  model: nullable(Schema.String),
  messages: Schema.Array(Message).pipe(Schema.minItems(1, { message: () => "must contain at least one message" })),
  stream: nullable(Schema.Boolean),
  stream_options: nullable(Schema.Struct({ include_usage: nullable(Schema.Boolean) })),
  temperature: nullable(Schema.Number.pipe(Schema.between(0, 2))),
  top_p: nullable(Schema.Number.pipe(Schema.between(0, 1))),
  max_tokens: nullable(Schema.Int.pipe(Schema.positive())),
  max_completion_tokens: nullable(Schema.Int.pipe(Schema.positive())),
  stop: nullable(Schema.Union(Schema.String, Schema.Array(Schema.String).pipe(Schema.maxItems(4)))),
  seed: nullable(Schema.Int),
  n: nullable(Schema.Literal(1).annotations({ message: () => "only n = 1 is supported" })),
  user: nullable(Schema.String.pipe(Schema.maxLength(512)))
})
export type ChatCompletionRequest = typeof ChatCompletionRequest.Type

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

export interface WireUsage {
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly total_tokens: number
}

export const usage = (usage: Usage): WireUsage => ({
  prompt_tokens: usage.promptTokens,
  completion_tokens: usage.completionTokens,
  total_tokens: usage.promptTokens + usage.completionTokens
})

/** What every answer and chunk of one response shares. */
export interface Envelope {
  readonly id: string
  readonly created: number
  readonly model: string
}

export const completion = (
  envelope: Envelope,
  reply: { readonly text: string; readonly finishReason: FinishReason; readonly usage: Usage | undefined }
) => ({
  id: envelope.id,
  object: "chat.completion",
  created: envelope.created,
  model: envelope.model,
  choices: [{
    index: 0,
    message: { role: "assistant", content: reply.text },
    logprobs: null,
    finish_reason: reply.finishReason
  }],
  ...(reply.usage && { usage: usage(reply.usage) })
})

export interface Delta {
  readonly role?: "assistant"
  readonly content?: string
}

export const chunk = (envelope: Envelope, delta: Delta, finishReason: FinishReason | null = null) => ({
  id: envelope.id,
  object: "chat.completion.chunk",
  created: envelope.created,
  model: envelope.model,
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }]
})

export const usageChunk = (envelope: Envelope, value: Usage) => ({
  id: envelope.id,
  object: "chat.completion.chunk",
  created: envelope.created,
  model: envelope.model,
  choices: [],
  usage: usage(value)
})

export interface ErrorBody {
  readonly error: {
    readonly message: string
    readonly type: string
    readonly param: string | null
    readonly code: string | null
  }
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events framing: every event ends with a blank line
// ---------------------------------------------------------------------------------------------

const encoder = new TextEncoder()

export const sseData = (value: unknown): Uint8Array => encoder.encode(`data: ${JSON.stringify(value)}\n\n`)
export const sseDone: Uint8Array = encoder.encode("data: [DONE]\n\n")
export const sseKeepAlive: Uint8Array = encoder.encode(": keep-alive\n\n")

/**
 * What the `openai-completions` provider reads: a Chat Completions answer and the events of a
 * streamed one (servers add fields of their own; only these are read), as @effect/ai parts.
 */
import * as AiError from "@effect/ai/AiError"
import * as IdGenerator from "@effect/ai/IdGenerator"
import type * as Response from "@effect/ai/Response"
import * as Tool from "@effect/ai/Tool"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { jsonText } from "./Request.js"

export const MODULE = "OpenAiCompletions"

/** A tool call of an answer; servers differ in which fields they always send. */
const WireToolCall = Schema.Struct({
  id: Schema.optional(Schema.NullOr(Schema.String)),
  function: Schema.Struct({
    name: Schema.String,
    arguments: Schema.optional(Schema.NullOr(Schema.String))
  })
})

/** A piece of a streamed tool call: the first of a call has its id and name. */
export const WireToolCallDelta = Schema.Struct({
  index: Schema.optional(Schema.Number),
  id: Schema.optional(Schema.NullOr(Schema.String)),
  function: Schema.optional(Schema.NullOr(Schema.Struct({
    name: Schema.optional(Schema.NullOr(Schema.String)),
    arguments: Schema.optional(Schema.NullOr(Schema.String))
  })))
})

export const WireUsage = Schema.Struct({
  prompt_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
  completion_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
  total_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
  prompt_tokens_details: Schema.optional(Schema.NullOr(Schema.Struct({
    cached_tokens: Schema.optional(Schema.NullOr(Schema.Number))
  }))),
  completion_tokens_details: Schema.optional(Schema.NullOr(Schema.Struct({
    reasoning_tokens: Schema.optional(Schema.NullOr(Schema.Number))
  })))
})
export type WireUsage = typeof WireUsage.Type

const FinishReasonWire = Schema.optional(Schema.NullOr(Schema.String))

export const Completion = Schema.Struct({
  id: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  choices: Schema.Array(Schema.Struct({
    message: Schema.Struct({
      content: Schema.optional(Schema.NullOr(Schema.String)),
      tool_calls: Schema.optional(Schema.NullOr(Schema.Array(WireToolCall)))
    }),
    finish_reason: FinishReasonWire
  })),
  usage: Schema.optional(Schema.NullOr(WireUsage))
})

/** One SSE event's data. Servers add fields of their own; only these are read. */
export const StreamChunk = Schema.Struct({
  id: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  choices: Schema.optional(Schema.NullOr(Schema.Array(Schema.Struct({
    delta: Schema.optional(Schema.NullOr(Schema.Struct({
      content: Schema.optional(Schema.NullOr(Schema.String)),
      tool_calls: Schema.optional(Schema.NullOr(Schema.Array(WireToolCallDelta)))
    }))),
    finish_reason: FinishReasonWire
  })))),
  usage: Schema.optional(Schema.NullOr(WireUsage)),
  /** An upstream failure reported in-band, after the 200. */
  error: Schema.optional(Schema.Unknown)
})
export const decodeChunk = Schema.decodeUnknownEither(Schema.parseJson(StreamChunk))

export const toFinishReason = (reason: string | null | undefined): Response.FinishReason => {
  switch (reason) {
    case "stop":
      return "stop"
    case "length":
      return "length"
    case "tool_calls":
    case "function_call":
      return "tool-calls"
    case "content_filter":
      return "content-filter"
    case null:
    case undefined:
      return "unknown"
    default:
      return "other"
  }
}

export const toUsage = (usage: WireUsage | null | undefined): typeof Response.Usage.Encoded => {
  const input = usage?.prompt_tokens ?? undefined
  const output = usage?.completion_tokens ?? undefined
  const reasoning = usage?.completion_tokens_details?.reasoning_tokens ?? undefined
  const cached = usage?.prompt_tokens_details?.cached_tokens ?? undefined
  return {
    inputTokens: input,
    outputTokens: output,
    totalTokens: usage?.total_tokens ?? (input !== undefined && output !== undefined ? input + output : undefined),
    ...(reasoning !== undefined && { reasoningTokens: reasoning }),
    ...(cached !== undefined && { cachedInputTokens: cached })
  }
}

/**
 * A tool call's arguments as their JSON value (none at all: `{}`), as the provider libraries read
 * them; arguments that are not JSON are the server's fault.
 */
export const parseArguments = (provider: string, method: string, name: string, text: string | null | undefined) =>
  Effect.try({
    try: () => (text === null || text === undefined || text.trim() === "" ? {} : Tool.unsafeSecureJsonParse(text)),
    catch: (cause) =>
      new AiError.MalformedOutput({
        module: MODULE,
        method,
        description: `${provider} sent arguments for the tool '${name}' that are not JSON`,
        cause
      })
  })

/** A tool call's id; one is made up for servers that send none. */
export const callId = (id: string | null | undefined) =>
  id !== null && id !== undefined && id !== ""
    ? Effect.succeed(id)
    : Effect.flatMap(IdGenerator.IdGenerator, (ids) => ids.generateId())

/** The text of an in-band `{"error": ...}`: its message when it has one. */
export const errorText = (error: unknown): string => {
  if (typeof error === "string") return error
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
    return error.message
  }
  return jsonText(error)
}

/**
 * What the `openai-completions` provider reads: a Chat Completions answer as the run's reply, and the
 * events of a streamed one as the run's events. Servers add fields of their own; only these are
 * read, and each is checked with Schema.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import { AgentEvent, type AgentReply, type FinishReason, type ToolCall, type Usage } from "../../domain/AgentEvent.js"
import { ProviderFailed } from "../../domain/Errors.js"
import { cutShort, failedMidStream, malformed, toolArguments } from "../ProviderErrors.js"

const nullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

/** A tool call of an answer; servers differ in which fields they always send. */
const WireToolCall = Schema.Struct({
  id: nullable(Schema.String),
  function: Schema.Struct({ name: Schema.String, arguments: nullable(Schema.String) })
})

/** A piece of a streamed tool call: the first of a call has its id and name. */
const WireToolCallDelta = Schema.Struct({
  index: Schema.optional(Schema.Number),
  id: nullable(Schema.String),
  function: nullable(Schema.Struct({ name: nullable(Schema.String), arguments: nullable(Schema.String) }))
})

const WireUsage = Schema.Struct({
  prompt_tokens: nullable(Schema.Number),
  completion_tokens: nullable(Schema.Number)
})

const Completion = Schema.parseJson(Schema.Struct({
  choices: Schema.Array(Schema.Struct({
    message: Schema.Struct({ content: nullable(Schema.String), tool_calls: nullable(Schema.Array(WireToolCall)) }),
    finish_reason: nullable(Schema.String)
  })),
  usage: nullable(WireUsage)
}))
const decodeCompletion = Schema.decodeUnknownEither(Completion)

/** One SSE event's data, once parsed as JSON. */
export const StreamChunk = Schema.Struct({
  choices: nullable(Schema.Array(Schema.Struct({
    delta: nullable(Schema.Struct({
      content: nullable(Schema.String),
      tool_calls: nullable(Schema.Array(WireToolCallDelta))
    })),
    finish_reason: nullable(Schema.String)
  }))),
  usage: nullable(WireUsage),
  /** An upstream failure reported in-band, after the 200. */
  error: Schema.optional(Schema.Unknown)
})
type StreamChunk = typeof StreamChunk.Type
const decodeChunkText = Schema.decodeUnknownEither(Schema.parseJson(StreamChunk))
const decodeChunk = Schema.decodeUnknownEither(StreamChunk)

const isObject = (value: unknown): value is { readonly [key: string]: unknown } =>
  typeof value === "object" && value !== null && !Array.isArray(value)
const isAbsent = (value: unknown) => value === undefined || value === null
const isTextOrAbsent = (value: unknown) => isAbsent(value) || typeof value === "string"
const isCountOrAbsent = (value: unknown) => isAbsent(value) || typeof value === "number"

/**
 * Whether parsed JSON is a chunk of the common kind, text and a finish reason (no tool calls, no
 * error), checked by hand: what the Schema accepts too (the tests hold it to that), in a fraction
 * of its time, for what a stream carries at every token. Anything else goes through the Schema.
 */
export const isTextChunk = (json: unknown): json is StreamChunk => {
  if (!isObject(json) || json.error !== undefined) return false
  const { choices, usage } = json
  if (
    !(isAbsent(usage) || (isObject(usage) && isCountOrAbsent(usage.prompt_tokens) &&
      isCountOrAbsent(usage.completion_tokens)))
  ) return false
  if (isAbsent(choices)) return true
  if (!Array.isArray(choices)) return false
  for (const choice of choices) {
    if (!isObject(choice) || !isTextOrAbsent(choice.finish_reason)) return false
    const delta = choice.delta
    if (isAbsent(delta)) continue
    if (!isObject(delta) || !isTextOrAbsent(delta.content) || !isAbsent(delta.tool_calls)) return false
  }
  return true
}

/** One SSE event's data as a chunk: a text chunk checked by hand, any other through the Schema. */
const chunkOf = (data: string): Either.Either<StreamChunk, unknown> => {
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch {
    return decodeChunkText(data)
  }
  return isTextChunk(json) ? Either.right(json) : decodeChunk(json)
}

/** The provider's finish reason; an answer that called tools finishes with `tool_calls`, as OpenAI's do. */
const finishReasonOf = (reason: string | null | undefined, calledTools: boolean): FinishReason => {
  const mapped: FinishReason = reason === "length"
    ? "length"
    : reason === "tool_calls" || reason === "function_call"
    ? "tool_calls"
    : reason === "content_filter"
    ? "content_filter"
    : "stop"
  return calledTools && mapped === "stop" ? "tool_calls" : mapped
}

const usageOf = (usage: typeof WireUsage.Type | null | undefined): Usage | undefined => {
  const prompt = usage?.prompt_tokens ?? undefined
  const completion = usage?.completion_tokens ?? undefined
  return prompt === undefined && completion === undefined
    ? undefined
    : { promptTokens: prompt ?? 0, completionTokens: completion ?? 0 }
}

/** A tool call's id; one is made up for servers that send none. */
const callIdOf = (id: string | null | undefined) =>
  id !== null && id !== undefined && id !== "" ? id : `call_${Crypto.randomBytes(12).toString("hex")}`

/** A JSON answer (its body's text) as the run's reply. */
export const replyOf = (provider: string, text: string): Either.Either<AgentReply, ProviderFailed> =>
  Either.flatMap(
    Either.mapLeft(decodeCompletion(text), (error) => malformed(provider, "an unexpected body", error)),
    (completion) => {
      const choice = completion.choices[0]
      const toolCalls: Array<ToolCall> = []
      for (const call of choice?.message.tool_calls ?? []) {
        const args = toolArguments(provider, call.function.name, call.function.arguments ?? "")
        if (Either.isLeft(args)) return Either.left(args.left)
        toolCalls.push({ id: callIdOf(call.id), name: call.function.name, arguments: args.right })
      }
      return Either.right({
        text: choice?.message.content ?? "",
        ...(toolCalls.length > 0 && { toolCalls }),
        finishReason: finishReasonOf(choice?.finish_reason, toolCalls.length > 0),
        usage: usageOf(completion.usage)
      })
    }
  )

/**
 * Reads a streamed answer an SSE event's data at a time, as the run's events: text deltas, each
 * tool call's start and its arguments as they come, then at the end (`[DONE]`, or the body's end
 * once a finish reason came) usage and the finish reason. A stream cut short, an in-band error or an
 * event that is not a chunk is a `ProviderFailed`.
 */
export const makeStreamReader = (provider: string) => {
  let finishReason: string | null | undefined
  let usage: Usage | undefined
  /** The tool calls under way, by their index in the answer, with the arguments they had so far. */
  const calls = new Map<number, { readonly id: string; readonly name: string; args: string }>()

  const ending = (): Either.Either<ReadonlyArray<AgentEvent>, ProviderFailed> => {
    const events: Array<AgentEvent> = []
    for (const [, call] of [...calls].sort(([a], [b]) => a - b)) {
      const args = toolArguments(provider, call.name, call.args)
      if (Either.isLeft(args)) return Either.left(args.left)
      // A call whose arguments were not streamed gets them whole.
      if (call.args === "") events.push(AgentEvent.ToolCallDelta({ id: call.id, arguments: args.right }))
    }
    if (usage !== undefined) events.push(AgentEvent.Usage({ usage }))
    events.push(AgentEvent.Finish({ reason: finishReasonOf(finishReason, calls.size > 0) }))
    return Either.right(events)
  }

  return {
    /** The events of one SSE event's data; `done` once the answer is over (`[DONE]`). */
    onEvent: (data: string, events: Array<AgentEvent>): Either.Either<"more" | "done", ProviderFailed> => {
      if (data.trim() === "[DONE]") return Either.map(ending(), (last) => (events.push(...last), "done" as const))
      const decoded = chunkOf(data)
      if (Either.isLeft(decoded)) return Either.left(malformed(provider, "an unexpected stream event", decoded.left))
      const chunk = decoded.right
      if (chunk.error !== undefined && chunk.error !== null) {
        return Either.left(failedMidStream(provider, chunk.error))
      }
      usage = usageOf(chunk.usage) ?? usage
      for (const choice of chunk.choices ?? []) {
        const text = choice.delta?.content
        if (text !== undefined && text !== null && text !== "") events.push(AgentEvent.TextDelta({ text }))
        const pieces = choice.delta?.tool_calls ?? []
        for (let position = 0; position < pieces.length; position++) {
          const piece = pieces[position]!
          const index = piece.index ?? position
          let call = calls.get(index)
          if (call === undefined) {
            call = { id: callIdOf(piece.id), name: piece.function?.name ?? "", args: "" }
            calls.set(index, call)
            events.push(AgentEvent.ToolCallStart({ id: call.id, name: call.name }))
          }
          const args = piece.function?.arguments
          if (args !== undefined && args !== null && args !== "") {
            call.args += args
            events.push(AgentEvent.ToolCallDelta({ id: call.id, arguments: args }))
          }
        }
        if (choice.finish_reason !== undefined && choice.finish_reason !== null) finishReason = choice.finish_reason
      }
      return Either.right("more")
    },
    /** The last events at the body's end: a stream that stops with neither `[DONE]` nor a finish reason was cut short. */
    onEnd: (): Either.Either<ReadonlyArray<AgentEvent>, ProviderFailed> =>
      finishReason === undefined
        ? Either.left(
          cutShort(provider)
        )
        : ending()
  }
}

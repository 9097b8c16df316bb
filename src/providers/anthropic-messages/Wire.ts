/**
 * What the `anthropic-messages` provider reads: a Messages API answer as the run's reply, and the
 * events of a streamed one as the run's events, as @effect/ai-anthropic read them: text, tool calls
 * (their start, their input's JSON as it streams, or whole when none streamed), the usage
 * (`input_tokens` of `message_start`, `output_tokens` of `message_delta`) and the finish reason
 * (`end_turn` and `stop_sequence` stop, `max_tokens` is length, `refusal` a content filter, a
 * turn that called tools `tool_calls`). Other blocks (thinking, the API's own tools) are not read.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { AgentEvent, type AgentReply, type FinishReason, type ToolCall, type Usage } from "../../domain/AgentEvent.js"
import { ProviderFailed } from "../../domain/Errors.js"
import { cutShort, failedMidStream, malformed, toolArguments } from "../ProviderErrors.js"
import type { StreamReader } from "../SseStream.js"

const nullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

const WireUsage = Schema.Struct({ input_tokens: nullable(Schema.Number), output_tokens: nullable(Schema.Number) })

const Block = Schema.Struct({
  type: Schema.String,
  text: Schema.optional(Schema.String),
  id: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  input: Schema.optional(Schema.Unknown)
})

const Message = Schema.parseJson(Schema.Struct({
  content: Schema.Array(Block),
  stop_reason: nullable(Schema.String),
  usage: nullable(WireUsage)
}))
const decodeMessage = Schema.decodeUnknownEither(Message)

/** The events of a stream this reader reads; others (`ping`, ones the API adds later) are skipped. */
const StreamEvent = Schema.Union(
  Schema.Struct({ type: Schema.Literal("message_start"), message: Schema.Struct({ usage: nullable(WireUsage) }) }),
  Schema.Struct({ type: Schema.Literal("content_block_start"), index: Schema.Number, content_block: Block }),
  Schema.Struct({
    type: Schema.Literal("content_block_delta"),
    index: Schema.Number,
    delta: Schema.Struct({
      type: Schema.String,
      text: Schema.optional(Schema.String),
      partial_json: Schema.optional(Schema.String)
    })
  }),
  Schema.Struct({ type: Schema.Literal("content_block_stop"), index: Schema.Number }),
  Schema.Struct({
    type: Schema.Literal("message_delta"),
    delta: Schema.Struct({ stop_reason: nullable(Schema.String) }),
    usage: nullable(WireUsage)
  }),
  Schema.Struct({ type: Schema.Literal("error"), error: Schema.Unknown }),
  Schema.Struct({ type: Schema.Literal("message_stop") })
)
const decodeEvent = Schema.decodeUnknownEither(StreamEvent)
const READ = new Set([
  "message_start",
  "content_block_start",
  "content_block_delta",
  "content_block_stop",
  "message_delta",
  "error",
  "message_stop"
])

/** An event's data as JSON with a `type`; `undefined` for one this reader skips. */
const eventOf = (data: string): Either.Either<typeof StreamEvent.Type | undefined, unknown> => {
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch (error) {
    return Either.left(error)
  }
  const type = typeof json === "object" && json !== null && "type" in json ? json.type : undefined
  if (typeof type !== "string") return Either.left("an event without a type")
  return READ.has(type) ? decodeEvent(json) : Either.right(undefined)
}

/** The text of an event's data when it is a text delta, read by hand: what a stream carries at every token. */
const TEXT_DELTA =
  /^\{"type":"content_block_delta","index":\d+,"delta":\{"type":"text_delta","text":("(?:[^"\\]|\\.)*")\}\}$/

const textOfDelta = (data: string): string | undefined => {
  const match = TEXT_DELTA.exec(data)
  if (match === null) return undefined
  const text: unknown = JSON.parse(match[1]!)
  return typeof text === "string" ? text : undefined
}

const finishReasonOf = (stopReason: string | null | undefined, calledTools: boolean): FinishReason => {
  const reason: FinishReason = stopReason === "max_tokens"
    ? "length"
    : stopReason === "refusal"
    ? "content_filter"
    : stopReason === "tool_use"
    ? "tool_calls"
    : "stop"
  return calledTools && reason === "stop" ? "tool_calls" : reason
}

const usageOf = (input: number | null | undefined, output: number | null | undefined): Usage | undefined =>
  input === undefined && output === undefined ? undefined : { promptTokens: input ?? 0, completionTokens: output ?? 0 }

/** A JSON answer (its body's text) as the run's reply. */
export const replyOf = (provider: string, text: string): Either.Either<AgentReply, ProviderFailed> =>
  Either.map(
    Either.mapLeft(decodeMessage(text), (error) => malformed(provider, "an unexpected body", error)),
    (message) => {
      let said = ""
      const toolCalls: Array<ToolCall> = []
      for (const block of message.content) {
        if (block.type === "text") said += block.text ?? ""
        else if (block.type === "tool_use") {
          toolCalls.push({ id: block.id ?? "", name: block.name ?? "", arguments: JSON.stringify(block.input ?? {}) })
        }
      }
      return {
        text: said,
        ...(toolCalls.length > 0 && { toolCalls }),
        finishReason: finishReasonOf(message.stop_reason, toolCalls.length > 0),
        usage: usageOf(message.usage?.input_tokens, message.usage?.output_tokens)
      }
    }
  )

/**
 * Reads a streamed answer an SSE event's data at a time, as the run's events, until `message_stop`
 * (then the usage and the finish reason). An in-band `error` event, an event that is not the API's
 * or a stream that ends before `message_stop` is a `ProviderFailed`.
 */
export const makeStreamReader = (provider: string): StreamReader => {
  let inputTokens: number | null | undefined
  let outputTokens: number | null | undefined
  let stopReason: string | null | undefined
  /** The tool calls under way, by their block's index, with the input's JSON so far. */
  const calls = new Map<number, { readonly id: string; readonly name: string; input: string }>()
  let calledTools = false

  return {
    onEvent: (data, events) => {
      const text = textOfDelta(data)
      if (text !== undefined) {
        if (text !== "") events.push(AgentEvent.TextDelta({ text }))
        return Either.right("more")
      }
      const decoded = eventOf(data)
      if (Either.isLeft(decoded)) return Either.left(malformed(provider, "an unexpected stream event", decoded.left))
      const event = decoded.right
      switch (event?.type) {
        case "message_start":
          inputTokens = event.message.usage?.input_tokens
          break
        case "content_block_start":
          if (event.content_block.type === "tool_use") {
            const call = { id: event.content_block.id ?? "", name: event.content_block.name ?? "", input: "" }
            calls.set(event.index, call)
            calledTools = true
            events.push(AgentEvent.ToolCallStart({ id: call.id, name: call.name }))
          }
          break
        case "content_block_delta": {
          const { delta } = event
          if (delta.type === "text_delta" && delta.text !== undefined && delta.text !== "") {
            events.push(AgentEvent.TextDelta({ text: delta.text }))
          }
          const call = calls.get(event.index)
          if (delta.type === "input_json_delta" && call !== undefined && delta.partial_json) {
            call.input += delta.partial_json
            events.push(AgentEvent.ToolCallDelta({ id: call.id, arguments: delta.partial_json }))
          }
          break
        }
        case "content_block_stop": {
          const call = calls.get(event.index)
          if (call === undefined) break
          calls.delete(event.index)
          const input = toolArguments(provider, call.name, call.input)
          if (Either.isLeft(input)) return Either.left(input.left)
          // A call whose input did not stream gets it whole: none at all is `{}`.
          if (call.input === "") events.push(AgentEvent.ToolCallDelta({ id: call.id, arguments: input.right }))
          break
        }
        case "message_delta":
          stopReason = event.delta.stop_reason ?? stopReason
          outputTokens = event.usage?.output_tokens ?? outputTokens
          break
        case "error":
          return Either.left(failedMidStream(provider, event.error))
        case "message_stop": {
          const usage = usageOf(inputTokens, outputTokens)
          if (usage !== undefined) events.push(AgentEvent.Usage({ usage }))
          events.push(AgentEvent.Finish({ reason: finishReasonOf(stopReason, calledTools) }))
          return Either.right("done")
        }
      }
      return Either.right("more")
    },
    onEnd: () => Either.left(cutShort(provider))
  }
}

/**
 * A streamed run as Server-Sent Events, the way OpenAI streams Chat Completions: a role chunk,
 * content and tool call chunks as they come (`delta.tool_calls`: a call's index, id and name
 * first, then pieces of its arguments; in the legacy shape, `delta.function_call` for the first
 * call only), the server tools' activity as `delta.clawgate.tool` when the client opted in
 * (nothing otherwise), one chunk with the finish reason, an optional usage chunk, then `[DONE]`.
 * A failure once the answer has started is sent in-band (`data: {"error": ...}`, then `[DONE]`).
 *
 * The streaming itself (status, keep-alives, in-band errors, one write per read) is ../SseAnswer.ts.
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { AgentEvent, FinishReason } from "../../domain/AgentEvent.js"
import type { AgentError, GatewayError } from "../../domain/Errors.js"
import * as Telemetry from "../../ops/Telemetry.js"
import type { CurrentRequest, RequestFacts } from "../CurrentRequest.js"
import * as ErrorResponse from "../ErrorResponse.js"
import * as SseAnswer from "../SseAnswer.js"
import * as Wire from "./ChatCompletionsWire.js"

export interface StreamOptions {
  readonly envelope: Wire.Envelope
  readonly calls: Wire.CallShape
  readonly includeUsage: boolean
  readonly keepAliveMs: number
  readonly headers: Readonly<Record<string, string>>
  /** Whether the server tools' activity goes out, as `delta.clawgate.tool` (the client opted in). */
  readonly toolEvents: boolean
}

/**
 * The answer's frames, as text: a chunk for each piece of content (none for usage and the finish
 * reason, which the answer's end carries), the end, or an error in-band.
 */
const makeFrames = (options: StreamOptions, current: RequestFacts): SseAnswer.Frames => {
  const chunk = Wire.chunkFrames(options.envelope)
  let finishReason: FinishReason = "stop"
  /** Each tool call's index in the answer, by id, in the order they started. */
  const toolCalls = new Map<string, number>()
  const toolCallChunk = (piece: Wire.ToolCallDelta) =>
    chunk(options.calls === "tool_calls" ? { tool_calls: [piece] } : { function_call: piece.function })
  const frameOf = (event: AgentEvent): string => {
    switch (event._tag) {
      case "TextDelta":
        return chunk({ content: event.text })
      case "ToolCallStart": {
        // The legacy shape holds one call: any after the first is left out, its pieces with it.
        if (options.calls === "function_call" && toolCalls.size > 0) return ""
        const index = toolCalls.size
        toolCalls.set(event.id, index)
        return toolCallChunk({ index, id: event.id, type: "function", function: { name: event.name, arguments: "" } })
      }
      case "ToolCallDelta": {
        const index = toolCalls.get(event.id)
        return index === undefined || event.arguments === ""
          ? ""
          : toolCallChunk({ index, function: { arguments: event.arguments } })
      }
      case "Usage":
        current.usage = event.usage
        return ""
      case "Finish":
        finishReason = event.reason
        return ""
      case "ToolActivity":
        return options.toolEvents ? chunk({ clawgate: { tool: event.activity } }) : ""
    }
  }
  return {
    start: chunk({ role: "assistant", content: "" }),
    /** The frames of some events: empty when none of them is content. */
    of: (events: Chunk.Chunk<AgentEvent>) => {
      let text = ""
      for (const event of events) text += frameOf(event)
      return text
    },
    end: Effect.sync(() =>
      chunk({}, Wire.finishReasonFor(finishReason, options.calls)) +
      (options.includeUsage && current.usage !== undefined
        ? Wire.sseData(Wire.usageChunk(options.envelope, current.usage))
        : "") +
      Wire.SSE_DONE
    ),
    /** After the 200, a failure goes in-band: its error (none for a defect), then `[DONE]`. */
    failed: (error: GatewayError | undefined) => {
      current.error = error ?? "Defect"
      const answer = error === undefined
        ? ErrorResponse.internal(current.id)
        : ErrorResponse.describe(error, current.id)
      return Wire.sseData(answer.body) + Wire.SSE_DONE
    }
  }
}

export const respond = (
  events: Stream.Stream<AgentEvent, AgentError>,
  options: StreamOptions
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  AgentError,
  CurrentRequest | HttpServerRequest.HttpServerRequest | Scope.Scope
> =>
  Telemetry.traced("StreamAnswer.respond")(
    SseAnswer.respond(events, {
      frames: (current) => makeFrames(options, current),
      keepAliveMs: options.keepAliveMs,
      headers: options.headers
    })
  )

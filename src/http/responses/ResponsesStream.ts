/**
 * A streamed run as the Responses API's typed events, each with a rising `sequence_number`:
 * `response.created` and `response.in_progress`; per text message `response.output_item.added`,
 * `response.content_part.added`, `response.output_text.delta`s, then `response.output_text.done`,
 * `response.content_part.done` and `response.output_item.done`; per function call
 * `response.output_item.added`, `response.function_call_arguments.delta`s, `.done` and
 * `response.output_item.done`; then `response.completed` (or `response.incomplete`). A failure
 * once the answer has started is `response.failed`. The streaming itself is ../SseAnswer.ts.
 *
 * With `toolEvents` (the client opted in), each server tool's call the gateway runs is an `mcp_call`
 * item, as OpenAI streams its own MCP calls: `response.output_item.added` and
 * `response.mcp_call.in_progress` when it starts, `response.mcp_call.completed` (or `.failed`) and
 * `response.output_item.done` when it ends.
 */
import type * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import type { AgentEvent, FinishReason, ToolActivity, ToolCall } from "../../domain/AgentEvent.js"
import type { AgentError, GatewayError } from "../../domain/Errors.js"
import type { RequestFacts } from "../CurrentRequest.js"
import * as ErrorResponse from "../ErrorResponse.js"
import type { Frames } from "../SseAnswer.js"
import * as Wire from "./ResponsesWire.js"

export interface ItemIds {
  readonly message: () => string
  readonly call: () => string
  readonly tool: () => string
}

/** An output item being streamed. */
type Open =
  | { readonly kind: "message"; readonly id: string; readonly index: number; text: string }
  | { readonly kind: "call"; readonly id: string; readonly index: number; readonly call: ToolCall; arguments: string }

/**
 * The events of one answer. `keep` is given the finished response object before
 * `response.completed` goes out (to store it), and may fail: the answer then fails instead.
 */
export const frames = (
  envelope: Wire.Envelope,
  current: RequestFacts,
  ids: ItemIds,
  keep: (response: Wire.ResponseObject) => Effect.Effect<void, AgentError>,
  toolEvents: boolean
): Frames => {
  let sequence = 0
  const event = (type: string, fields: Record<string, unknown>) => Wire.sseEvent(type, sequence++, fields)
  const output: Array<Wire.OutputItem> = []
  let open: Open | undefined
  let finishReason: FinishReason = "stop"
  const calls = new Map<string, Extract<Open, { kind: "call" }>>()
  /** The `mcp_call` items of the server calls running, by call id: their item id and place. */
  const running = new Map<string, { readonly id: string; readonly index: number }>()

  /** Closes the item being streamed: its `.done` events, and it joins the output. */
  const close = (status: "completed" | "incomplete"): string => {
    const item = open
    if (item === undefined) return ""
    open = undefined
    if (item.kind === "message") {
      const done = Wire.messageItem(item.id, item.text, status)
      output.push(done)
      const at = { item_id: item.id, output_index: item.index, content_index: 0 }
      return event("response.output_text.done", { ...at, text: item.text, logprobs: [] }) +
        event("response.content_part.done", { ...at, part: Wire.outputText(item.text) }) +
        event("response.output_item.done", { output_index: item.index, item: done })
    }
    const done = Wire.functionCallItem(item.id, { ...item.call, arguments: item.arguments }, status)
    output.push(done)
    return event("response.function_call_arguments.done", {
      item_id: item.id,
      output_index: item.index,
      name: item.call.name,
      arguments: item.arguments
    }) + event("response.output_item.done", { output_index: item.index, item: done })
  }

  /**
   * A server call starting takes its place in the output at once (calls run side by side, so it
   * cannot wait for its end to join it) and ends in that place.
   */
  const toolFrame = (activity: ToolActivity): string => {
    if (activity.status === "running") {
      const closed = close("completed")
      const placed = { id: ids.tool(), index: output.length }
      const item = Wire.mcpCallItem(placed.id, activity)
      output.push(item)
      running.set(activity.id, placed)
      return closed + event("response.output_item.added", { output_index: placed.index, item }) +
        event("response.mcp_call.in_progress", { item_id: placed.id, output_index: placed.index })
    }
    const placed = running.get(activity.id)
    if (placed === undefined) return ""
    running.delete(activity.id)
    const item = Wire.mcpCallItem(placed.id, activity)
    output[placed.index] = item
    const at = { item_id: placed.id, output_index: placed.index }
    return event(item.status === "completed" ? "response.mcp_call.completed" : "response.mcp_call.failed", at) +
      event("response.output_item.done", { output_index: placed.index, item })
  }

  const frameOf = (agentEvent: AgentEvent): string => {
    switch (agentEvent._tag) {
      case "TextDelta": {
        if (agentEvent.text === "") return ""
        let opened = ""
        if (open?.kind !== "message") {
          opened = close("completed")
          const item = { kind: "message" as const, id: ids.message(), index: output.length, text: "" }
          open = item
          opened += event("response.output_item.added", {
            output_index: item.index,
            item: Wire.messageItem(item.id, undefined, "in_progress")
          }) + event("response.content_part.added", {
            item_id: item.id,
            output_index: item.index,
            content_index: 0,
            part: Wire.outputText("")
          })
        }
        const item = open
        item.text += agentEvent.text
        return opened + event("response.output_text.delta", {
          item_id: item.id,
          output_index: item.index,
          content_index: 0,
          delta: agentEvent.text,
          logprobs: []
        })
      }
      case "ToolCallStart": {
        const closed = close("completed")
        const call = { id: agentEvent.id, name: agentEvent.name, arguments: "" }
        const item = { kind: "call" as const, id: ids.call(), index: output.length, call, arguments: "" }
        open = item
        calls.set(call.id, item)
        return closed + event("response.output_item.added", {
          output_index: item.index,
          item: Wire.functionCallItem(item.id, call, "in_progress")
        })
      }
      case "ToolCallDelta": {
        const item = calls.get(agentEvent.id)
        // Pieces of a call come before the next one starts: a call already closed takes none.
        if (item === undefined || item !== open || agentEvent.arguments === "") return ""
        item.arguments += agentEvent.arguments
        return event("response.function_call_arguments.delta", {
          item_id: item.id,
          output_index: item.index,
          delta: agentEvent.arguments
        })
      }
      case "Usage":
        current.usage = agentEvent.usage
        return ""
      case "Finish":
        finishReason = agentEvent.reason
        return ""
      case "ToolActivity":
        return toolEvents ? toolFrame(agentEvent.activity) : ""
    }
  }

  const state = (status: Wire.Status) => ({ status, output, usage: current.usage })
  const inProgress = Wire.response(envelope, { status: "in_progress", output: [] })

  return {
    start: event("response.created", { response: inProgress }) +
      event("response.in_progress", { response: inProgress }),
    of: (events: Chunk.Chunk<AgentEvent>) => {
      let text = ""
      for (const agentEvent of events) text += frameOf(agentEvent)
      return text
    },
    end: Effect.suspend(() => {
      const { incomplete_details, status } = Wire.outcome(finishReason)
      const closed = close(status === "completed" ? "completed" : "incomplete")
      const finished = Wire.response(envelope, { ...state(status), incomplete_details })
      return Effect.as(
        keep(finished),
        closed + event(status === "completed" ? "response.completed" : "response.incomplete", { response: finished })
      )
    }),
    failed: (error: GatewayError | undefined) => {
      current.error = error ?? "Defect"
      const answer = error === undefined
        ? ErrorResponse.internal(current.id)
        : ErrorResponse.describe(error, current.id)
      const closed = close("incomplete")
      return closed +
        event("response.failed", {
          response: Wire.response(envelope, { ...state("failed"), error: answer.body.error })
        })
    }
  }
}

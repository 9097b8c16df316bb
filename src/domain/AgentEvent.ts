/**
 * What a run produces: text, tool calls, usage and a finish reason, as events while it streams or
 * folded into one reply.
 */
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/** A tool call the model made; `arguments` is JSON text, as OpenAI sends it. */
export interface ToolCall {
  readonly id: string
  readonly name: string
  readonly arguments: string
}

export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter"

export interface Usage {
  readonly promptTokens: number
  readonly completionTokens: number
}

/**
 * A server tool's call as the gateway ran it (an MCP server's tool; never the client's): `running`
 * when it starts, then `done` or `error` with the start of its result.
 */
export interface ToolActivity {
  readonly id: string
  /** The tool as the model called it: `<server>__<tool>`. */
  readonly name: string
  /** The MCP server it is on, by its name in `mcp.servers`. */
  readonly server: string
  readonly arguments: string
  readonly status: "running" | "done" | "error"
  /** The start of the result (at most 200 characters), once it is done. */
  readonly result?: string | undefined
}

/**
 * What a streamed run produces, in order: text deltas and tool calls, then usage and a finish
 * reason. A tool call starts with its id and name, then its arguments (JSON text) come in pieces.
 */
export type AgentEvent = Data.TaggedEnum<{
  TextDelta: { readonly text: string }
  ToolCallStart: { readonly id: string; readonly name: string }
  ToolCallDelta: { readonly id: string; readonly arguments: string }
  Usage: { readonly usage: Usage }
  Finish: { readonly reason: FinishReason }
  /** A server tool's call starting or ending; not a part of the answer. */
  ToolActivity: { readonly activity: ToolActivity }
}>
export const AgentEvent = Data.taggedEnum<AgentEvent>()

/** A whole answer, for requests that do not stream. */
export interface AgentReply {
  readonly text: string
  /** The tool calls the model made, in order (absent when none). */
  readonly toolCalls?: ReadonlyArray<ToolCall> | undefined
  readonly finishReason: FinishReason
  readonly usage: Usage | undefined
  /** The server tools the gateway ran for it, in order, as last reported (absent: none). */
  readonly tools?: ReadonlyArray<ToolActivity> | undefined
}

export const emptyReply: AgentReply = { text: "", finishReason: "stop", usage: undefined }

/** A reply with one more event. */
export const addEvent = (reply: AgentReply, event: AgentEvent): AgentReply =>
  AgentEvent.$match(event, {
    TextDelta: ({ text }) => ({ ...reply, text: reply.text + text }),
    ToolCallStart: ({ id, name }) => ({ ...reply, toolCalls: [...reply.toolCalls ?? [], { id, name, arguments: "" }] }),
    ToolCallDelta: ({ arguments: piece, id }) => ({
      ...reply,
      toolCalls: reply.toolCalls?.map((call) => call.id === id ? { ...call, arguments: call.arguments + piece } : call)
    }),
    Usage: ({ usage }) => ({ ...reply, usage }),
    Finish: ({ reason }) => ({ ...reply, finishReason: reason }),
    ToolActivity: ({ activity }) => ({
      ...reply,
      tools: reply.tools?.some((tool) => tool.id === activity.id)
        ? reply.tools.map((tool) => tool.id === activity.id ? activity : tool)
        : [...reply.tools ?? [], activity]
    })
  })

/** Folds a run's events into one reply. */
export const collect = <E, R>(events: Stream.Stream<AgentEvent, E, R>): Effect.Effect<AgentReply, E, R> =>
  Stream.runFold(events, emptyReply, addEvent)

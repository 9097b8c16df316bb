/**
 * A model's calls and answers in the runner's terms: what a LanguageModel call is given for a turn,
 * and its parts (text, tool calls, usage, finish) as the run's events or its reply.
 */
import type * as AiError from "@effect/ai/AiError"
import * as IdGenerator from "@effect/ai/IdGenerator"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import type * as Toolkit from "@effect/ai/Toolkit"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { AgentEvent, type AgentReply, type FinishReason, type ToolCall, type Usage } from "../domain/AgentEvent.js"
import type { ToolChoice } from "../domain/Run.js"
import type * as ClientTools from "../providers/ClientTools.js"
import type { Model } from "../providers/Provider.js"

/** A model's parts: as a provider of ours makes them, or as the LanguageModel of a library decodes them. */
export type StreamPart = Response.StreamPartEncoded | Response.StreamPart<ClientTools.Tools>
export type Part = Response.PartEncoded | Response.Part<ClientTools.Tools>

const finishReasons: Partial<Record<Response.FinishReason, FinishReason>> = {
  length: "length",
  "tool-calls": "tool_calls",
  "content-filter": "content_filter"
}

const usageOf = (usage: typeof Response.Usage.Encoded): Usage | undefined =>
  usage.inputTokens === undefined && usage.outputTokens === undefined
    ? undefined
    : { promptTokens: usage.inputTokens ?? 0, completionTokens: usage.outputTokens ?? 0 }

/** The provider's finish reason; a run that called tools finishes with `tool_calls`, as OpenAI's do. */
const finishReasonOf = (reason: Response.FinishReason, calledTools: boolean): FinishReason => {
  const mapped = finishReasons[reason] ?? "stop"
  return calledTools && mapped === "stop" ? "tool_calls" : mapped
}

/** A tool call part as the wire's: its arguments as JSON text. */
const toolCallOf = (part: { readonly id: string; readonly name: string; readonly params: unknown }): ToolCall => ({
  id: part.id,
  name: part.name,
  arguments: JSON.stringify(part.params)
})

/**
 * The streamed parts of one attempt as the runner's events: text deltas, tool calls (their start,
 * then their arguments as the provider streams them), usage and the finish reason. It follows the
 * calls under way: a call whose arguments were not streamed gets them whole from its final part.
 */
export const eventsOf = () => {
  /** Each tool call started, and whether any of its arguments went out. */
  const calls = new Map<string, { sent: boolean }>()
  return (part: StreamPart): ReadonlyArray<AgentEvent> => {
    switch (part.type) {
      case "text-delta":
        return part.delta.length > 0 ? [AgentEvent.TextDelta({ text: part.delta })] : []
      case "tool-params-start":
        if (part.providerExecuted) return []
        calls.set(part.id, { sent: false })
        return [AgentEvent.ToolCallStart({ id: part.id, name: part.name })]
      case "tool-params-delta": {
        const call = calls.get(part.id)
        if (call === undefined || part.delta.length === 0) return []
        call.sent = true
        return [AgentEvent.ToolCallDelta({ id: part.id, arguments: part.delta })]
      }
      case "tool-call": {
        const call = calls.get(part.id)
        if (part.providerExecuted || call?.sent === true) return []
        calls.set(part.id, { sent: true })
        const whole = AgentEvent.ToolCallDelta({ id: part.id, arguments: toolCallOf(part).arguments })
        return call === undefined ? [AgentEvent.ToolCallStart({ id: part.id, name: part.name }), whole] : [whole]
      }
      case "finish": {
        const usage = usageOf(part.usage)
        const finish = AgentEvent.Finish({ reason: finishReasonOf(part.reason, calls.size > 0) })
        return usage === undefined ? [finish] : [AgentEvent.Usage({ usage }), finish]
      }
      default:
        return []
    }
  }
}

/** A whole answer's parts as the reply: its text, the tool calls left to the client, its finish. */
export const replyOf = (parts: ReadonlyArray<Part>): AgentReply => {
  let text = ""
  const toolCalls: Array<ToolCall> = []
  let finish: Extract<Part, { readonly type: "finish" }> | undefined
  for (const part of parts) {
    if (part.type === "text") text += part.text
    else if (part.type === "tool-call" && part.providerExecuted !== true) toolCalls.push(toolCallOf(part))
    else if (part.type === "finish") finish = part
  }
  return {
    text,
    ...(toolCalls.length > 0 && { toolCalls }),
    finishReason: finishReasonOf(finish?.reason ?? "unknown", toolCalls.length > 0),
    usage: finish === undefined ? undefined : usageOf(finish.usage)
  }
}

/** What the runner asks of a model for a turn: its prompt, and the client's tools. */
export interface ModelInput {
  readonly prompt: ReadonlyArray<Prompt.MessageEncoded>
  readonly toolkit: Toolkit.WithHandler<ClientTools.Tools>
  readonly toolChoice: ToolChoice
}

/**
 * What `LanguageModel.make` gives a provider's calls: the prompt, the tools the model may call
 * (none: `toolChoice` is "none"), plain text, and the call's span.
 */
const providerOptions = (input: ModelInput, span: Tracer.Span): LanguageModel.ProviderOptions => {
  const tools = Object.values(input.toolkit.tools)
  const choice = input.toolChoice
  return {
    prompt: Prompt.make(input.prompt),
    tools: typeof choice === "object" && "oneOf" in choice
      ? tools.filter((tool) => choice.oneOf.includes(tool.name))
      : tools,
    toolChoice: tools.length === 0 ? "none" : choice,
    responseFormat: { type: "text" },
    span
  }
}

/**
 * The model's parts for a turn, straight from its provider's calls when it has them; the call's
 * span lasts as long as the scope.
 */
export const streamParts = (
  { calls, languageModel }: Model,
  input: ModelInput
): Effect.Effect<Stream.Stream<StreamPart, AiError.AiError, IdGenerator.IdGenerator>, never, Scope.Scope> =>
  calls === undefined
    ? Effect.succeed(languageModel.streamText({ ...input, disableToolCallResolution: true }))
    : Effect.map(
      Effect.makeSpanScoped("LanguageModel.streamText", { captureStackTrace: false }),
      (span) => calls.streamText(providerOptions(input, span))
    )

/** The model's whole answer for a turn, as its parts. */
export const generateParts = (
  { calls, languageModel }: Model,
  input: ModelInput
): Effect.Effect<ReadonlyArray<Part>, AiError.AiError> =>
  calls === undefined
    ? Effect.map(languageModel.generateText({ ...input, disableToolCallResolution: true }), (response) =>
      response.content)
    : Effect.useSpan(
      "LanguageModel.generateText",
      { captureStackTrace: false },
      (span) =>
        calls.generateText(providerOptions(input, span))
    ).pipe(Effect.provideService(IdGenerator.IdGenerator, IdGenerator.defaultIdGenerator))

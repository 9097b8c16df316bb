/**
 * A Model over an @effect/ai LanguageModel, for the providers built on a library (Anthropic's
 * Messages API, OpenAI's Responses API): the model request as the library's prompt and toolkit, and
 * its parts (text, tool calls, usage, finish) as the run's events or reply.
 *
 * The client's tools go through the toolkit (see ./ClientTools.ts) and their calls come back to the
 * runner unresolved (`disableToolCallResolution`): the gateway never runs a client's tool.
 */
import type * as AiError from "@effect/ai/AiError"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Tool from "@effect/ai/Tool"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { AgentEvent, type AgentReply, type FinishReason, type ToolCall, type Usage } from "../domain/AgentEvent.js"
import { type AgentError, ProviderFailed } from "../domain/Errors.js"
import type * as Pull from "../domain/Pull.js"
import type { AnswerFormat, RunTools, Sampling, UserPart } from "../domain/Run.js"
import * as ClientTools from "./ClientTools.js"
import type { Model, ModelMessage, ModelRequest } from "./Provider.js"
import { fromAiError } from "./ProviderErrors.js"

export interface Options {
  readonly provider: string
  readonly model: string
  readonly languageModel: LanguageModel.Service
  /**
   * The library's request settings for a run's sampling, tool options and answer format, as
   * services to provide around its calls (for example `OpenAiLanguageModel.Config`).
   */
  readonly settings: (
    sampling: Sampling,
    tools: RunTools | undefined,
    answerFormat: AnswerFormat | undefined
  ) => Context.Context<never>
}

// ---------------------------------------------------------------------------------------------
// The request as the library's prompt
// ---------------------------------------------------------------------------------------------

/** JSON text as its value when it is an object or an array (a tool's arguments or result). */
const parseJson = (text: string): Option.Option<unknown> => {
  if (!/^\s*[[{]/.test(text)) return Option.none()
  try {
    return Option.some(Tool.unsafeSecureJsonParse(text))
  } catch {
    return Option.none()
  }
}

/**
 * A piece of a user message with images: an image is a file part with its media type and its
 * base64 as the data (@effect/ai's form for base64; each library sends it in its own format);
 * OpenAI's `detail` goes with it as the option @effect/ai-openai reads.
 */
const userPart = (part: UserPart): Prompt.UserMessagePartEncoded =>
  part.type === "text"
    ? { type: "text", text: part.text }
    : {
      type: "file",
      mediaType: part.image.mediaType,
      data: part.image.base64,
      ...(part.image.detail !== undefined && { options: { openai: { imageDetail: part.image.detail } } })
    }

/**
 * A message as the prompt's: tool calls and results as tool-call and tool-result parts, their JSON
 * as its value (a library that sends it as JSON would otherwise quote the text).
 */
const promptMessage = (message: ModelMessage): Prompt.MessageEncoded => {
  switch (message.role) {
    case "user":
      return message.parts === undefined
        ? { role: "user", content: message.content }
        : { role: "user", content: message.parts.map(userPart) }
    case "assistant": {
      const calls = message.toolCalls ?? []
      if (calls.length === 0) return { role: "assistant", content: message.content }
      return {
        role: "assistant",
        content: [
          ...(message.content.length > 0 ? [{ type: "text", text: message.content } as const] : []),
          ...calls.map((call): Prompt.ToolCallPartEncoded => ({
            type: "tool-call",
            id: call.id,
            name: call.name,
            // No arguments at all are none; arguments that are not JSON go on as the text they are.
            params: call.arguments.trim() === ""
              ? {}
              : Option.getOrElse(parseJson(call.arguments), () => call.arguments),
            providerExecuted: false
          }))
        ]
      }
    }
    case "tool":
      return {
        role: "tool",
        content: [{
          type: "tool-result",
          id: message.toolCallId,
          name: message.name,
          result: Option.getOrElse(parseJson(message.content), () => message.content),
          isFailure: false,
          providerExecuted: false
        }]
      }
  }
}

/** The request's system text and messages as the library's prompt. */
export const promptOf = (request: Pick<ModelRequest, "system" | "messages">): Array<Prompt.MessageEncoded> => [
  ...(request.system === undefined ? [] : [{ role: "system", content: request.system } as const]),
  ...request.messages.map(promptMessage)
]

/** What the library's calls take: the prompt, and the client's tools as a toolkit. */
const callOptions = (request: ModelRequest) => ({
  prompt: promptOf(request),
  toolkit: ClientTools.toolkit(request.tools?.tools ?? []),
  toolChoice: toolChoiceOf(request.tools),
  disableToolCallResolution: true
} as const)

const toolChoiceOf = (tools: RunTools | undefined): LanguageModel.ToolChoice<string> => {
  const choice = tools?.choice ?? "auto"
  return typeof choice === "object" && "oneOf" in choice ? { oneOf: choice.oneOf, mode: choice.mode } : choice
}

// ---------------------------------------------------------------------------------------------
// The library's parts as the run's events
// ---------------------------------------------------------------------------------------------

type StreamPart = Response.StreamPart<ClientTools.Tools>
type Part = Response.Part<ClientTools.Tools>

const finishReasons: Partial<Record<Response.FinishReason, FinishReason>> = {
  length: "length",
  "tool-calls": "tool_calls",
  "content-filter": "content_filter"
}

const usageOf = (usage: Response.Usage): Usage | undefined =>
  usage.inputTokens === undefined && usage.outputTokens === undefined
    ? undefined
    : { promptTokens: usage.inputTokens ?? 0, completionTokens: usage.outputTokens ?? 0 }

/** The library's finish reason; an answer that called tools finishes with `tool_calls`, as OpenAI's do. */
const finishReasonOf = (reason: Response.FinishReason, calledTools: boolean): FinishReason => {
  const mapped = finishReasons[reason] ?? "stop"
  return calledTools && mapped === "stop" ? "tool_calls" : mapped
}

/** A tool call part as the run's: its arguments as JSON text. */
const toolCallOf = (part: { readonly id: string; readonly name: string; readonly params: unknown }): ToolCall => ({
  id: part.id,
  name: part.name,
  arguments: JSON.stringify(part.params)
})

/**
 * The streamed parts of one answer as the run's events: text deltas, tool calls (their start, then
 * their arguments as the library streams them), usage and the finish reason. It follows the calls
 * under way: a call whose arguments were not streamed gets them whole from its final part.
 */
const eventsOf = (provider: string) => {
  /** Each tool call started, and whether any of its arguments went out. */
  const calls = new Map<string, { sent: boolean }>()
  return (part: StreamPart): ReadonlyArray<AgentEvent> | ProviderFailed => {
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
      // The libraries report a failure mid-stream as an `error` part, not as a failure.
      case "error":
        return new ProviderFailed({ provider, detail: Inspectable.toStringUnknown(part.error) })
      default:
        return []
    }
  }
}

/** A whole answer's parts as the reply: its text, the tool calls left to the client, its finish. */
const replyOf = (parts: ReadonlyArray<Part>): AgentReply => {
  let text = ""
  const toolCalls: Array<ToolCall> = []
  let finish: Response.FinishPart | undefined
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

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

export const make = ({ languageModel, model, provider, settings }: Options): Model => {
  const agentError = (error: AiError.AiError) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fail(fromAiError(provider, error, now)))
  const settingsOf = (request: ModelRequest) => settings(request.sampling, request.tools, request.answerFormat)
  return {
    provider,
    model,
    open: (request) =>
      Effect.flatMap(Clock.currentTimeMillis, (openedAt) =>
        Effect.map(
          Stream.toPull(
            languageModel.streamText(callOptions(request)).pipe(
              Stream.provideSomeContext(settingsOf(request))
            )
          ),
          (pull): Pull.Pull<AgentEvent, AgentError> => {
            const toEvents = eventsOf(provider)
            const events = pull.pipe(
              Effect.catchAll(Option.match({
                onNone: () => Effect.fail(Option.none()),
                onSome: (error) => Effect.mapError(agentError(error), Option.some)
              })),
              Effect.flatMap((parts) => {
                const events: Array<AgentEvent> = []
                for (const part of parts) {
                  const mapped = toEvents(part)
                  if (mapped instanceof ProviderFailed) return Effect.fail(Option.some(mapped))
                  events.push(...mapped)
                }
                return Effect.succeed(Chunk.unsafeFromArray(events))
              })
            )
            // Within the time limit until the first events (these libraries' calls are no hot path:
            // a race per pull until then is affordable here).
            let started = false
            return Effect.suspend(() =>
              started ? events : Effect.flatMap(Clock.currentTimeMillis, (now) =>
                events.pipe(
                  Effect.timeoutFail({
                    duration: Math.max(0, request.timeLimit.ms - (now - openedAt)),
                    onTimeout: () => Option.some(request.timeLimit.error())
                  }),
                  Effect.tap((chunk) => {
                    started = Chunk.isNonEmpty(chunk)
                  })
                ))
            )
          }
        )),
    complete: (request) =>
      languageModel.generateText(callOptions(request)).pipe(
        Effect.provide(settingsOf(request)),
        Effect.map((response) => replyOf(response.content)),
        Effect.catchAll(agentError),
        Effect.timeoutFail({ duration: request.timeLimit.ms, onTimeout: request.timeLimit.error })
      )
  }
}

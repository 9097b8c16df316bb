/**
 * A Chat Completions request as the run's request: its messages as a turn, its tools (or the legacy
 * functions) and its sampling, each checked against the agent.
 */
import * as Effect from "effect/Effect"
import { isNotNullable } from "effect/Predicate"
import type { Agent } from "../../domain/Agent.js"
import { capabilities } from "../../domain/Capabilities.js"
import { InvalidRequest } from "../../domain/Errors.js"
import { excerpt } from "../../domain/Quote.js"
import type { ChatMessage, ClientTool, RunTools, Sampling, ToolChoice, UserPart } from "../../domain/Run.js"
import type * as Wire from "./ChatCompletionsWire.js"
import * as Images from "./Images.js"

/**
 * A message's text and refusal parts joined; with `images`, `[image]` stands where each image
 * was.
 */
const textOf = (content: Wire.Message["content"], images = false): string =>
  content === undefined || content === null
    ? ""
    : typeof content === "string"
    ? content
    : content.flatMap((part) =>
      "text" in part
        ? [part.text]
        : "refusal" in part
        ? [part.refusal]
        : images && "image_url" in part
        ? [Images.PLACEHOLDER]
        : []
    ).join("\n")

/**
 * The wire messages as a turn: system and developer text joined apart, the rest in order
 * (`function` counts as `tool`), assistant messages with their tool calls (a legacy
 * `function_call` among them). There must be something to answer.
 *
 * `images`, for an agent whose model takes images: the current turn's user messages with images
 * (by index, see `Images.ofTurn`), which keep their parts; every image is written `[image]` in
 * the text. Without it, images are left out altogether.
 */
export const toTurn = (
  messages: ReadonlyArray<Wire.Message>,
  images?: ReadonlyMap<number, ReadonlyArray<UserPart>>
) => {
  const system: Array<string> = []
  const turn: Array<ChatMessage> = []
  for (const [index, message] of messages.entries()) {
    const content = textOf(message.content, message.role === "user" && images !== undefined)
    switch (message.role) {
      case "system":
      case "developer":
        if (content.trim().length > 0) system.push(content)
        break
      case "user": {
        const parts = images?.get(index)
        turn.push({
          role: message.role,
          content,
          name: message.name ?? undefined,
          ...(parts !== undefined && { parts })
        })
        break
      }
      case "assistant": {
        const toolCalls = (message.tool_calls ?? []).map((call) => ({
          id: call.id,
          name: call.function.name,
          arguments: call.function.arguments
        }))
        // A legacy call has no id: it gets one from its place in the history, the same each time
        // the history is sent again. Its result, a `function` message without an id either,
        // answers it by name (Conversation.toPrompt).
        const legacyCall = message.function_call
        if (isNotNullable(legacyCall)) {
          toolCalls.push({ id: `legacy_call_${index}`, name: legacyCall.name, arguments: legacyCall.arguments })
        }
        turn.push({
          role: message.role,
          // An answer that refused has its refusal in place of content: the model must see it.
          content: content.length > 0 ? content : message.refusal ?? "",
          name: message.name ?? undefined,
          ...(toolCalls.length > 0 && { toolCalls })
        })
        break
      }
      case "tool":
      case "function":
        turn.push({
          role: "tool",
          content,
          name: message.name ?? undefined,
          toolCallId: message.tool_call_id ?? undefined
        })
    }
  }
  const answerable = turn.some((message) =>
    message.role === "tool" || (message.role === "user" && message.content.trim().length > 0)
  )
  return answerable
    ? Effect.succeed({ messages: turn, extraSystemPrompt: system.length > 0 ? system.join("\n\n") : undefined })
    : Effect.fail(new InvalidRequest({ message: "Missing user message in `messages`.", param: "messages" }))
}

const toolChoiceOf = (choice: Wire.ToolChoice): ToolChoice =>
  typeof choice === "string"
    ? choice
    : choice.type === "function"
    ? { tool: choice.function.name }
    : { oneOf: choice.allowed_tools.tools.map((tool) => tool.function.name), mode: choice.allowed_tools.mode }

const invalidTools = (message: string, param: string) => Effect.fail(new InvalidRequest({ message, param }))

const clientTool = (tool: Wire.FunctionDefinition & { readonly strict?: boolean | null | undefined }): ClientTool => ({
  name: tool.name,
  description: tool.description ?? undefined,
  parameters: tool.parameters ?? undefined,
  strict: tool.strict ?? undefined
})

/** The request's tool fields, from `tools` or the legacy `functions`, with the names of the fields they came from. */
interface ToolFields {
  readonly offered: ReadonlyArray<ClientTool>
  readonly choice: ToolChoice
  readonly parallel: boolean | undefined
  readonly toolsParam: "tools" | "functions"
  readonly choiceParam: "tool_choice" | "function_call"
}

/**
 * `tools` and `tool_choice`, or the legacy `functions` and `function_call`: never both, as
 * OpenAI's API has it. The legacy answer holds one call, so the model is asked for one at a time.
 */
const toolFieldsOf = (request: Wire.ChatCompletionRequest): Effect.Effect<ToolFields, InvalidRequest> => {
  const legacyParam = isNotNullable(request.functions)
    ? "functions"
    : isNotNullable(request.function_call)
    ? "function_call"
    : undefined
  if (legacyParam === undefined) {
    return Effect.succeed({
      offered: (request.tools ?? []).map((tool) => clientTool(tool.function)),
      choice: toolChoiceOf(request.tool_choice ?? "auto"),
      parallel: request.parallel_tool_calls ?? undefined,
      toolsParam: "tools",
      choiceParam: "tool_choice"
    })
  }
  if (isNotNullable(request.tools) || isNotNullable(request.tool_choice)) {
    return invalidTools(
      `Invalid '${legacyParam}': the legacy \`functions\` and \`function_call\` cannot be mixed with \`tools\` and ` +
        "`tool_choice`; use `tools`.",
      legacyParam
    )
  }
  const choice = request.function_call ?? "auto"
  return Effect.succeed({
    offered: (request.functions ?? []).map(clientTool),
    choice: typeof choice === "string" ? choice : { tool: choice.name },
    parallel: false,
    toolsParam: "functions",
    choiceParam: "function_call"
  })
}

/**
 * The request's tools, if it offers any (an empty list offers none). Names are unique, and a
 * choice that names tools names offered ones; without tools, only `auto` and `none` mean
 * something.
 */
export const toolsOf = (request: Wire.ChatCompletionRequest): Effect.Effect<RunTools | undefined, InvalidRequest> =>
  Effect.flatMap(toolFieldsOf(request), ({ choice, choiceParam, offered, parallel, toolsParam }) => {
    if (offered.length === 0) {
      return choice === "auto" || choice === "none"
        ? Effect.succeed(undefined)
        : invalidTools(
          `Invalid '${choiceParam}': it asks for a call, but the request has no \`${toolsParam}\`.`,
          choiceParam
        )
    }
    const names = offered.map((tool) => tool.name)
    const duplicate = names.find((name, i) => names.indexOf(name) !== i)
    if (duplicate !== undefined) {
      return invalidTools(`Invalid '${toolsParam}': the name '${excerpt(duplicate)}' is used twice.`, toolsParam)
    }
    const chosen = typeof choice === "string" ? [] : "tool" in choice ? [choice.tool] : choice.oneOf
    const unknown = chosen.find((name) => !names.includes(name))
    if (unknown !== undefined) {
      return invalidTools(
        `Invalid '${choiceParam}': there is none named '${excerpt(unknown)}' in \`${toolsParam}\`.`,
        choiceParam
      )
    }
    return Effect.succeed({ tools: offered, choice, parallel })
  })

const samplingOf = (request: Wire.ChatCompletionRequest): Sampling => ({
  temperature: request.temperature ?? undefined,
  topP: request.top_p ?? undefined,
  maxTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined,
  stop: typeof request.stop === "string" ? [request.stop] : request.stop ?? undefined,
  seed: request.seed ?? undefined
})

/**
 * The request's sampling for the agent. Some models take a narrower temperature range than
 * OpenAI's 0 to 2 (Anthropic's 0 to 1): a higher one is refused here rather than sent on to fail
 * upstream.
 */
export const samplingFor = (agent: Agent, request: Wire.ChatCompletionRequest) => {
  const sampling = samplingOf(request)
  const { maxTemperature, title } = capabilities[agent.kind]
  return sampling.temperature !== undefined && sampling.temperature > maxTemperature
    ? Effect.fail(
      new InvalidRequest({
        message: `Invalid 'temperature': the agent '${agent.id}' runs on ${title}, which takes a ` +
          `temperature from 0 to ${maxTemperature} (got ${sampling.temperature}).`,
        param: "temperature"
      })
    )
    : Effect.succeed(sampling)
}

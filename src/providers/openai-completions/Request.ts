/**
 * What the `openai-completions` provider sends: a model request as the body of a Chat Completions
 * request (messages, tools, sampling, answer format), with only the fields the run sets: an unset
 * field is left to the server's default.
 */
import type { ProviderEntry } from "../../config/ConfigFile.js"
import type { AnswerFormat, RunTools, Sampling, UserPart } from "../../domain/Run.js"
import { parametersOf } from "../ClientTools.js"
import type { ModelMessage, ModelRequest } from "../Provider.js"

export const DEFAULT_BASE_URL = "https://api.openai.com/v1"

export type MaxTokensField = "max_tokens" | "max_completion_tokens"

/** The provider's `maxTokensField`, else `max_completion_tokens` for OpenAI's own API and `max_tokens` elsewhere. */
export const maxTokensFieldOf = (entry: ProviderEntry): MaxTokensField => {
  const url = entry.baseUrl ?? DEFAULT_BASE_URL
  const openAi = URL.canParse(url) && new URL(url).hostname === "api.openai.com"
  return entry.maxTokensField ?? (openAi ? "max_completion_tokens" : "max_tokens")
}

/** The run's answer format as `response_format`: the client's own fields, as it sent them. */
export const responseFormatOf = (format: AnswerFormat) =>
  format.type === "json_object"
    ? { type: "json_object" }
    : {
      type: "json_schema",
      json_schema: {
        name: format.name,
        ...(format.description !== undefined && { description: format.description }),
        ...(format.schema !== undefined && { schema: format.schema }),
        ...(format.strict !== undefined && { strict: format.strict })
      }
    }

/** The sampling fields, as the wire names them. */
export const samplingFields = (sampling: Sampling, maxTokensField: MaxTokensField) => ({
  ...(sampling.temperature !== undefined && { temperature: sampling.temperature }),
  ...(sampling.topP !== undefined && { top_p: sampling.topP }),
  ...(sampling.maxTokens !== undefined && { [maxTokensField]: sampling.maxTokens }),
  ...(sampling.stop !== undefined && { stop: sampling.stop }),
  ...(sampling.seed !== undefined && { seed: sampling.seed })
})

/**
 * The client's tools as function tools (their JSON Schema as the client sent it) with the tool
 * choice; nothing when there are none. A choice among some of the tools offers only those.
 */
export const toolFields = (tools: RunTools | undefined) => {
  if (tools === undefined) return {}
  const choice = tools.choice
  const offered = typeof choice === "object" && "oneOf" in choice
    ? tools.tools.filter((tool) => choice.oneOf.includes(tool.name))
    : tools.tools
  if (offered.length === 0) return {}
  return {
    tools: offered.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description !== undefined && { description: tool.description }),
        parameters: parametersOf(tool),
        ...(tool.strict !== undefined && { strict: tool.strict })
      }
    })),
    tool_choice: typeof choice === "string"
      ? choice
      : "tool" in choice
      ? { type: "function", function: { name: choice.tool } }
      : choice.mode,
    ...(tools.parallel !== undefined && { parallel_tool_calls: tools.parallel })
  }
}

/** A user message's image as an `image_url` part, its data as a data URL. */
const userPart = (part: UserPart) =>
  part.type === "text"
    ? { type: "text", text: part.text }
    : {
      type: "image_url",
      image_url: {
        url: `data:${part.image.mediaType};base64,${part.image.base64}`,
        ...(part.image.detail !== undefined && { detail: part.image.detail })
      }
    }

/** A message as Chat Completions takes it; user text stays a plain string, which every server takes. */
const messageOf = (message: ModelMessage) => {
  switch (message.role) {
    case "user":
      return { role: "user", content: message.parts === undefined ? message.content : message.parts.map(userPart) }
    case "assistant": {
      const calls = message.toolCalls ?? []
      if (calls.length === 0) return { role: "assistant", content: message.content }
      return {
        role: "assistant",
        content: message.content === "" ? null : message.content,
        tool_calls: calls.map((call) => ({
          id: call.id,
          type: "function",
          function: { name: call.name, arguments: call.arguments.trim() === "" ? "{}" : call.arguments }
        }))
      }
    }
    case "tool":
      return { role: "tool", tool_call_id: message.toolCallId, content: message.content }
  }
}

/** The request's body, as JSON text. */
export const bodyOf = (
  model: string,
  request: ModelRequest,
  options: { readonly maxTokensField: MaxTokensField; readonly stream: boolean }
): string =>
  JSON.stringify({
    model,
    messages: [
      ...(request.system === undefined ? [] : [{ role: "system", content: request.system }]),
      ...request.messages.map(messageOf)
    ],
    ...toolFields(request.tools),
    ...samplingFields(request.sampling, options.maxTokensField),
    ...(request.answerFormat !== undefined && { response_format: responseFormatOf(request.answerFormat) }),
    ...(options.stream && { stream: true, stream_options: { include_usage: true } })
  })

/**
 * What the `anthropic-messages` provider sends: a model request as the body of a Messages API
 * request (`POST {baseUrl}/v1/messages`), as @effect/ai-anthropic, which the provider was built on
 * first, makes it:
 * - the system text as a text block of `system`;
 * - the conversation as alternating user and assistant messages: a run of user and tool messages is
 *   one user message (each tool result a `tool_result` block, its content as JSON), a run of
 *   assistant messages one assistant message (its text, then its calls as `tool_use` blocks whose
 *   `input` is the arguments' JSON);
 * - images as `image` blocks with a base64 source and their media type;
 * - the client's tools with their JSON Schema as `input_schema`, and the tool choice (`any` for a
 *   required call; a choice among some tools offers only those);
 * - the sampling the run sets under the API's names, and always `max_tokens` (the API requires it).
 *
 * The Messages API has no JSON output mode: a request with a JSON `response_format` for an agent on
 * this provider is answered 400 by the endpoint (see ../../http/chat/AnswerFormat.ts) and never gets
 * here.
 */
import type { RunTools, Sampling, UserPart } from "../../domain/Run.js"
import { parametersOf } from "../ClientTools.js"
import type { ModelMessage, ModelRequest } from "../Provider.js"

export const DEFAULT_BASE_URL = "https://api.anthropic.com"

/** The API requires `max_tokens`; this is sent when neither the request nor the agent sets one. */
export const DEFAULT_MAX_TOKENS = 4096

/** The API's version, sent with every call. */
export const API_VERSION = "2023-06-01"

/** The API root: no trailing slash, no trailing `/v1` (a `baseUrl` given with `/v1` is accepted too). */
export const apiUrl = (baseUrl: string): string => baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "")

type Block = { readonly type: string } & Record<string, unknown>

interface Message {
  readonly role: "user" | "assistant"
  readonly content: Array<Block>
}

/** JSON text as its value when it is an object or an array (a tool's arguments or result); else none. */
const parseJson = (text: string): { readonly value: unknown } | undefined => {
  if (!/^\s*[[{]/.test(text)) return undefined
  try {
    return { value: JSON.parse(text) }
  } catch {
    return undefined
  }
}

const userBlock = (part: UserPart): Block =>
  part.type === "text"
    ? { type: "text", text: part.text }
    : { type: "image", source: { type: "base64", media_type: part.image.mediaType, data: part.image.base64 } }

/** A message's blocks, for the user or assistant message it joins. */
const blocksOf = (message: ModelMessage): Array<Block> => {
  switch (message.role) {
    case "user":
      return message.parts === undefined ? [{ type: "text", text: message.content }] : message.parts.map(userBlock)
    case "tool":
      return [{
        type: "tool_result",
        tool_use_id: message.toolCallId,
        content: JSON.stringify(parseJson(message.content)?.value ?? message.content),
        is_error: false
      }]
    case "assistant": {
      const calls = message.toolCalls ?? []
      if (calls.length === 0) return [{ type: "text", text: message.content }]
      return [
        ...(message.content.length > 0 ? [{ type: "text", text: message.content }] : []),
        ...calls.map((call): Block => ({
          type: "tool_use",
          id: call.id,
          name: call.name,
          // No arguments at all are none; arguments that are not JSON go on as the text they are.
          input: call.arguments.trim() === "" ? {} : parseJson(call.arguments)?.value ?? call.arguments
        }))
      ]
    }
  }
}

/** The conversation as the API's alternating user and assistant messages. */
export const messagesOf = (messages: ReadonlyArray<ModelMessage>): Array<Message> => {
  const grouped: Array<Message> = []
  for (const message of messages) {
    const role = message.role === "assistant" ? "assistant" : "user"
    const last = grouped.at(-1)
    if (last?.role === role) last.content.push(...blocksOf(message))
    else grouped.push({ role, content: blocksOf(message) })
  }
  // The answer's start that ends the conversation, if any, may not end with white space.
  const last = grouped.at(-1)
  const lastBlock = last?.content.at(-1)
  if (last?.role === "assistant" && lastBlock?.type === "text" && typeof lastBlock.text === "string") {
    last.content[last.content.length - 1] = { ...lastBlock, text: lastBlock.text.trim() }
  }
  return grouped
}

/** The sampling fields, as the API names them, and `max_tokens`. */
const samplingFields = (sampling: Sampling) => ({
  max_tokens: sampling.maxTokens ?? DEFAULT_MAX_TOKENS,
  ...(sampling.temperature !== undefined && { temperature: sampling.temperature }),
  ...(sampling.topP !== undefined && { top_p: sampling.topP }),
  ...(sampling.stop !== undefined && sampling.stop.length > 0 && { stop_sequences: sampling.stop })
})

/**
 * The client's tools with their JSON Schema and the tool choice; nothing when none is offered (a
 * choice among some tools offers only those) or the choice is `none`. One call at a time, when the client asks so, is `disable_parallel_tool_use`.
 */
const toolFields = (tools: RunTools | undefined) => {
  if (tools === undefined || tools.tools.length === 0 || tools.choice === "none") return {}
  const choice = tools.choice
  const offered = typeof choice === "object" && "oneOf" in choice
    ? tools.tools.filter((tool) => choice.oneOf.includes(tool.name))
    : tools.tools
  if (offered.length === 0) return {}
  const parallel = tools.parallel === false ? { disable_parallel_tool_use: true } : {}
  return {
    tools: offered.map((tool) => ({
      name: tool.name,
      ...(tool.description !== undefined && { description: tool.description }),
      input_schema: parametersOf(tool)
    })),
    tool_choice: choice === "auto"
      ? { type: "auto", ...parallel }
      : choice === "required"
      ? { type: "any", ...parallel }
      : "tool" in choice
      ? { type: "tool", name: choice.tool, ...parallel }
      : { type: choice.mode === "required" ? "any" : "auto", ...parallel }
  }
}

/** The request's body, as JSON text. */
export const bodyOf = (
  model: string,
  request: Pick<ModelRequest, "system" | "messages" | "tools" | "sampling">,
  options: { readonly stream: boolean }
): string =>
  JSON.stringify({
    model,
    ...samplingFields(request.sampling),
    ...(request.system !== undefined && { system: [{ type: "text", text: request.system }] }),
    messages: messagesOf(request.messages),
    ...toolFields(request.tools),
    ...(options.stream && { stream: true })
  })

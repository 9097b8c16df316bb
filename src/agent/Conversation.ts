/**
 * What the model sees of a session: the agent's system prompt, the request's system text, the
 * stored transcript (bounded), then this turn. Clients that resend their whole history must not
 * send it twice, so with a stored transcript only the request's messages after its last assistant
 * message are new; a new session is seeded with the request's whole history.
 */
import type * as Prompt from "@effect/ai/Prompt"
import * as Tool from "@effect/ai/Tool"
import * as Option from "effect/Option"
import type { ChatMessage, UserPart } from "../domain/Run.js"

/** The request's messages the session has not seen. */
export const newMessages = (
  hasTranscript: boolean,
  messages: ReadonlyArray<ChatMessage>
): ReadonlyArray<ChatMessage> =>
  hasTranscript ? messages.slice(messages.findLastIndex((message) => message.role === "assistant") + 1) : messages

/** What a message weighs against the character budget: its text and its tool calls' arguments. */
const sizeOf = (message: ChatMessage) =>
  message.content.length + (message.toolCalls ?? []).reduce((sum, call) => sum + call.arguments.length, 0)

/**
 * The most recent messages that fit both bounds. A tool result whose call was cut away is cut
 * too: providers refuse a tool message that answers no call.
 */
export const bounded = (
  transcript: ReadonlyArray<ChatMessage>,
  limits: { readonly maxMessages: number; readonly maxChars: number }
): ReadonlyArray<ChatMessage> => {
  let start = transcript.length
  let chars = 0
  while (start > 0 && transcript.length - start < limits.maxMessages) {
    chars += sizeOf(transcript[start - 1]!)
    if (chars > limits.maxChars) break
    start -= 1
  }
  while (start < transcript.length && transcript[start]!.role === "tool") start += 1
  return transcript.slice(start)
}

/** JSON text as its value when it is an object or an array (a tool's arguments or result). */
const parseJson = (text: string): Option.Option<unknown> => {
  if (!/^\s*[[{]/.test(text)) return Option.none()
  try {
    return Option.some(Tool.unsafeSecureJsonParse(text))
  } catch {
    return Option.none()
  }
}

const assistantMessage = (message: ChatMessage): Prompt.MessageEncoded => {
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

/**
 * A tool message as a tool result for its call: its text, or the JSON value it holds (providers
 * that send results as JSON would otherwise quote it). Its tool's name comes from the call.
 */
const toolMessage = (message: ChatMessage, id: string, names: ReadonlyMap<string, string>): Prompt.MessageEncoded => ({
  role: "tool",
  content: [{
    type: "tool-result",
    id,
    name: message.name ?? names.get(id) ?? "",
    result: Option.getOrElse(parseJson(message.content), () => message.content),
    isFailure: false,
    providerExecuted: false
  }]
})

/**
 * A piece of a user message with images: an image is a file part with its media type and its
 * base64 as the data (@effect/ai's form for base64; each provider sends it in its own format);
 * OpenAI's `detail` goes with it as the option @effect/ai-openai reads (the Chat Completions
 * provider reads it too).
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
 * The prompt for a turn. System text is never cut. Assistant tool calls and tool results become
 * the prompt's tool-call and tool-result parts. A tool result without a call id (the legacy
 * `function` role, which names its function) answers the latest call of that name before it,
 * whether the call is in the stored transcript or in the request; with no such call, it can only
 * be given as text.
 */
export const toPrompt = (
  system: ReadonlyArray<string | undefined>,
  messages: ReadonlyArray<ChatMessage>
): ReadonlyArray<Prompt.MessageEncoded> => {
  const systemText = system.filter((text) => text !== undefined && text.trim().length > 0).join("\n\n")
  const toolNames = new Map(
    messages.flatMap((message) => (message.toolCalls ?? []).map((call): [string, string] => [call.id, call.name]))
  )
  /** The id of the latest call of each tool so far, in order. */
  const latestCalls = new Map<string, string>()
  return [
    ...(systemText.length > 0 ? [{ role: "system", content: systemText } as const] : []),
    ...messages.map((message): Prompt.MessageEncoded => {
      switch (message.role) {
        case "assistant":
          for (const call of message.toolCalls ?? []) latestCalls.set(call.name, call.id)
          return assistantMessage(message)
        case "tool": {
          const id = message.toolCallId ?? (message.name === undefined ? undefined : latestCalls.get(message.name))
          return id === undefined
            ? {
              role: "user",
              content: `[tool result${message.name ? ` from ${message.name}` : ""}]\n${message.content}`
            }
            : toolMessage(message, id, toolNames)
        }
        case "user":
          return message.parts === undefined
            ? { role: "user", content: message.content }
            : { role: "user", content: message.parts.map(userPart) }
      }
    })
  ]
}

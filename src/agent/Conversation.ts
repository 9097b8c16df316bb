/**
 * What the model sees of a session: the stored transcript (bounded), then this turn. Clients that
 * resend their whole history must not send it twice, so with a stored transcript only the request's
 * messages after its last assistant message are new; a new session is seeded with the request's
 * whole history.
 */
import type { ChatMessage } from "../domain/Run.js"
import type { ModelMessage } from "../providers/Provider.js"

/** System text as one text: the parts that are not blank, in order, a blank line apart (none: none). */
export const system = (parts: ReadonlyArray<string | undefined>): string | undefined => {
  const text = parts.filter((part) => part !== undefined && part.trim().length > 0).join("\n\n")
  return text.length > 0 ? text : undefined
}

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

/**
 * The conversation as a model gets it. A tool result without a call id (the legacy `function`
 * role, which names its function) answers the latest call of that name before it, whether the
 * call is in the stored transcript or in the request; with no such call, it can only be given as
 * text. A result's tool name comes from its call.
 */
export const forModel = (messages: ReadonlyArray<ChatMessage>): ReadonlyArray<ModelMessage> => {
  const toolNames = new Map(
    messages.flatMap((message) => (message.toolCalls ?? []).map((call): [string, string] => [call.id, call.name]))
  )
  /** The id of the latest call of each tool so far, in order. */
  const latestCalls = new Map<string, string>()
  return messages.map((message): ModelMessage => {
    switch (message.role) {
      case "assistant":
        for (const call of message.toolCalls ?? []) latestCalls.set(call.name, call.id)
        return { role: "assistant", content: message.content, toolCalls: message.toolCalls }
      case "tool": {
        const id = message.toolCallId ?? (message.name === undefined ? undefined : latestCalls.get(message.name))
        return id === undefined
          ? { role: "user", content: `[tool result${message.name ? ` from ${message.name}` : ""}]\n${message.content}` }
          : { role: "tool", toolCallId: id, name: message.name ?? toolNames.get(id) ?? "", content: message.content }
      }
      case "user":
        return { role: "user", content: message.content, parts: message.parts }
    }
  })
}

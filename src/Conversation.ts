/**
 * What the model sees of a session: the agent's system prompt, the request's system text, the
 * stored transcript (bounded), then this turn. Clients that resend their whole history must not
 * send it twice, so with a stored transcript only the request's messages after its last assistant
 * message are new; a new session is seeded with the request's whole history.
 */
import type * as Prompt from "@effect/ai/Prompt"
import type { ChatMessage } from "./AgentRunner.js"

/** The request's messages the session has not seen. */
export const newMessages = (
  hasTranscript: boolean,
  messages: ReadonlyArray<ChatMessage>
): ReadonlyArray<ChatMessage> =>
  hasTranscript ? messages.slice(messages.findLastIndex((message) => message.role === "assistant") + 1) : messages

/** The most recent messages that fit both bounds. */
export const bounded = (
  transcript: ReadonlyArray<ChatMessage>,
  limits: { readonly maxMessages: number; readonly maxChars: number }
): ReadonlyArray<ChatMessage> => {
  let start = transcript.length
  let chars = 0
  while (start > 0 && transcript.length - start < limits.maxMessages) {
    chars += transcript[start - 1]!.content.length
    if (chars > limits.maxChars) break
    start -= 1
  }
  return transcript.slice(start)
}

/** The prompt for a turn. System text is never cut. */
export const toPrompt = (
  system: ReadonlyArray<string | undefined>,
  messages: ReadonlyArray<ChatMessage>
): ReadonlyArray<Prompt.MessageEncoded> => {
  const systemText = system.filter((text) => text !== undefined && text.trim().length > 0).join("\n\n")
  return [
    ...(systemText.length > 0 ? [{ role: "system", content: systemText } as const] : []),
    ...messages.map((message): Prompt.MessageEncoded =>
      message.role === "assistant"
        ? { role: "assistant", content: message.content }
        : message.role === "tool"
        // Tool results become text until client tools are wired through (their call ids and names).
        ? { role: "user", content: `[tool result${message.name ? ` from ${message.name}` : ""}]\n${message.content}` }
        : { role: "user", content: message.content }
    )
  ]
}

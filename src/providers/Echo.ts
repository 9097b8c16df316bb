/**
 * The built-in `echo` model: no network, answers with the text of the last user message, word by
 * word, and counts words as tokens. For trying the gateway and for tests.
 */
import * as Stream from "effect/Stream"
import { AgentEvent, type AgentReply, type RunRequest } from "../AgentRunner.js"

const countWords = (text: string | undefined) => text?.match(/\S+/g)?.length ?? 0

/** The reply's words, each with the whitespace before it, and why it stopped. */
const answer = (request: RunRequest) => {
  const lastUser = request.messages.findLast((message) => message.role === "user")
  const words = lastUser?.content.trim().match(/\s*\S+/g) ?? []
  const limit = request.sampling.maxTokens ?? Infinity
  const spoken = words.slice(0, limit)
  const promptTokens = countWords(request.agent.systemPrompt) + countWords(request.extraSystemPrompt) +
    request.messages.reduce((sum, message) => sum + countWords(message.content), 0)
  return {
    words: spoken,
    finishReason: words.length > limit ? "length" as const : "stop" as const,
    usage: { promptTokens, completionTokens: spoken.length }
  }
}

export const complete = (request: RunRequest): AgentReply => {
  const { finishReason, usage, words } = answer(request)
  return { text: words.join(""), finishReason, usage }
}

export const stream = (request: RunRequest): Stream.Stream<AgentEvent> =>
  Stream.suspend(() => {
    const { finishReason, usage, words } = answer(request)
    return Stream.fromIterable([
      ...words.map((text) => AgentEvent.TextDelta({ text })),
      AgentEvent.Usage({ usage }),
      AgentEvent.Finish({ reason: finishReason })
    ])
  })

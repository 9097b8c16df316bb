/**
 * The built-in `echo` model: no network, answers with the text of the last user message, word by
 * word, and counts words as tokens. For trying the gateway and for tests; it is a Model like any
 * provider's, so it goes through the same runner. It calls no tools; a turn that continues with
 * tool results (the conversation ends with them) is answered with their text. It takes no images
 * (the endpoint leaves them out for an agent on echo) and ignores the answer format; of the
 * sampling, it honours `maxTokens` (a longer answer is cut, with finish reason `length`).
 */
import * as Effect from "effect/Effect"
import { AgentEvent, type AgentReply } from "../domain/AgentEvent.js"
import * as Pull from "../domain/Pull.js"
import type { Model, ModelRequest } from "./Provider.js"

const countWords = (text: string) => text.match(/\S+/g)?.length ?? 0

/** The answer: its words, each with the whitespace before it, and its finish reason and usage. */
const answer = ({ messages, sampling, system }: ModelRequest) => {
  const results = messages.slice(messages.findLastIndex((message) => message.role !== "tool") + 1)
  const lastUser = messages.findLast((message) => message.role === "user")
  const text = results.length > 0 ? results.map((result) => result.content).join("\n") : lastUser?.content ?? ""
  const words = text.trim().match(/\s*\S+/g) ?? []
  const spoken = words.slice(0, sampling.maxTokens ?? Infinity)
  const promptTokens = countWords(system ?? "") +
    messages.reduce((sum, message) => sum + countWords(message.content), 0)
  return {
    words: spoken,
    finishReason: words.length > spoken.length ? "length" as const : "stop" as const,
    usage: { promptTokens, completionTokens: spoken.length }
  }
}

export const model: Model = {
  provider: "echo",
  model: "echo",
  open: (request) =>
    Effect.sync(() => {
      const { finishReason, usage, words } = answer(request)
      let said = false
      return Effect.suspend(() => {
        if (said) return Pull.end
        said = true
        return Pull.emit([
          ...words.map((text) => AgentEvent.TextDelta({ text })),
          AgentEvent.Usage({ usage }),
          AgentEvent.Finish({ reason: finishReason })
        ])
      })
    }),
  complete: (request) =>
    Effect.sync((): AgentReply => {
      const { finishReason, usage, words } = answer(request)
      return { text: words.join(""), finishReason, usage }
    })
}

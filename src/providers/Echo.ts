/**
 * The built-in `echo` model: no network, answers with the text of the last user message, word by
 * word, and counts words as tokens. For trying the gateway and for tests. It is a LanguageModel
 * like any provider's, so it goes through the same runner. It calls no tools; a turn that
 * continues with tool results (the prompt ends with them) is answered with their text. It takes
 * no images (the endpoint leaves them out for an agent on echo) and ignores `response_format`.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Model } from "./Provider.js"

/** The run's sampling that echo honours: `maxTokens` cuts the answer (finish reason `length`). */
class EchoSettings extends Context.Reference<EchoSettings>()("clawgate/providers/Echo/EchoSettings", {
  defaultValue: (): { readonly maxTokens?: number | undefined } => ({})
}) {}

const resultText = (result: unknown): string => typeof result === "string" ? result : JSON.stringify(result) ?? ""

const textOf = (message: Prompt.Message): string =>
  typeof message.content === "string"
    ? message.content
    : message.content.flatMap((part) =>
      part.type === "text" ? [part.text] : part.type === "tool-result" ? [resultText(part.result)] : []
    ).join("\n")

const countWords = (text: string) => text.match(/\S+/g)?.length ?? 0

/** The reply's words, each with the whitespace before it, its finish reason and usage. */
const answer = (prompt: Prompt.Prompt, maxTokens: number | undefined) => {
  const results = prompt.content.slice(prompt.content.findLastIndex((message) => message.role !== "tool") + 1)
  const lastUser = prompt.content.findLast((message) => message.role === "user")
  const text = results.length > 0 ? results.map(textOf).join("\n") : lastUser === undefined ? "" : textOf(lastUser)
  const words = text.trim().match(/\s*\S+/g) ?? []
  const spoken = words.slice(0, maxTokens ?? Infinity)
  const inputTokens = prompt.content.reduce((sum, message) => sum + countWords(textOf(message)), 0)
  const finish: Response.FinishPartEncoded = {
    type: "finish",
    reason: words.length > spoken.length ? "length" : "stop",
    usage: { inputTokens, outputTokens: spoken.length, totalTokens: inputTokens + spoken.length }
  }
  return { words: spoken, finish }
}

const calls: LanguageModel.ConstructorParams = {
  generateText: (options) =>
    Effect.map(EchoSettings, (settings) => {
      const { finish, words } = answer(options.prompt, settings.maxTokens)
      return [{ type: "text", text: words.join("") }, finish]
    }),
  streamText: (options) =>
    Stream.unwrap(Effect.map(EchoSettings, (settings) => {
      const { finish, words } = answer(options.prompt, settings.maxTokens)
      return Stream.fromIterable<Response.StreamPartEncoded>([
        { type: "text-start", id: "echo" },
        ...words.map((delta) => ({ type: "text-delta" as const, id: "echo", delta })),
        { type: "text-end", id: "echo" },
        finish
      ])
    }))
}

export const make = Effect.map(LanguageModel.make(calls), (languageModel): Model => ({
  provider: "echo",
  model: "echo",
  languageModel,
  calls,
  settings: (sampling) => Context.make(EchoSettings, { maxTokens: sampling.maxTokens })
}))

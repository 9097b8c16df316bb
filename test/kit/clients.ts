/** Client libraries aimed at the gateway under test, and what their calls reject with. */
import * as Effect from "effect/Effect"
import OpenAI from "openai"
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionStreamParams
} from "openai/resources/chat/completions"
import { baseUrl, TOKEN } from "./gateway.js"

/** The official `openai` SDK aimed at the gateway under test; no retries, so every answer is seen as it is. */
export const sdk = (apiKey: string = TOKEN) =>
  Effect.map(baseUrl, (url) => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 }))

/** What a client's call rejects with (the test fails if it resolves). */
export const rejection = <A>(call: () => Promise<A>) =>
  Effect.flip(Effect.tryPromise({ try: call, catch: (error) => error }))

type Params<P> = Omit<P, "model"> & { readonly model?: string }

/** A completion through the SDK, to agent `main` unless `params` names another model. */
export const completion = (params: Params<ChatCompletionCreateParamsNonStreaming>) =>
  Effect.flatMap(
    sdk(),
    (openai) => Effect.promise(() => openai.chat.completions.create({ model: "clawdbot:main", ...params }))
  )

/** A streamed completion through the SDK's stream helper, reassembled by it. */
export const streamedCompletion = (params: Params<ChatCompletionStreamParams>) =>
  Effect.flatMap(
    sdk(),
    (openai) =>
      Effect.promise(() => openai.chat.completions.stream({ model: "clawdbot:main", ...params }).finalChatCompletion())
  )

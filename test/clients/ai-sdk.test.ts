/**
 * End-to-end: the Vercel AI SDK (`ai` with `@ai-sdk/openai-compatible`) against the real gateway
 * on a loopback port, agents on the built-in echo model through the live runner. `generateText`
 * and `streamText` with its usage and finish reason (the SDK insists on exactly one finish reason
 * and on `choices: []` in the usage chunk), the errors it raises for the gateway's answers, and a
 * session continued through `user`.
 */
import { createOpenAICompatible } from "@ai-sdk/openai-compatible"
import { describe, expect, it } from "@effect/vitest"
import { APICallError, generateText, NoOutputGeneratedError, streamText } from "ai"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type { AgentRunner } from "../../src/agent/AgentRunner.js"
import { ProviderFailed } from "../../src/domain/Errors.js"
import { FakeAgentRunner } from "../../src/testing.js"
import { rejection } from "../kit/clients.js"
import { baseUrl, testGateway, TOKEN } from "../kit/gateway.js"
import { COMPLETION_ID, REQUEST_ID } from "../kit/wire.js"

const served = (options: { readonly runner?: Layer.Layer<AgentRunner> } = {}) => Effect.provide(testGateway(options))

/** The AI SDK's provider aimed at the gateway under test. */
const provider = (options: { readonly apiKey?: string; readonly includeUsage?: boolean } = {}) =>
  Effect.map(baseUrl, (url) =>
    createOpenAICompatible({
      name: "clawgate",
      baseURL: `${url}/v1`,
      apiKey: options.apiKey ?? TOKEN,
      includeUsage: options.includeUsage ?? true
    }))

const apiCallError = (error: unknown): APICallError => {
  expect(APICallError.isInstance(error)).toBe(true)
  if (!APICallError.isInstance(error)) throw new Error(`expected an APICallError, got ${String(error)}`)
  return error
}

describe("AI SDK: generateText", () => {
  it.scopedLive("gets the echo reply with the finish reason, real usage, the response id and headers", () =>
    Effect.gen(function*() {
      const clawgate = yield* provider()
      const result = yield* Effect.promise(() =>
        generateText({
          model: clawgate.chatModel("clawdbot:main"),
          system: "Answer briefly.",
          prompt: "the quick brown fox",
          maxRetries: 0
        })
      )
      expect(result.text).toBe("the quick brown fox")
      expect(result.finishReason).toBe("stop")
      // Echo counts words: the prompt is the system text and the question, the answer the question.
      expect(result.usage).toMatchObject({ inputTokens: 2 + 4, outputTokens: 4, totalTokens: 2 + 4 + 4 })
      expect(result.response.id).toMatch(COMPLETION_ID)
      expect(result.response.modelId).toBe("clawdbot:main")
      expect(result.response.headers?.["x-request-id"]).toMatch(REQUEST_ID)
      expect(result.response.headers?.["x-clawdbot-session-key"]).toMatch(/^agent:main:openai:/)
    }).pipe(served()))

  it.scopedLive("stops at maxOutputTokens with finish reason length, on the agent the model names", () =>
    Effect.gen(function*() {
      const clawgate = yield* provider()
      const result = yield* Effect.promise(() =>
        generateText({
          model: clawgate.chatModel("agent:beta"),
          prompt: "one two three four five",
          maxOutputTokens: 2,
          maxRetries: 0
        })
      )
      expect(result.text).toBe("one two")
      expect(result.finishReason).toBe("length")
      expect(result.usage.outputTokens).toBe(2)
      expect(result.response.headers?.["x-clawdbot-session-key"]).toMatch(/^agent:beta:openai:/)
    }).pipe(served()))

  it.scopedLive("continues a session named by the OpenAI `user` (sent through providerOptions)", () =>
    Effect.gen(function*() {
      const clawgate = yield* provider()
      const ask = (prompt: string) =>
        Effect.promise(() =>
          generateText({
            model: clawgate.chatModel("clawdbot:main"),
            prompt,
            providerOptions: { clawgate: { user: "ada" } },
            maxRetries: 0
          })
        )
      const first = yield* ask("one two three")
      expect(first.response.headers?.["x-clawdbot-session-key"]).toBe("agent:main:openai-user:ada")
      const second = yield* ask("four")
      expect(second.text).toBe("four")
      // The stored turn (3 words asked, 3 answered) and the new one.
      expect(second.usage.inputTokens).toBe(3 + 3 + 1)
    }).pipe(served()))

  it.scopedLive("raises APICallError 401 for a wrong key and 404 for an unknown agent, with the gateway's message", () =>
    Effect.gen(function*() {
      const wrong = yield* provider({ apiKey: "not-the-token" })
      const unauthorized = apiCallError(
        yield* rejection(() =>
          generateText({ model: wrong.chatModel("clawdbot:main"), prompt: "hello", maxRetries: 0 })
        )
      )
      expect(unauthorized.statusCode).toBe(401)
      expect(unauthorized.message).toBe("Unauthorized")
      expect(unauthorized.isRetryable).toBe(false)

      const clawgate = yield* provider()
      const missing = apiCallError(
        yield* rejection(() =>
          generateText({ model: clawgate.chatModel("clawdbot:nope"), prompt: "hello", maxRetries: 0 })
        )
      )
      expect(missing.statusCode).toBe(404)
      expect(missing.message).toContain("nope")
      expect(missing.responseHeaders?.["x-request-id"]).toMatch(REQUEST_ID)
    }).pipe(served()))
})

describe("AI SDK: streamText", () => {
  it.scopedLive("streams the reply piece by piece, then resolves the finish reason and usage", () =>
    Effect.gen(function*() {
      const clawgate = yield* provider()
      const result = streamText({
        model: clawgate.chatModel("clawdbot:main"),
        system: "Answer briefly.",
        prompt: "the quick brown fox",
        maxRetries: 0
      })
      const deltas = yield* Effect.promise(async () => {
        const seen: Array<string> = []
        for await (const delta of result.textStream) seen.push(delta)
        return seen
      })
      expect(deltas.join("")).toBe("the quick brown fox")
      // As the agent produced it: one piece per word.
      expect(deltas.length).toBe(4)
      expect(yield* Effect.promise(() => result.finishReason)).toBe("stop")
      expect(yield* Effect.promise(() => result.usage)).toMatchObject({
        inputTokens: 2 + 4,
        outputTokens: 4,
        totalTokens: 2 + 4 + 4
      })
      const response = yield* Effect.promise(() => result.response)
      expect(response.id).toMatch(COMPLETION_ID)
      expect(response.modelId).toBe("clawdbot:main")
      expect(response.headers?.["x-request-id"]).toMatch(REQUEST_ID)
      expect(response.headers?.["content-type"]).toMatch(/^text\/event-stream/)
    }).pipe(served()))

  it.scopedLive("gives a full stream without error parts, one finish with length at maxOutputTokens", () =>
    Effect.gen(function*() {
      const clawgate = yield* provider()
      const result = streamText({
        model: clawgate.chatModel("clawdbot:beta"),
        prompt: "one two three four five",
        maxOutputTokens: 3,
        maxRetries: 0
      })
      const parts = yield* Effect.promise(async () => {
        const seen: Array<{ readonly type: string; readonly text?: string; readonly finishReason?: string }> = []
        for await (const part of result.fullStream) {
          seen.push({
            type: part.type,
            ...(part.type === "text-delta" && { text: part.text }),
            ...(part.type === "finish" && { finishReason: part.finishReason })
          })
        }
        return seen
      })
      expect(parts.filter((part) => part.type === "error")).toEqual([])
      expect(parts.flatMap((part) => part.text ?? []).join("")).toBe("one two three")
      expect(parts.filter((part) => part.type === "finish")).toEqual([{ type: "finish", finishReason: "length" }])
      expect(yield* Effect.promise(() => result.usage)).toMatchObject({ inputTokens: 5, outputTokens: 3 })
    }).pipe(served()))

  it.scopedLive("without includeUsage the gateway sends no usage chunk, and the finish reason still arrives", () =>
    Effect.gen(function*() {
      const clawgate = yield* provider({ includeUsage: false })
      const result = streamText({ model: clawgate.chatModel("clawdbot:main"), prompt: "hi there", maxRetries: 0 })
      expect(yield* Effect.promise(() => result.text)).toBe("hi there")
      expect(yield* Effect.promise(() => result.finishReason)).toBe("stop")
      const usage = yield* Effect.promise(() => result.usage)
      expect(usage.inputTokens).toBeUndefined()
      expect(usage.outputTokens).toBeUndefined()
    }).pipe(served()))

  it.scopedLive("reports an in-band error after content as an error part and finish reason error", () =>
    Effect.gen(function*() {
      const clawgate = yield* provider()
      const errors: Array<unknown> = []
      const result = streamText({
        model: clawgate.chatModel("clawdbot:main"),
        prompt: "hello",
        maxRetries: 0,
        onError: ({ error }) => {
          errors.push(error)
        }
      })
      const text = yield* Effect.promise(() => result.text)
      expect(text).toBe("half an answer")
      expect(yield* Effect.promise(() => result.finishReason)).toBe("error")
      expect(errors).toHaveLength(1)
      const [error] = errors
      expect(error).toMatchObject({ type: "server_error", code: "provider_error" })
      expect(JSON.stringify(error)).not.toContain("sk-live-secret")
    }).pipe(served({
      runner: FakeAgentRunner.layerFailingAfter(
        "half an answer",
        new ProviderFailed({ provider: "upstream", detail: "exploded holding sk-live-secret" })
      )
    })))

  it.scopedLive("rejects with APICallError 401 before any content for a wrong key", () =>
    Effect.gen(function*() {
      const wrong = yield* provider({ apiKey: "not-the-token" })
      const errors: Array<unknown> = []
      const result = streamText({
        model: wrong.chatModel("clawdbot:main"),
        prompt: "hello",
        maxRetries: 0,
        onError: ({ error }) => {
          errors.push(error)
        }
      })
      // The SDK finds no output, and hands the gateway's answer to onError.
      expect(NoOutputGeneratedError.isInstance(yield* rejection(() => Promise.resolve(result.text)))).toBe(true)
      expect(errors).toHaveLength(1)
      expect(apiCallError(errors[0]).statusCode).toBe(401)
    }).pipe(served()))
})

/**
 * End-to-end: LangChain JS (`@langchain/openai` `ChatOpenAI` with `configuration: { baseURL }`)
 * against the real gateway on a loopback port, agents on the built-in echo model through the live
 * runner. `invoke` and `stream` (LangChain needs the role on the first chunk and the usage chunk to
 * fill `usage_metadata`), the errors it raises, and a conversation kept by a header it sends on
 * every request.
 */
import { describe, expect, it } from "@effect/vitest"
import { AIMessageChunk, HumanMessage, SystemMessage, type UsageMetadata } from "@langchain/core/messages"
import { ChatOpenAI } from "@langchain/openai"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type { AgentRunner } from "../../src/agent/AgentRunner.js"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { ProviderFailed } from "../../src/domain/Errors.js"
import { FakeAgentRunner } from "../../src/testing.js"
import { rejection } from "../kit/clients.js"
import { baseConfig, baseUrl, configWith, testGateway, TOKEN } from "../kit/gateway.js"
import { COMPLETION_ID } from "../kit/wire.js"

const CHAT_ID = "x-openwebui-chat-id"

/** The harness config, with Open WebUI's chat id naming conversations. */
const config: ConfigInput = configWith({
  gateway: {
    ...baseConfig.gateway,
    http: { endpoints: { chatCompletions: { enabled: true, sessionHeaders: [CHAT_ID] } } }
  }
})

const served = (options: { readonly runner?: Layer.Layer<AgentRunner> } = {}) =>
  Effect.provide(testGateway({ config, ...options }))

/** A ChatOpenAI aimed at the gateway under test, with no retries. */
const chatModel = (
  options: {
    readonly model?: string
    readonly apiKey?: string
    readonly maxTokens?: number
    readonly headers?: Readonly<Record<string, string>>
  } = {}
) =>
  Effect.map(baseUrl, (url) =>
    new ChatOpenAI({
      model: options.model ?? "clawdbot:main",
      apiKey: options.apiKey ?? TOKEN,
      maxRetries: 0,
      ...(options.maxTokens !== undefined && { maxTokens: options.maxTokens }),
      configuration: { baseURL: `${url}/v1`, ...(options.headers !== undefined && { defaultHeaders: options.headers }) }
    }))

const question = [new SystemMessage("Answer briefly."), new HumanMessage("the quick brown fox")]

/** A message's token counts (read through a plain type: the inferred message types can be `never` there). */
const usageOf = (message: { readonly usage_metadata?: UsageMetadata | undefined }) => message.usage_metadata

/** The answer to `question` from agent `main` on echo: its words, usage, finish reason, model and id. */
const expectTheEchoedQuestion = (message: AIMessageChunk) => {
  expect(message.text).toBe("the quick brown fox")
  expect(usageOf(message)).toMatchObject({ input_tokens: 2 + 4, output_tokens: 4, total_tokens: 2 + 4 + 4 })
  expect(message.response_metadata).toMatchObject({ finish_reason: "stop", model_name: "clawdbot:main" })
  expect(message.id).toMatch(COMPLETION_ID)
}

/** Every chunk of a LangChain stream, and all of them merged as LangChain merges them. */
const drain = (stream: Promise<AsyncIterable<AIMessageChunk>>) =>
  Effect.promise(async () => {
    const chunks: Array<AIMessageChunk> = []
    for await (const chunk of await stream) chunks.push(chunk)
    const merged = chunks.reduce((all, chunk) => all.concat(chunk), new AIMessageChunk({ content: "" }))
    return { chunks, merged }
  })

describe("LangChain ChatOpenAI: invoke", () => {
  it.scopedLive("gets the echo reply with usage_metadata, the finish reason and the model name", () =>
    Effect.gen(function*() {
      const model = yield* chatModel()
      const reply = yield* Effect.promise(() => model.invoke(question))
      expectTheEchoedQuestion(reply)
    }).pipe(served()))

  it.scopedLive("honours maxTokens (finish reason length) and routes to the agent the model names", () =>
    Effect.gen(function*() {
      const model = yield* chatModel({ model: "clawdbot:beta", maxTokens: 2 })
      const reply = yield* Effect.promise(() => model.invoke("one two three four"))
      expect(reply.text).toBe("one two")
      expect(reply.response_metadata).toMatchObject({ finish_reason: "length", model_name: "clawdbot:beta" })
      expect(usageOf(reply)?.output_tokens).toBe(2)
    }).pipe(served()))

  it.scopedLive("keeps a conversation by the chat id header, and keeps two chats apart", () =>
    Effect.gen(function*() {
      const chatA = yield* chatModel({ headers: { [CHAT_ID]: "lc-chat-a" } })
      const chatB = yield* chatModel({ headers: { [CHAT_ID]: "lc-chat-b" } })
      const first = yield* Effect.promise(() => chatA.invoke("one two three"))
      expect(usageOf(first)?.input_tokens).toBe(3)
      const other = yield* Effect.promise(() => chatB.invoke("four five"))
      expect(usageOf(other)?.input_tokens).toBe(2)
      // The stored turn of chat A (3 words asked, 3 answered), then the new one.
      const second = yield* Effect.promise(() => chatA.invoke("six"))
      expect(second.text).toBe("six")
      expect(usageOf(second)?.input_tokens).toBe(3 + 3 + 1)
    }).pipe(served()))

  it.scopedLive("rejects with the gateway's 401 for a wrong key and its 404 for an unknown agent", () =>
    Effect.gen(function*() {
      const wrong = yield* chatModel({ apiKey: "not-the-token" })
      const unauthorized = yield* rejection(() => wrong.invoke("hello"))
      expect(unauthorized).toMatchObject({ status: 401, lc_error_code: "MODEL_AUTHENTICATION" })

      const missing = yield* chatModel({ model: "clawdbot:nope" })
      const notFound = yield* rejection(() => missing.invoke("hello"))
      expect(notFound).toMatchObject({ status: 404, code: "model_not_found", lc_error_code: "MODEL_NOT_FOUND" })
      expect(String(notFound)).toContain("nope")
    }).pipe(served()))
})

describe("LangChain ChatOpenAI: stream", () => {
  it.scopedLive("streams the reply piece by piece; the merged message has usage and the finish reason", () =>
    Effect.gen(function*() {
      const model = yield* chatModel()
      const { chunks, merged } = yield* drain(model.stream(question))
      const pieces = chunks.map((chunk) => chunk.text).filter((text) => text.length > 0)
      expect(pieces.join("")).toBe("the quick brown fox")
      // As the agent produced it: one piece per word.
      expect(pieces).toHaveLength(4)
      expectTheEchoedQuestion(merged)
    }).pipe(served()))

  it.scopedLive("stops at maxTokens with finish reason length", () =>
    Effect.gen(function*() {
      const model = yield* chatModel({ maxTokens: 3 })
      const { merged } = yield* drain(model.stream("one two three four five"))
      expect(merged.text).toBe("one two three")
      expect(merged.response_metadata.finish_reason).toBe("length")
      expect(merged.usage_metadata).toMatchObject({ input_tokens: 5, output_tokens: 3 })
    }).pipe(served()))

  it.scopedLive("throws from the iteration on an in-band error after content, without the provider's secrets", () =>
    Effect.gen(function*() {
      const model = yield* chatModel()
      const received: Array<string> = []
      const error = yield* rejection(async () => {
        for await (const chunk of await model.stream("hello")) received.push(chunk.text)
      })
      expect(received.join("")).toBe("half an answer")
      expect(error).toMatchObject({ code: "provider_error", type: "server_error" })
      expect(String(error)).not.toContain("sk-live-secret")
    }).pipe(served({
      runner: FakeAgentRunner.layerFailingAfter(
        "half an answer",
        new ProviderFailed({ provider: "upstream", detail: "exploded holding sk-live-secret" })
      )
    })))
})

/**
 * The Vercel AI SDK with `@ai-sdk/openai`'s Responses model against the gateway, unchanged:
 * `generateText`, `streamText`, and a tool loop (the SDK runs the tool and sends its result back).
 */
import { createOpenAI } from "@ai-sdk/openai"
import { describe, expect, it } from "@effect/vitest"
import { generateText, jsonSchema, stepCountIs, streamText, tool } from "ai"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as LiveRunner from "../../src/agent/LiveRunner.js"
import { ScriptedModel } from "../fakes/ScriptedModel.js"
import { baseUrl, testGateway, TOKEN } from "../kit/gateway.js"
import { lines } from "../sessions/harness.js"
import { callsWeather, responsesConfig } from "./kit.js"

const served = () => Effect.provide(testGateway({ config: responsesConfig() }))

/** The AI SDK's OpenAI provider aimed at the gateway under test. */
const provider = Effect.map(baseUrl, (url) => createOpenAI({ baseURL: `${url}/v1`, apiKey: TOKEN }))

const weather = tool({
  description: "The weather in a city",
  inputSchema: jsonSchema<{ readonly city: string }>({
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false
  }),
  execute: ({ city }) => Promise.resolve(`sunny in ${city}`)
})

describe("AI SDK (@ai-sdk/openai responses)", () => {
  it.scopedLive("generateText: the answer, finish reason, usage and response id", () =>
    Effect.gen(function*() {
      const openai = yield* provider
      const result = yield* Effect.promise(() =>
        generateText({
          model: openai.responses("clawdbot:main"),
          system: "Answer briefly.",
          prompt: "the quick brown fox",
          maxRetries: 0
        })
      )
      expect(result.text).toBe("the quick brown fox")
      expect(result.finishReason).toBe("stop")
      expect(result.usage).toMatchObject({ inputTokens: 6, outputTokens: 4, totalTokens: 10 })
      expect(result.response.id).toMatch(/^resp_/)
    }).pipe(served()))

  it.scopedLive("generateText with maxOutputTokens: finish reason length", () =>
    Effect.gen(function*() {
      const openai = yield* provider
      const result = yield* Effect.promise(() =>
        generateText({
          model: openai.responses("clawdbot:beta"),
          prompt: "one two three four five",
          maxOutputTokens: 2,
          maxRetries: 0
        })
      )
      expect(result.text).toBe("one two")
      expect(result.finishReason).toBe("length")
    }).pipe(served()))

  it.scopedLive("streamText: the text as it streams, finish reason and usage", () =>
    Effect.gen(function*() {
      const openai = yield* provider
      const pieces: Array<string> = []
      const result = streamText({ model: openai.responses("clawdbot:main"), prompt: "one two three", maxRetries: 0 })
      yield* Effect.promise(async () => {
        for await (const piece of result.textStream) pieces.push(piece)
      })
      expect(pieces.join("")).toBe("one two three")
      expect(pieces.length).toBeGreaterThan(1)
      expect(yield* Effect.promise(() => result.finishReason)).toBe("stop")
      expect(yield* Effect.promise(() => result.usage)).toMatchObject({ outputTokens: 3 })
    }).pipe(served()))

  it.scopedLive("generateText with a tool: the SDK runs the call and the model answers its result", () =>
    Effect.gen(function*() {
      const openai = yield* provider
      const result = yield* Effect.promise(() =>
        generateText({
          model: openai.responses("clawdbot:main"),
          prompt: "weather in Paris?",
          tools: { weather },
          stopWhen: stepCountIs(3),
          maxRetries: 0
        })
      )
      expect(result.steps.length).toBe(2)
      expect(result.steps[0]?.toolCalls).toEqual([
        expect.objectContaining({ toolCallId: "call_1", toolName: "weather", input: { city: "Paris" } })
      ])
      expect(result.text).toBe("sunny in Paris")
    }).pipe(Effect.provide(callsWeather())))

  it.scopedLive("streamText with a tool: the same loop, streamed", () =>
    Effect.gen(function*() {
      const openai = yield* provider
      const result = streamText({
        model: openai.responses("clawdbot:main"),
        prompt: "weather in Paris?",
        tools: { weather },
        stopWhen: stepCountIs(3),
        maxRetries: 0
      })
      expect(yield* Effect.promise(() => result.text)).toBe("sunny in Paris")
      const steps = yield* Effect.promise(() => result.steps)
      expect(steps[0]?.toolResults).toEqual([
        expect.objectContaining({ toolCallId: "call_1", output: "sunny in Paris" })
      ])
    }).pipe(Effect.provide(callsWeather())))

  it.scopedLive("a conversation resent with the SDK's own response messages: the model sees its earlier answer", () =>
    Effect.gen(function*() {
      const openai = yield* provider
      const model = openai.responses("clawdbot:main")
      const first = yield* Effect.promise(() => generateText({ model, prompt: "I am Ann", maxRetries: 0 }))
      const second = yield* Effect.promise(() =>
        generateText({
          model,
          messages: [{ role: "user", content: "I am Ann" }, ...first.response.messages, {
            role: "user",
            content: "who am I?"
          }],
          maxRetries: 0
        })
      )
      expect(second.text).toBe("user: I am Ann / assistant: user: I am Ann / user: who am I?")
    }).pipe(Effect.provide((() => {
      // The model answers with what it was shown, so the answer says what it sees.
      const scripted = ScriptedModel.layer({ answer: (call) => lines(call.prompt).join(" / ") })
      const runner = LiveRunner.layerFromServices.pipe(Layer.provide(scripted))
      return testGateway({ config: responsesConfig(), runner })
    })())))
})

/**
 * Client tools end to end with other clients, against the real gateway on
 * loopback whose agent sits on a fake provider: the Vercel AI SDK (`generateText` and
 * `streamText` with tools, including its own tool loop that sends the result back) on the Chat
 * Completions fake, and LangChain (`bindTools`, `invoke` and `stream`, then the `ToolMessage`
 * round) on the Anthropic Messages fake.
 */
import { createOpenAICompatible } from "@ai-sdk/openai-compatible"
import { describe, expect, it } from "@effect/vitest"
import { AIMessageChunk, HumanMessage, ToolMessage } from "@langchain/core/messages"
import { ChatOpenAI } from "@langchain/openai"
import { generateText, jsonSchema, type JSONSchema7, stepCountIs, streamText, tool } from "ai"
import * as Effect from "effect/Effect"
import { baseUrl, TOKEN } from "../kit/gateway.js"
import { sentConversation, sentTools } from "../kit/sent.js"
import { Upstream, upstreamGateway } from "../kit/upstream.js"

const WEATHER_SCHEMA = {
  type: "object",
  properties: {
    city: { type: "string", description: "The city's name" },
    unit: { type: "string", enum: ["celsius", "fahrenheit"] }
  },
  required: ["city"],
  additionalProperties: false
} satisfies JSONSchema7

const WEATHER_CALL = { id: "call_w1", name: "get_weather", pieces: ["{\"city\":", "\"Paris\",\"unit\":\"celsius\"}"] }
const QUESTION = "What is the weather in Paris?"

describe("Vercel AI SDK with tools", () => {
  const served = Effect.provide(upstreamGateway("openai-completions"))

  const clawgate = Effect.map(
    baseUrl,
    (url) => createOpenAICompatible({ name: "clawgate", baseURL: `${url}/v1`, apiKey: TOKEN, includeUsage: true })
  )

  it.scopedLive("generateText gets the tool call, its input intact, finish reason tool-calls", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      const provider = yield* clawgate
      yield* upstream.answerToolCalls([WEATHER_CALL])
      const result = yield* Effect.promise(() =>
        generateText({
          model: provider.chatModel("clawdbot:main"),
          prompt: QUESTION,
          tools: { get_weather: tool({ description: "The weather", inputSchema: jsonSchema(WEATHER_SCHEMA) }) },
          toolChoice: "required",
          maxRetries: 0
        })
      )
      expect(result.finishReason).toBe("tool-calls")
      expect(result.toolCalls.map((call) => ({ id: call.toolCallId, name: call.toolName, input: call.input }))).toEqual(
        [
          { id: WEATHER_CALL.id, name: "get_weather", input: { city: "Paris", unit: "celsius" } }
        ]
      )
      const body = (yield* upstream.nextRequest).body
      expect(sentTools("openai-completions", body)).toEqual([
        { name: "get_weather", description: "The weather", parameters: WEATHER_SCHEMA }
      ])
      expect(body).toHaveProperty("tool_choice", "required")
    }).pipe(served))

  it.scopedLive("streamText runs its tool loop: the streamed call, then the result sent back, then the answer", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      const provider = yield* clawgate
      yield* upstream.answerToolCalls([WEATHER_CALL])
      yield* upstream.answerText(["It is ", "21 degrees."])
      const result = streamText({
        model: provider.chatModel("clawdbot:main"),
        prompt: QUESTION,
        tools: {
          get_weather: tool({
            inputSchema: jsonSchema<{ readonly city: string }>(WEATHER_SCHEMA),
            execute: async ({ city }) => ({ city, temp: 21 })
          })
        },
        stopWhen: stepCountIs(2),
        maxRetries: 0
      })
      expect(yield* Effect.promise(() => result.text)).toBe("It is 21 degrees.")
      const steps = yield* Effect.promise(() => result.steps)
      expect(steps.map((step) => step.finishReason)).toEqual(["tool-calls", "stop"])
      expect(steps[0]?.toolCalls.map((call) => call.input)).toEqual([{ city: "Paris", unit: "celsius" }])
      yield* upstream.nextRequest
      expect(sentConversation("openai-completions", (yield* upstream.nextRequest).body)).toEqual([
        `user: ${QUESTION}`,
        `call ${WEATHER_CALL.id} get_weather {"city":"Paris","unit":"celsius"}`,
        `result ${WEATHER_CALL.id} {"city":"Paris","temp":21}`
      ])
    }).pipe(served))
})

describe("LangChain with bindTools", () => {
  const served = Effect.provide(upstreamGateway("anthropic-messages"))

  const WEATHER_TOOL = {
    type: "function",
    function: { name: "get_weather", description: "The weather", parameters: WEATHER_SCHEMA }
  } as const

  const chatModel = Effect.map(
    baseUrl,
    (url) =>
      new ChatOpenAI({ model: "clawdbot:main", apiKey: TOKEN, maxRetries: 0, configuration: { baseURL: `${url}/v1` } })
        .bindTools([WEATHER_TOOL])
  )

  it.scopedLive("invoke gets the tool call; a ToolMessage with its result continues the turn", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      const model = yield* chatModel
      yield* upstream.answerToolCalls([WEATHER_CALL])
      const question = new HumanMessage(QUESTION)
      const called = yield* Effect.promise(() => model.invoke([question]))
      expect(called.tool_calls?.map((call) => ({ id: call.id, name: call.name, args: call.args }))).toEqual([
        { id: WEATHER_CALL.id, name: "get_weather", args: { city: "Paris", unit: "celsius" } }
      ])
      expect(sentTools("anthropic-messages", (yield* upstream.nextRequest).body)).toEqual([
        { name: "get_weather", description: "The weather", parameters: WEATHER_SCHEMA }
      ])

      yield* upstream.answerText(["It is 21 degrees."])
      const answered = yield* Effect.promise(() =>
        model.invoke([
          question,
          called,
          new ToolMessage({ tool_call_id: WEATHER_CALL.id, content: "21 degrees, clear" })
        ])
      )
      expect(answered.content).toBe("It is 21 degrees.")
      expect(sentConversation("anthropic-messages", (yield* upstream.nextRequest).body)).toEqual([
        `user: ${QUESTION}`,
        `call ${WEATHER_CALL.id} get_weather {"city":"Paris","unit":"celsius"}`,
        `result ${WEATHER_CALL.id} 21 degrees, clear`
      ])
    }).pipe(served))

  it.scopedLive("stream's chunks merge into the tool call", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      const model = yield* chatModel
      yield* upstream.answerToolCalls([WEATHER_CALL])
      const merged = yield* Effect.promise(async () => {
        let all: AIMessageChunk | undefined
        for await (const chunk of await model.stream([new HumanMessage(QUESTION)])) {
          all = all === undefined ? chunk : all.concat(chunk)
        }
        return all
      })
      expect(merged?.tool_calls?.map((call) => ({ id: call.id, name: call.name, args: call.args }))).toEqual([
        { id: WEATHER_CALL.id, name: "get_weather", args: { city: "Paris", unit: "celsius" } }
      ])
      expect(merged?.tool_call_chunks?.map((chunk) => chunk.args)).toEqual([WEATHER_CALL.pieces.join("")])
    }).pipe(served))
})

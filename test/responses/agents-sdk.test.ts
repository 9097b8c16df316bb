/**
 * The OpenAI Agents SDK (`@openai/agents`) against the gateway through its model provider,
 * unchanged: an `Agent` with a function tool runs its loop (the model calls the tool, the SDK runs
 * it and sends its result, the model answers), plain and streamed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Agent, OpenAIProvider, Runner, tool } from "@openai/agents"
import * as Effect from "effect/Effect"
import { baseUrl, testGateway, TOKEN } from "../kit/gateway.js"
import { callsWeather, responsesConfig } from "./kit.js"

/** A runner whose models are the gateway's agents, over the Responses API; no traces sent to OpenAI. */
const runner = Effect.map(baseUrl, (url) =>
  new Runner({
    modelProvider: new OpenAIProvider({ apiKey: TOKEN, baseURL: `${url}/v1`, useResponses: true }),
    tracingDisabled: true
  }))

const weather = tool({
  name: "weather",
  description: "The weather in a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false
  },
  strict: true,
  execute: (input) => Promise.resolve(`sunny in ${JSON.stringify(input)}`)
})

const agent = new Agent({ name: "forecaster", instructions: "Use the tool.", model: "clawdbot:main", tools: [weather] })

describe("OpenAI Agents SDK", () => {
  it.scopedLive("an agent with a function tool: the call runs, and the model's answer is the final output", () =>
    Effect.gen(function*() {
      const agents = yield* runner
      const result = yield* Effect.promise(() => agents.run(agent, "weather in Paris?"))
      expect(result.finalOutput).toBe("sunny in {\"city\":\"Paris\"}")
      const kinds = result.newItems.map((item) => item.type)
      expect(kinds).toEqual(["tool_call_item", "tool_call_output_item", "message_output_item"])
    }).pipe(Effect.provide(callsWeather())))

  it.scopedLive("streamed: the same loop, its text streamed", () =>
    Effect.gen(function*() {
      const agents = yield* runner
      const result = yield* Effect.promise(() => agents.run(agent, "weather in Paris?", { stream: true }))
      let text = ""
      yield* Effect.promise(async () => {
        for await (const piece of result.toTextStream()) text += piece
        await result.completed
      })
      expect(text).toBe("sunny in {\"city\":\"Paris\"}")
      expect(result.finalOutput).toBe(text)
    }).pipe(Effect.provide(callsWeather())))

  it.scopedLive("an agent without tools answers plainly", () =>
    Effect.gen(function*() {
      const agents = yield* runner
      const plain = new Agent({ name: "echo", instructions: "Repeat.", model: "clawdbot:beta" })
      const result = yield* Effect.promise(() => agents.run(plain, "say this back"))
      expect(result.finalOutput).toBe("say this back")
    }).pipe(Effect.provide(testGateway({ config: responsesConfig() }))))
})

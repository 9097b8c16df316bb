/**
 * The official `openai` SDK's Responses API against the gateway, unchanged: `responses.create`
 * plain and with `stream: true`, the `responses.stream` helper, function tools answered through
 * `previous_response_id`, and a conversation chained with it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { NotFoundError } from "openai"
import { Auth } from "../../src/access/Auth.js"
import * as LiveRunner from "../../src/agent/LiveRunner.js"
import { ScriptedModel } from "../fakes/ScriptedModel.js"
import { rejection, sdk } from "../kit/clients.js"
import { testGateway } from "../kit/gateway.js"
import { field, records } from "../kit/json.js"
import { lines } from "../sessions/harness.js"
import { callsWeather, responsesConfig } from "./kit.js"

const served = () => Effect.provide(testGateway({ config: responsesConfig() }))

/** A final response's text (the stream helper's final response has no `output_text` of its own). */
const textOf = (response: { readonly output: ReadonlyArray<unknown> }) =>
  response.output.flatMap((item) =>
    field(item, "type") === "message" ? records(field(item, "content")).map((part) => String(part.text)) : []
  ).join("")

const lookup = {
  type: "function" as const,
  name: "weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false
}

describe("openai SDK: responses.create", () => {
  it.scopedLive("plain: the answer's output_text, status and usage", () =>
    Effect.gen(function*() {
      const openai = yield* sdk()
      const response = yield* Effect.promise(() =>
        openai.responses.create({ model: "clawdbot:main", input: "the quick brown fox", instructions: "be brief" })
      )
      expect(response.id).toMatch(/^resp_/)
      expect(response.status).toBe("completed")
      expect(response.output_text).toBe("the quick brown fox")
      expect(response.usage).toMatchObject({ input_tokens: 6, output_tokens: 4, total_tokens: 10 })
    }).pipe(served()))

  it.scopedLive("stream: true: the SDK's typed events, deltas adding up to the answer", () =>
    Effect.gen(function*() {
      const openai = yield* sdk()
      const types: Array<string> = []
      let text = ""
      yield* Effect.promise(async () => {
        const stream = await openai.responses.create({ model: "clawdbot:main", input: "one two three", stream: true })
        for await (const event of stream) {
          types.push(event.type)
          if (event.type === "response.output_text.delta") text += event.delta
        }
      })
      expect(text).toBe("one two three")
      expect(types[0]).toBe("response.created")
      expect(types.at(-1)).toBe("response.completed")
    }).pipe(served()))

  it.scopedLive("the responses.stream helper assembles the final response", () =>
    Effect.gen(function*() {
      const openai = yield* sdk()
      const final = yield* Effect.promise(() =>
        openai.responses.stream({ model: "clawdbot:main", input: "streamed words here" }).finalResponse()
      )
      expect(textOf(final)).toBe("streamed words here")
      expect(final.status).toBe("completed")
    }).pipe(served()))

  it.scopedLive("an unknown previous_response_id rejects with the SDK's NotFoundError", () =>
    Effect.gen(function*() {
      const openai = yield* sdk()
      const error = yield* rejection(() =>
        openai.responses.create({ model: "clawdbot:main", input: "hi", previous_response_id: "resp_missing" })
      )
      expect(error).toBeInstanceOf(NotFoundError)
    }).pipe(served()))
})

describe("openai SDK: function tools", () => {
  it.scopedLive("the model's call comes as a function_call; its output, sent with previous_response_id, is answered", () =>
    Effect.gen(function*() {
      const openai = yield* sdk()
      const first = yield* Effect.promise(() =>
        openai.responses.create({ model: "clawdbot:main", input: "weather in Paris?", tools: [lookup] })
      )
      const [call] = first.output
      if (call?.type !== "function_call") throw new Error(`expected a function call, got ${JSON.stringify(call)}`)
      expect(call).toMatchObject({ name: "weather", arguments: "{\"city\":\"Paris\"}" })
      const second = yield* Effect.promise(() =>
        openai.responses.create({
          model: "clawdbot:main",
          previous_response_id: first.id,
          input: [{ type: "function_call_output", call_id: call.call_id, output: "sunny" }],
          tools: [lookup]
        })
      )
      expect(second.output_text).toBe("sunny")
    }).pipe(Effect.provide(callsWeather())))

  it.scopedLive("streamed: the helper's final response carries the call with its whole arguments", () =>
    Effect.gen(function*() {
      const openai = yield* sdk()
      const final = yield* Effect.promise(() =>
        openai.responses.stream({ model: "clawdbot:main", input: "weather in Paris?", tools: [lookup] })
          .finalResponse()
      )
      expect(final.output).toEqual([expect.objectContaining({
        type: "function_call",
        call_id: "call_1",
        name: "weather",
        arguments: "{\"city\":\"Paris\"}"
      })])
    }).pipe(Effect.provide(callsWeather())))
})

describe("openai SDK: previous_response_id", () => {
  it.scopedLive("chains a conversation the model remembers, streamed or not", () =>
    Effect.gen(function*() {
      const openai = yield* sdk()
      const first = yield* Effect.promise(() => openai.responses.create({ model: "clawdbot:main", input: "I am Ann" }))
      const second = yield* Effect.promise(() =>
        openai.responses.stream({ model: "clawdbot:main", input: "who am I?", previous_response_id: first.id })
          .finalResponse()
      )
      expect(textOf(second)).toBe("user: I am Ann / assistant: user: I am Ann / user: who am I?")
      const third = yield* Effect.promise(() =>
        openai.responses.create({ model: "clawdbot:main", input: "again", previous_response_id: second.id })
      )
      expect(third.output_text.split(" / ").at(-1)).toBe("user: again")
      expect(third.output_text).toContain("user: who am I?")
      const stored = yield* Effect.promise(() => openai.responses.retrieve(third.id))
      expect(stored.output_text).toBe(third.output_text)
      yield* Effect.promise(() => openai.responses.delete(third.id))
      expect(yield* rejection(() => openai.responses.retrieve(third.id))).toBeInstanceOf(NotFoundError)
    }).pipe(Effect.provide((() => {
      // The model answers with what it was shown, so the answer says what it remembers.
      const model = ScriptedModel.layer({ answer: (call) => lines(call.prompt).join(" / ") })
      const runner = LiveRunner.layerFromServices.pipe(Layer.provide(model))
      return testGateway({ config: responsesConfig(), runner, auth: Auth.layerAcceptAll })
    })())))
})

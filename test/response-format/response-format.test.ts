/**
 * `response_format` end to end, over the real loopback gateway with the live runner on
 * each provider api's fake server: `json_object` and `json_schema` reach a Chat Completions
 * provider as its `response_format` and a Responses provider as `text.format`, as the client sent
 * them, streamed or not; an agent on Anthropic (no JSON mode) answers 400 `response_format`
 * without calling the provider; `text` asks nothing of anyone; `echo` ignores the format; a
 * malformed format is a 400 naming it; the official `openai` SDK's json_schema request gets the
 * model's JSON.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { completion } from "../kit/clients.js"
import { chat, completionBody, errorBody, invalidRequest, text } from "../kit/http.js"
import { eventsOf } from "../kit/sse.js"
import { type Api, Upstream, upstreamGateway } from "../kit/upstream.js"
import { streamedText } from "../kit/wire.js"

const SCHEMA = {
  type: "object",
  properties: {
    city: { type: "string" },
    temperature: { type: "number", minimum: -90 }
  },
  required: ["city", "temperature"],
  additionalProperties: false
}

const JSON_SCHEMA_FORMAT = {
  type: "json_schema",
  json_schema: { name: "weather_report", description: "A weather report", schema: SCHEMA, strict: true }
} as const

const ask = (extra: Record<string, unknown>) => ({
  model: "clawdbot:main",
  messages: [{ role: "user", content: "The weather in Paris, as JSON." }],
  ...extra
})

const ANSWER = ["{\"city\":\"Paris\",", "\"temperature\":21}"]

/** The provider's answer to a request with `extra`, streamed or not: the gateway's text and the provider's body. */
const roundTrip = (extra: Record<string, unknown>) =>
  Effect.gen(function*() {
    const upstream = yield* Upstream
    yield* upstream.answerText(ANSWER)
    const response = yield* chat(ask(extra))
    expect(response.status).toBe(200)
    const said = extra.stream === true
      ? streamedText(eventsOf(yield* text(response)))
      : (yield* completionBody(response)).choices[0]?.message.content
    return { text: said, body: (yield* upstream.nextRequest).body }
  })

/** Where each OpenAI api puts the format, as it should look for the client's `response_format`. */
const sentFormat = (api: Api, body: unknown): unknown => {
  if (typeof body !== "object" || body === null) return undefined
  if (api === "openai-responses") {
    return "text" in body && typeof body.text === "object" && body.text !== null && "format" in body.text
      ? body.text.format
      : undefined
  }
  return "response_format" in body ? body.response_format : undefined
}

describe("response_format on openai-completions", () => {
  const served = Effect.provide(upstreamGateway("openai-completions"))

  it.scopedLive("json_schema and json_object reach the provider as response_format, as sent, in JSON and streamed", () =>
    Effect.gen(function*() {
      for (const stream of [false, true]) {
        const schema = yield* roundTrip({ response_format: JSON_SCHEMA_FORMAT, stream })
        expect(schema.text).toBe(ANSWER.join(""))
        expect(sentFormat("openai-completions", schema.body)).toEqual(JSON_SCHEMA_FORMAT)
        const object = yield* roundTrip({ response_format: { type: "json_object" }, stream })
        expect(sentFormat("openai-completions", object.body)).toEqual({ type: "json_object" })
      }
    }).pipe(served))

  it.scopedLive("a json_schema without strict or description is sent without them; text sends no format", () =>
    Effect.gen(function*() {
      const bare = yield* roundTrip({
        response_format: { type: "json_schema", json_schema: { name: "report", schema: SCHEMA } }
      })
      expect(sentFormat("openai-completions", bare.body)).toEqual({
        type: "json_schema",
        json_schema: { name: "report", schema: SCHEMA }
      })
      const text = yield* roundTrip({ response_format: { type: "text" } })
      expect(text.body).not.toHaveProperty("response_format")
    }).pipe(served))

  it.scopedLive("the official openai SDK's json_schema request gets the model's JSON", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      yield* upstream.answerText(ANSWER)
      const answer = yield* completion({
        messages: [{ role: "user", content: "The weather in Paris, as JSON." }],
        response_format: JSON_SCHEMA_FORMAT
      })
      const content = answer.choices[0]?.message.content ?? ""
      expect(JSON.parse(content)).toEqual({ city: "Paris", temperature: 21 })
      expect(sentFormat("openai-completions", (yield* upstream.nextRequest).body)).toEqual(JSON_SCHEMA_FORMAT)
    }).pipe(served))
})

describe("response_format on openai-responses", () => {
  const served = Effect.provide(upstreamGateway("openai-responses"))

  it.scopedLive("json_schema and json_object reach the provider as text.format, in JSON and streamed", () =>
    Effect.gen(function*() {
      for (const stream of [false, true]) {
        const schema = yield* roundTrip({ response_format: JSON_SCHEMA_FORMAT, stream })
        expect(schema.text).toBe(ANSWER.join(""))
        expect(sentFormat("openai-responses", schema.body)).toEqual({
          type: "json_schema",
          name: "weather_report",
          description: "A weather report",
          schema: SCHEMA,
          strict: true
        })
        const object = yield* roundTrip({ response_format: { type: "json_object" }, stream })
        expect(sentFormat("openai-responses", object.body)).toEqual({ type: "json_object" })
      }
    }).pipe(served))

  it.scopedLive("without a format (or with text) the request asks for text; the format does not stick to later runs", () =>
    Effect.gen(function*() {
      yield* roundTrip({ response_format: { type: "json_object" } })
      const none = yield* roundTrip({})
      expect(sentFormat("openai-responses", none.body)).toEqual({ type: "text" })
      const text = yield* roundTrip({ response_format: { type: "text" } })
      expect(sentFormat("openai-responses", text.body)).toEqual({ type: "text" })
    }).pipe(served))

  it.scopedLive("with tools too: the tools and the format both reach the provider", () =>
    Effect.gen(function*() {
      const tool = { type: "function", function: { name: "lookup", parameters: { type: "object", properties: {} } } }
      const { body } = yield* roundTrip({ response_format: { type: "json_object" }, tools: [tool] })
      expect(sentFormat("openai-responses", body)).toEqual({ type: "json_object" })
      expect(body).toHaveProperty(["tools", 0, "name"], "lookup")
    }).pipe(served))
})

describe("response_format on anthropic-messages", () => {
  const served = Effect.provide(upstreamGateway("anthropic-messages"))

  it.scopedLive("json_schema and json_object: 400 response_format saying the agent's provider cannot, and no provider call", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      for (const format of [JSON_SCHEMA_FORMAT, { type: "json_object" }]) {
        for (const stream of [false, true]) {
          const response = yield* chat(ask({ response_format: format, stream }))
          expect(response.status).toBe(400)
          const { error } = yield* errorBody(response)
          expect(error.type).toBe("invalid_request_error")
          expect(error.param).toBe("response_format")
          expect(error.message).toContain("The agent 'main' runs on provider 'up' (api anthropic-messages)")
          expect(error.message).toContain(`'${format.type}'`)
        }
      }
      expect(yield* upstream.requestCount).toBe(0)
    }).pipe(served))

  it.scopedLive("text asks nothing: the request is answered", () =>
    Effect.gen(function*() {
      const { body, text } = yield* roundTrip({ response_format: { type: "text" } })
      expect(text).toBe(ANSWER.join(""))
      expect(body).not.toHaveProperty("response_format")
    }).pipe(served))
})

describe("response_format elsewhere", () => {
  it.scopedLive("an agent on echo ignores it and echoes the text", () =>
    Effect.gen(function*() {
      const response = yield* chat({
        model: "clawdbot:beta",
        messages: [{ role: "user", content: "not json at all" }],
        response_format: JSON_SCHEMA_FORMAT
      })
      expect(response.status).toBe(200)
      expect((yield* completionBody(response)).choices[0]?.message.content).toBe("not json at all")
    }).pipe(Effect.provide(upstreamGateway("anthropic-messages"))))

  it.scopedLive("a malformed response_format is a 400 naming it", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ type: "yaml" }, "response_format.type"],
        [{ type: "json_schema" }, "response_format.json_schema"],
        [
          { type: "json_schema", json_schema: { name: "has spaces", schema: SCHEMA } },
          "response_format.json_schema.name"
        ],
        [
          { type: "json_schema", json_schema: { name: "ok", schema: "not an object" } },
          "response_format.json_schema.schema"
        ]
      ]
      for (const [format, param] of cases) {
        yield* invalidRequest(ask({ response_format: format }), param)
      }
    }).pipe(Effect.provide(upstreamGateway("openai-completions"))))
})

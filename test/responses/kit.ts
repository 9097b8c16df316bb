/**
 * The Responses endpoint's tests: configs with it on, its requests, and its answers and events
 * read back.
 */
import * as Effect from "effect/Effect"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { FakeAgentRunner } from "../../src/testing.js"
import { baseConfig, testGateway } from "../kit/gateway.js"
import { jsonAnswer, type RequestOptions, send } from "../kit/http.js"
import { isRecord, type Json } from "../kit/json.js"
import { type SseEvents, sseReader } from "../kit/sse.js"

export const PATH = "/v1/responses"

/** `baseConfig` with the Responses endpoint on too (and `endpoints` replaced by these, when given). */
export const responsesConfig = (
  endpoints: NonNullable<NonNullable<NonNullable<ConfigInput["gateway"]>["http"]>["endpoints"]> = {
    chatCompletions: { enabled: true },
    responses: { enabled: true }
  },
  extra: Partial<ConfigInput> = {}
): ConfigInput => ({
  ...baseConfig,
  gateway: { ...baseConfig.gateway, http: { endpoints } },
  ...extra
})

/** `POST /v1/responses` with a JSON body. */
export const create = (body: unknown, options: Omit<RequestOptions, "body" | "method"> = {}) =>
  send(PATH, { ...options, body })

/** `POST /v1/responses`, its answer read whole. */
export const createJson = (body: unknown, options: Omit<RequestOptions, "body" | "method"> = {}) =>
  Effect.flatMap(create(body, options), jsonAnswer)

/** A stored response's `GET` or `DELETE`, its answer read whole. */
export const byId = (method: "GET" | "DELETE", id: string, options: Omit<RequestOptions, "body" | "method"> = {}) =>
  Effect.flatMap(send(`${PATH}/${encodeURIComponent(id)}`, { ...options, method }), jsonAnswer)

/** A streamed response's events, read to the end of the body. */
export interface TypedEvent {
  /** The `event:` line's value. */
  readonly event: string
  readonly data: Json
}

/** An SSE event with `event:` and `data:` lines as its parts; a comment is left as it is. */
export const typedEvent = (text: string): TypedEvent => {
  const lines = text.split("\n")
  const event = lines.find((line) => line.startsWith("event: "))?.slice("event: ".length)
  const data = lines.find((line) => line.startsWith("data: "))?.slice("data: ".length)
  if (event === undefined || data === undefined) throw new Error(`not a typed event: ${JSON.stringify(text)}`)
  const parsed: unknown = JSON.parse(data)
  if (!isRecord(parsed)) throw new Error(`the data is not an object: ${data}`)
  return { event, data: parsed }
}

/** A streamed request: its status, headers and events as they come. */
export const openStream = (body: unknown, options: Omit<RequestOptions, "body" | "method" | "signal"> = {}) =>
  Effect.gen(function*() {
    const controller = new AbortController()
    yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
    const response = yield* create({ ...isRecord(body) ? body : {}, stream: true }, {
      ...options,
      signal: controller.signal
    })
    const events: SseEvents = sseReader(response)
    return { response, events }
  })

/** A streamed request's typed events, to the end. */
export const streamEvents = (body: unknown, options: Omit<RequestOptions, "body" | "method" | "signal"> = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const { events, response } = yield* openStream(body, options)
    const all = yield* events.rest
    return { status: response.status, events: all.map(typedEvent) }
  }))

/** The gateway with the Responses endpoint on, whose model calls `weather` for Paris (as `call_1`), then answers the tool's result. */
export const callsWeather = () =>
  testGateway({
    config: responsesConfig(),
    runner: FakeAgentRunner.layerToolCalls([{ id: "call_1", name: "weather", arguments: "{\"city\":\"Paris\"}" }])
  })

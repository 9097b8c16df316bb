/**
 * A request's temperature as each api takes it: OpenAI's range is 0 to 2, Anthropic's Messages API
 * takes 0 to 1. Above 1 an agent on Anthropic answers 400 naming `temperature`, and the provider is
 * not asked; within the range, and on the OpenAI apis, the temperature goes through as it is.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { chat, errorBody, hello } from "../kit/http.js"
import { against, APIS, Upstream } from "../kit/upstream.js"

describe("temperature above 1", () => {
  it.scopedLive("an agent on anthropic-messages answers 400 invalid 'temperature', streamed or not, and asks no provider", () =>
    against(
      "anthropic-messages",
      Effect.gen(function*() {
        const upstream = yield* Upstream
        for (const stream of [false, true]) {
          const response = yield* chat(hello({ temperature: 1.5, stream }))
          expect(response.status).toBe(400)
          const { error } = yield* errorBody(response)
          expect(error).toMatchObject({ type: "invalid_request_error", param: "temperature" })
          expect(error.message).toContain("0 to 1")
        }
        expect(yield* upstream.requestCount).toBe(0)
      })
    ))

  it.scopedLive("an agent on anthropic-messages takes 1 and below as they are", () =>
    against(
      "anthropic-messages",
      Effect.gen(function*() {
        const upstream = yield* Upstream
        const response = yield* chat(hello({ temperature: 0.7 }))
        expect(response.status).toBe(200)
        expect((yield* upstream.nextRequest).body).toMatchObject({ temperature: 0.7 })
      })
    ))

  for (const api of APIS.filter((api) => api !== "anthropic-messages")) {
    it.scopedLive(`an agent on ${api} sends it on: OpenAI takes up to 2`, () =>
      against(
        api,
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const response = yield* chat(hello({ temperature: 1.5 }))
          expect(response.status).toBe(200)
          expect((yield* upstream.nextRequest).body).toMatchObject({ temperature: 1.5 })
        })
      ))
  }
})

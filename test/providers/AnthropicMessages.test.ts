/**
 * The `anthropic-messages` provider against the Messages API fake: the conformance suite every
 * provider passes, and what is its own (the API version header, a baseUrl given with /v1).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import {
  generate,
  modelAt,
  providerConformance,
  streamEvents,
  upstreamModel,
  withUpstream
} from "../kit/providerConformance.js"
import { Upstream } from "../kit/upstream.js"

providerConformance("anthropic-messages")

describe("anthropic-messages provider", () => {
  it.scopedLive("sends the API version, and an anthropic-beta header the provider configures, stream and JSON", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      const model = yield* upstreamModel({ headers: { "anthropic-beta": "tools-2024" } })
      yield* streamEvents(model)
      yield* generate(model)
      for (const request of [yield* upstream.nextRequest, yield* upstream.nextRequest]) {
        expect(request.headers).toMatchObject({ "anthropic-version": "2023-06-01", "anthropic-beta": "tools-2024" })
      }
    }).pipe(withUpstream("anthropic-messages")))

  it.scopedLive("accepts a baseUrl given with /v1", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      yield* upstream.answerText(["Hello from the fake"])
      const reply = yield* generate(yield* modelAt("anthropic-messages", `${upstream.baseUrl}/v1/`))
      expect(reply.text).toBe("Hello from the fake")
      expect((yield* upstream.nextRequest).path.split("?")[0]).toBe("/v1/messages")
    }).pipe(withUpstream("anthropic-messages")))
})

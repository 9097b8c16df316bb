/**
 * The `openai-responses` provider against the Responses API fake: the conformance suite every
 * provider passes, and what is its own (the fake's shapes are the library's, the request's path
 * and shape).
 */
import * as Generated from "@effect/ai-openai/Generated"
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Fake from "../fakes/ResponsesServer.js"
import { generate, providerConformance, streamParts, upstreamModel, withUpstream } from "../kit/providerConformance.js"
import { Upstream } from "../kit/upstream.js"

providerConformance("openai-responses")

describe("openai-responses provider", () => {
  it("the fake's events and responses have the shapes the library decodes", () => {
    // The library skips stream events it cannot decode: a wrong shape in the fake would go unseen.
    for (const incomplete of [false, true]) {
      for (const event of Fake.textEvents(["a", "b"], "gpt-x", { incomplete })) {
        expect(Schema.decodeUnknownEither(OpenAiClient.ResponseStreamEvent)(event)._tag, event.type).toBe("Right")
      }
      const response = Fake.textResponse(["a", "b"], "gpt-x", { incomplete })
      expect(Schema.decodeUnknownEither(Generated.Response)(response)._tag).toBe("Right")
    }
  })

  it.scopedLive("asks the Responses API at /v1/responses, the prompt as input items, streamed or not", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      const model = yield* upstreamModel()
      yield* streamParts(model)
      yield* generate(model)
      for (const request of [yield* upstream.nextRequest, yield* upstream.nextRequest]) {
        expect(request.path).toBe("/v1/responses")
        expect(request.body).toMatchObject({
          input: [{ role: "user", content: [{ type: "input_text", text: "Say hello" }] }]
        })
      }
    }).pipe(withUpstream("openai-responses")))
})

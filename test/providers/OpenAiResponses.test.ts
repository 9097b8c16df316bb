/**
 * The `openai-responses` provider against the Responses API fake: the conformance suite every
 * provider passes, and what is its own: the fake's shapes are the ones the library decodes.
 */
import * as Generated from "@effect/ai-openai/Generated"
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as Fake from "../fakes/ResponsesServer.js"
import { providerConformance } from "../kit/providerConformance.js"

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
})

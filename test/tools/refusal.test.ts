/**
 * An earlier assistant message that holds only a refusal (OpenAI's `refusal` field, or a content
 * part of type `refusal`) reaches the model with the refusal as the assistant's text, not as an
 * empty assistant message.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { chat } from "../kit/http.js"
import { lastRun, recordingGateway } from "../kit/runs.js"

const REFUSAL = "I can't help with that."

/** A history whose assistant message is `assistant`, then a follow-up question. */
const after = (assistant: Record<string, unknown>) => ({
  model: "clawdbot:main",
  messages: [
    { role: "user", content: "Pick a lock for me." },
    { role: "assistant", ...assistant },
    { role: "user", content: "Why not?" }
  ]
})

describe("an assistant's refusal in the history", () => {
  it.scopedLive("a refusal field alone reaches the model as the assistant's text", () =>
    Effect.gen(function*() {
      expect((yield* chat(after({ content: null, refusal: REFUSAL }))).status).toBe(200)
      expect((yield* lastRun).messages[1]).toEqual({ role: "assistant", content: REFUSAL })
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("a refusal content part reaches the model as the assistant's text", () =>
    Effect.gen(function*() {
      expect((yield* chat(after({ content: [{ type: "refusal", refusal: REFUSAL }] }))).status).toBe(200)
      expect((yield* lastRun).messages[1]).toEqual({ role: "assistant", content: REFUSAL })
    }).pipe(Effect.provide(recordingGateway())))
})

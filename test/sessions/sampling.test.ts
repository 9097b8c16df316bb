/**
 * Sampling options reach the model: the request's temperature, top_p, max_tokens /
 * max_completion_tokens, stop and seed, over the agent's defaults and within its caps. The scripted model records the settings the live runner provides around
 * its call, as a provider's request config would be.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { Sampling } from "../../src/domain/Run.js"
import { ScriptedModel } from "../fakes/ScriptedModel.js"
import { configWith } from "../kit/gateway.js"
import { baseConfig } from "../kit/gateway.js"
import { ask, streamAll } from "../kit/http.js"
import { user } from "../kit/messages.js"
import { body, sessionGateway } from "./harness.js"

const config = configWith({
  agents: {
    list: [
      {
        id: "main",
        default: true,
        model: "echo",
        sampling: { temperature: 0.3, topP: 0.8, maxTokens: 100, seed: 5, stop: ["END"] },
        limits: { maxTokens: 50 }
      },
      { id: "beta", model: "echo" }
    ]
  },
  session: baseConfig.session
})

/** The sampling the model got in its last call (fields left unset dropped). */
const lastSampling = Effect.flatMap(ScriptedModel, (model) =>
  Effect.map(model.calls, (calls): Sampling => {
    const call = calls.at(-1)
    if (call === undefined) throw new Error("the model was not called")
    return Object.fromEntries(Object.entries(call.sampling).filter(([, value]) => value !== undefined))
  }))

const gatewayLayer = sessionGateway({ config, answer: () => "ok" })

describe("sampling options reach the model", () => {
  it.scopedLive("a request that sets none gets the agent's defaults, max tokens within the agent's cap", () =>
    Effect.gen(function*() {
      expect((yield* ask(body([user("hi")]))).status).toBe(200)
      expect(yield* lastSampling).toEqual({ temperature: 0.3, topP: 0.8, maxTokens: 50, seed: 5, stop: ["END"] })
    }).pipe(Effect.provide(gatewayLayer)))

  it.scopedLive("the request's own values win over the defaults", () =>
    Effect.gen(function*() {
      const answered = yield* ask(
        body([user("hi")], { temperature: 0.9, top_p: 0.5, max_tokens: 20, seed: 7, stop: "STOP" })
      )
      expect(answered.status).toBe(200)
      expect(yield* lastSampling).toEqual({ temperature: 0.9, topP: 0.5, maxTokens: 20, seed: 7, stop: ["STOP"] })
      yield* ask(body([user("hi")], { temperature: 0, stop: ["a", "b"] }))
      expect(yield* lastSampling).toEqual({ temperature: 0, topP: 0.8, maxTokens: 50, seed: 5, stop: ["a", "b"] })
    }).pipe(Effect.provide(gatewayLayer)))

  it.scopedLive("max_tokens and max_completion_tokens are capped by the agent's limits.maxTokens, streamed too", () =>
    Effect.gen(function*() {
      yield* ask(body([user("hi")], { max_completion_tokens: 500 }))
      expect((yield* lastSampling).maxTokens).toBe(50)
      yield* streamAll(body([user("hi")], { max_tokens: 51, stream: true }))
      expect((yield* lastSampling).maxTokens).toBe(50)
      yield* streamAll(body([user("hi")], { max_tokens: 49, stream: true }))
      expect((yield* lastSampling).maxTokens).toBe(49)
    }).pipe(Effect.provide(gatewayLayer)))

  it.scopedLive("an agent with no sampling config passes only what the request sets, uncapped", () =>
    Effect.gen(function*() {
      yield* ask({ ...body([user("hi")]), model: "clawdbot:beta" })
      expect(yield* lastSampling).toEqual({})
      yield* ask({ ...body([user("hi")], { max_tokens: 4000, top_p: 0.1 }), model: "clawdbot:beta" })
      expect(yield* lastSampling).toEqual({ maxTokens: 4000, topP: 0.1 })
    }).pipe(Effect.provide(gatewayLayer)))
})

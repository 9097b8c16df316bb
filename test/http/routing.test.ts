/**
 * Which agent a request reaches (headers, model prefixes, the default agent,
 * unknown agents), and what the runner is given: the agent, the messages, the sampling options.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { configWith } from "../kit/gateway.js"
import { chat, completionBody, errorBody, hello } from "../kit/http.js"
import { lastRun, recordedRuns, recordingGateway } from "../kit/runs.js"

const runCount = Effect.map(recordedRuns, (runs) => runs.length)

/** Sends a request that must succeed; returns the agent the run went to. */
const agentFor = (body: unknown, headers: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const response = yield* chat(body, { headers })
    expect(response.status).toBe(200)
    yield* completionBody(response)
    return (yield* lastRun).agent.id
  })

describe("which agent a request reaches", () => {
  it.scopedLive("the model prefixes name the agent, case-insensitively", () =>
    Effect.gen(function*() {
      for (
        const model of [
          "clawdbot:beta",
          "clawdbot/beta",
          "agent:beta",
          "openclaw:beta",
          "openclaw/beta",
          "CLAWDBOT:Beta",
          " agent:BETA "
        ]
      ) {
        expect({ model, agent: yield* agentFor(hello({ model })) }).toEqual({ model, agent: "beta" })
      }
      for (const model of ["clawdbot:main", "openclaw/main"]) {
        expect({ model, agent: yield* agentFor(hello({ model })) }).toEqual({ model, agent: "main" })
      }
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("a model string that names no agent, or no model at all, goes to the default agent", () =>
    Effect.gen(function*() {
      for (const model of ["gpt-4o", "clawdbot", "openclaw", "beta", "echo", "", "gpt-4o:beta"]) {
        expect({ model, agent: yield* agentFor(hello({ model })) }).toEqual({ model, agent: "main" })
      }
      expect(yield* agentFor({ messages: [{ role: "user", content: "hi" }] })).toBe("main")
      expect(yield* agentFor(hello({ model: null }))).toBe("main")
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("the default agent is the one marked default, not main", () =>
    Effect.gen(function*() {
      expect(yield* agentFor(hello({ model: "gpt-4o" }))).toBe("zeta")
      expect(yield* agentFor(hello({ model: "clawdbot:main" }))).toBe("main")
    }).pipe(Effect.provide(recordingGateway(configWith({
      agents: { list: [{ id: "main", model: "echo" }, { id: "zeta", default: true, model: "echo" }] }
    })))))

  it.scopedLive("the agent header wins over the model, and so do its aliases", () =>
    Effect.gen(function*() {
      for (const header of ["x-clawdbot-agent-id", "x-clawdbot-agent", "x-openclaw-agent-id"]) {
        expect({ header, agent: yield* agentFor(hello({ model: "clawdbot:main" }), { [header]: "beta" }) })
          .toEqual({ header, agent: "beta" })
        expect({ header, agent: yield* agentFor(hello({ model: "agent:beta" }), { [header]: "main" }) })
          .toEqual({ header, agent: "main" })
      }
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("the agent header is normalized: trimmed and lowercased", () =>
    Effect.gen(function*() {
      expect(yield* agentFor(hello({ model: "gpt-4o" }), { "x-clawdbot-agent-id": "  BeTa " })).toBe("beta")
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("an explicitly named agent that is not configured gets 404 model_not_found", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<{ readonly body: unknown; readonly headers?: Record<string, string> }> = [
        { body: hello({ model: "clawdbot:ghost" }) },
        { body: hello({ model: "openclaw/ghost" }) },
        { body: hello({ model: "agent:ghost" }) },
        { body: hello({ model: "clawdbot:main" }), headers: { "x-clawdbot-agent-id": "ghost" } }
      ]
      for (const { body, headers } of cases) {
        const response = yield* chat(body, headers === undefined ? {} : { headers })
        expect(response.status).toBe(404)
        const { error } = yield* errorBody(response)
        expect(error).toMatchObject({ type: "invalid_request_error", code: "model_not_found", param: "model" })
        expect(error.message).toContain("ghost")
        expect(error.message).toContain("main")
        expect(error.message).toContain("beta")
      }
      expect(yield* runCount).toBe(0)
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("the agent's config reaches the runner", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello({ model: "clawdbot:poet" }))
      expect(response.status).toBe(200)
      const run = yield* lastRun
      expect(run.agent).toMatchObject({ id: "poet", name: "The Poet", model: "echo", systemPrompt: "Speak in rhyme." })
    }).pipe(Effect.provide(recordingGateway(configWith({
      agents: {
        list: [
          { id: "main", default: true, model: "echo" },
          { id: "poet", name: "The Poet", model: "echo", systemPrompt: "Speak in rhyme." }
        ]
      }
    })))))
})

describe("what the runner is given", () => {
  it.scopedLive("system and developer text become the extra system prompt; the rest is the turn, in order", () =>
    Effect.gen(function*() {
      const response = yield* chat({
        model: "gpt-4o",
        messages: [
          { role: "system", content: "Be brief." },
          { role: "developer", content: [{ type: "text", text: "Use English." }] },
          { role: "user", content: "first question", name: "ann" },
          { role: "assistant", content: "first answer" },
          { role: "tool", content: "42", tool_call_id: "call_1" },
          { role: "function", content: "{\"ok\":true}", name: "lookup" },
          {
            role: "user",
            content: [
              { type: "text", text: "look at" },
              { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
              { type: "input_text", text: "this picture", cache_control: { type: "ephemeral" } }
            ]
          }
        ]
      })
      expect(response.status).toBe(200)
      const run = yield* lastRun
      expect(run.extraSystemPrompt).toBe("Be brief.\n\nUse English.")
      expect(run.messages).toEqual([
        { role: "user", content: "first question", name: "ann" },
        { role: "assistant", content: "first answer", name: undefined },
        { role: "tool", content: "42", name: undefined, toolCallId: "call_1" },
        { role: "tool", content: "{\"ok\":true}", name: "lookup", toolCallId: undefined },
        { role: "user", content: "look at\nthis picture", name: undefined }
      ])
      // The echo agent answered the last user message.
      expect((yield* completionBody(response)).choices[0]?.message.content).toBe("look at\nthis picture")
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("no system text gives no extra system prompt", () =>
    Effect.gen(function*() {
      expect((yield* chat(hello())).status).toBe(200)
      expect((yield* lastRun).extraSystemPrompt).toBeUndefined()
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("the sampling options reach the runner", () =>
    Effect.gen(function*() {
      expect((yield* chat(hello({ temperature: 0.3, top_p: 0.9, max_tokens: 50, stop: "END", seed: 7 }))).status)
        .toBe(200)
      expect((yield* lastRun).sampling).toEqual({ temperature: 0.3, topP: 0.9, maxTokens: 50, stop: ["END"], seed: 7 })

      expect((yield* chat(hello({ max_tokens: 50, max_completion_tokens: 20, stop: ["a", "b"] }))).status).toBe(200)
      expect((yield* lastRun).sampling).toMatchObject({ maxTokens: 20, stop: ["a", "b"] })

      expect((yield* chat(hello({ temperature: null, top_p: null }))).status).toBe(200)
      expect((yield* lastRun).sampling).toEqual({
        temperature: undefined,
        topP: undefined,
        maxTokens: undefined,
        stop: undefined,
        seed: undefined
      })
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("each run gets its own run id", () =>
    Effect.gen(function*() {
      expect((yield* chat(hello())).status).toBe(200)
      const first = (yield* lastRun).runId
      expect((yield* chat(hello())).status).toBe(200)
      const second = (yield* lastRun).runId
      expect(first).not.toBe(second)
    }).pipe(Effect.provide(recordingGateway())))
})

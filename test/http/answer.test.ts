/**
 * The non-streaming answer, in OpenAI's shape, with the finish reason and usage
 * of the agent run.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { FakeAgentRunner, replyEvents } from "../../src/testing.js"
import { testGateway } from "../kit/gateway.js"
import { chat, completionBody, hello } from "../kit/http.js"
import { COMPLETION_ID } from "../kit/wire.js"

describe("a non-stream answer", () => {
  it.scopedLive("has OpenAI's shape: chatcmpl_<uuid> id, object, created, model echoed, one choice", () =>
    Effect.gen(function*() {
      const before = Math.floor(Date.now() / 1000)
      const response = yield* chat(hello({ model: "gpt-4o" }))
      const after = Math.ceil(Date.now() / 1000)
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toContain("application/json")
      const body = yield* completionBody(response)
      expect(body.id).toMatch(COMPLETION_ID)
      expect(body.object).toBe("chat.completion")
      expect(body.created).toBeGreaterThanOrEqual(before)
      expect(body.created).toBeLessThanOrEqual(after)
      expect(body.model).toBe("gpt-4o")
      expect(body.choices).toEqual([
        { index: 0, message: { role: "assistant", content: "hello there" }, logprobs: null, finish_reason: "stop" }
      ])
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("model echoes the request's string exactly, and each answer gets its own id", () =>
    Effect.gen(function*() {
      const models = ["clawdbot:beta", "openclaw/Main", "my-model"]
      const ids: Array<string> = []
      for (const model of models) {
        const body = yield* completionBody(yield* chat(hello({ model })))
        expect(body.model).toBe(model)
        ids.push(body.id)
      }
      expect(new Set(ids).size).toBe(models.length)
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("usage comes from the run: echo counts words, prompt included", () =>
    Effect.gen(function*() {
      const body = yield* completionBody(
        yield* chat({
          model: "clawdbot:main",
          messages: [
            { role: "system", content: "be kind" },
            { role: "user", content: "one two three four five" }
          ]
        })
      )
      expect(body.choices[0]?.message.content).toBe("one two three four five")
      expect(body.choices[0]?.finish_reason).toBe("stop")
      expect(body.usage).toEqual({ prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 })
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("max_tokens cuts the echo: finish_reason length and the counts of what was said", () =>
    Effect.gen(function*() {
      const body = yield* completionBody(
        yield* chat(hello({ messages: [{ role: "user", content: "one two three four five" }], max_tokens: 2 }))
      )
      expect(body.choices[0]?.message.content).toBe("one two")
      expect(body.choices[0]?.finish_reason).toBe("length")
      expect(body.usage).toEqual({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 })

      const exact = yield* completionBody(
        yield* chat(hello({ messages: [{ role: "user", content: "one two" }], max_completion_tokens: 2 }))
      )
      expect(exact.choices[0]?.finish_reason).toBe("stop")
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("a runner's own usage numbers and finish reason are passed through", () =>
    Effect.gen(function*() {
      const body = yield* completionBody(yield* chat(hello()))
      expect(body.choices[0]?.message.content).toBe("Filtered reply")
      expect(body.choices[0]?.finish_reason).toBe("content_filter")
      expect(body.usage).toEqual({ prompt_tokens: 1234, completion_tokens: 56, total_tokens: 1290 })
    }).pipe(Effect.provide(testGateway({
      runner: FakeAgentRunner.layer(() =>
        Stream.fromIterable(
          replyEvents("Filtered reply", {
            finishReason: "content_filter",
            usage: { promptTokens: 1234, completionTokens: 56 }
          })
        )
      )
    }))))

  it.scopedLive("scripted replies come back in turn", () =>
    Effect.gen(function*() {
      const first = yield* completionBody(yield* chat(hello()))
      const second = yield* completionBody(yield* chat(hello()))
      expect([first.choices[0]?.message.content, second.choices[0]?.message.content]).toEqual(["Hello!", "Again?"])
    }).pipe(Effect.provide(testGateway({ runner: FakeAgentRunner.layerReplies("Hello!", "Again?") }))))
})

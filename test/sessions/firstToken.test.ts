/**
 * The agent's first-token timeout (no first token within it: 504), on the live runner with the scripted model and the TestClock: it bounds the wait for the
 * first token only, never a stream that has started, and a timed-out run stores nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { AgentRunner } from "../../src/agent/AgentRunner.js"
import * as LiveRunner from "../../src/agent/LiveRunner.js"
import { RunQueue } from "../../src/agent/RunQueue.js"
import { Config } from "../../src/config/Config.js"
import { collect } from "../../src/domain/AgentEvent.js"
import { type RunRequest } from "../../src/domain/Run.js"
import { SessionStore } from "../../src/store/SessionStore.js"
import { ScriptedModel } from "../fakes/ScriptedModel.js"
import { memoryStore } from "../kit/store.js"
import { agentsWith } from "./harness.js"

const TIMEOUT_MS = 1_000

/** The live runner on the scripted model and an in-memory store, with the test's view of both. */
const runnerLayer = () => {
  const model = ScriptedModel.layer()
  const store = memoryStore()
  return Layer.mergeAll(
    LiveRunner.layerFromServices.pipe(Layer.provide(Layer.mergeAll(model, store, RunQueue.layer))),
    model,
    store
  ).pipe(Layer.provideMerge(Config.layerFrom(agentsWith({ firstTokenTimeoutMs: TIMEOUT_MS }))))
}

const runOn = (sessionKey: string) =>
  Effect.map(Config, (settings): RunRequest => ({
    runId: `run-${sessionKey}`,
    agent: settings.agents[0]!,
    sessionKey: { value: sessionKey, kind: "user" },
    messages: [{ role: "user", content: "hello?" }],
    extraSystemPrompt: undefined,
    sampling: {}
  }))

describe("the first-token timeout", () => {
  it.scoped("a model silent past the agent's firstTokenTimeoutMs fails the run with ProviderTimeout, storing nothing", () =>
    Effect.gen(function*() {
      const runner = yield* AgentRunner
      const model = yield* ScriptedModel
      const store = yield* SessionStore
      const fiber = yield* Effect.fork(collect(runner.stream(yield* runOn("silent"))))
      const call = yield* model.nextCall
      yield* TestClock.adjust(TIMEOUT_MS - 1)
      expect(fiber.unsafePoll()).toBe(null)
      yield* TestClock.adjust(1)
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toMatchObject({ _tag: "ProviderTimeout", timeoutMs: TIMEOUT_MS })
      expect(yield* call.ended).toBe("interrupted")
      expect(yield* store.load("silent", 10)).toEqual([])
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("the same for a non-streamed run", () =>
    Effect.gen(function*() {
      const runner = yield* AgentRunner
      const model = yield* ScriptedModel
      const fiber = yield* Effect.fork(runner.complete(yield* runOn("silent")))
      yield* model.nextCall
      yield* TestClock.adjust(TIMEOUT_MS)
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error._tag).toBe("ProviderTimeout")
    }).pipe(Effect.provide(runnerLayer())))

  it.scoped("a stream that has started is not cut when it lasts longer than the timeout", () =>
    Effect.gen(function*() {
      const runner = yield* AgentRunner
      const model = yield* ScriptedModel
      const store = yield* SessionStore
      const events = yield* Stream.toQueueOfElements(runner.stream(yield* runOn("long")))
      const call = yield* model.nextCall
      yield* call.say("slow")
      // The first token has gone through the runner.
      expect(Exit.map(yield* Queue.take(events), (event) => event._tag)).toEqual(Exit.succeed("TextDelta"))
      // Then the answer goes on, slowly, for far longer than the first-token timeout.
      yield* TestClock.adjust(TIMEOUT_MS * 5)
      yield* call.say(" but sure")
      yield* call.finish()
      const rest: Array<string> = []
      while (true) {
        const next = yield* Queue.take(events)
        if (Exit.isFailure(next)) {
          expect(next.cause._tag === "Fail" ? next.cause.error : next.cause).toEqual(
            expect.objectContaining({ _tag: "None" })
          )
          break
        }
        rest.push(next.value._tag === "TextDelta" ? next.value.text : next.value._tag)
      }
      expect(rest).toEqual([" but sure", "Usage", "Finish"])
      expect(yield* store.load("long", 10)).toEqual([
        { role: "user", content: "hello?" },
        { role: "assistant", content: "slow but sure" }
      ])
    }).pipe(Effect.provide(runnerLayer())))
})

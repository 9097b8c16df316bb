/**
 * When the client goes away, the agent run is interrupted (its finalizers run),
 * for a stream and for a plain request, and the gateway goes on serving.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { testGateway } from "../kit/gateway.js"
import { BOUND, chat, hello, openChat } from "../kit/http.js"
import { controlledRunner } from "../kit/runs.js"
import { sseReader } from "../kit/sse.js"
import { contentsOf, isContent } from "../kit/wire.js"

/** A request whose run has started and said what `said` holds, left before any answer has come. */
const leftWaiting = (body: unknown, said: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const runner = yield* controlledRunner
    yield* Effect.gen(function*() {
      const controller = new AbortController()
      yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
      // No content comes, so no status either (the keep-alive is 15 s): the request is pending.
      const pending = yield* Effect.fork(chat(body, { signal: controller.signal }))
      const run = yield* runner.nextRun
      yield* Effect.forEach(said, run.say)
      expect(yield* run.hasEnded).toBe(false)
      controller.abort()
      expect(yield* run.ended.pipe(Effect.timeout(BOUND))).toBe("interrupted")
      yield* Fiber.await(pending)
    }).pipe(Effect.scoped, Effect.provide(testGateway({ runner: runner.layer })))
  })

describe("a client that disconnects", () => {
  it.scopedLive("closing a stream after the first content interrupts the run", () =>
    Effect.gen(function*() {
      const runner = yield* controlledRunner
      yield* Effect.gen(function*() {
        const opening = yield* Effect.fork(openChat(hello({ stream: true })))
        const run = yield* runner.nextRun
        yield* run.say("still")
        const { abort, response } = yield* Fiber.join(opening)
        expect(response.status).toBe(200)
        const head = yield* sseReader(response).until(isContent).pipe(Effect.timeout(BOUND))
        expect(contentsOf(head)).toEqual(["still"])
        // The run is going on (it ends only when the test says so) until the client leaves.
        expect(yield* run.hasEnded).toBe(false)
        abort()
        expect(yield* run.ended.pipe(Effect.timeout(BOUND))).toBe("interrupted")

        // The gateway is still serving (every run here waits on the test, so ask for a 400).
        expect((yield* chat({ messages: [] })).status).toBe(400)
      }).pipe(Effect.scoped, Effect.provide(testGateway({ runner: runner.layer })))
    }))

  it.scopedLive("closing a stream before any content interrupts the run", () =>
    leftWaiting(hello({ stream: true }), []))

  it.scopedLive("leaving a plain (non-stream) request that has not been answered interrupts the run", () =>
    leftWaiting(hello(), ["never finished"]))
})

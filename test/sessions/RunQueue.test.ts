/**
 * The RunQueue alone: one run at a time per session in arrival order, sessions in
 * parallel, a bounded wait per session and a gateway-wide cap, and a waiting run that gives up
 * keeps its place for the ones behind it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { RunQueue } from "../../src/agent/RunQueue.js"

const roomy = { maxConcurrentRuns: 100, maxQueuedPerSession: 10 }

/**
 * A run that enters the queue, notes when its turn comes in `log`, and holds its turn until
 * `release` is done. `entered` completes when its turn has come.
 */
const startRun = (queue: Queue, key: string | undefined, name: string, log: Array<string>) =>
  Effect.gen(function*() {
    const entered = yield* Deferred.make<void>()
    const release = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
      yield* queue.enter(key)
      log.push(`${name} runs`)
      yield* Deferred.succeed(entered, undefined)
      yield* Deferred.await(release)
      log.push(`${name} done`)
    })))
    return { entered, release: Deferred.succeed(release, undefined), fiber, name }
  })

type Queue = ReturnType<typeof RunQueue.make>

/** The error a run is refused with (fails the test if it is admitted). */
const refusal = (queue: Queue, key: string | undefined) => Effect.flip(Effect.scoped(queue.enter(key)))

/** Lets every other fiber run until it waits on something (no clock involved). */
const settle = Effect.repeatN(Effect.yieldNow(), 50)

describe("RunQueue", () => {
  it.effect("runs on one session key run one at a time, in arrival order", () =>
    Effect.gen(function*() {
      const queue = RunQueue.make(roomy)
      const log: Array<string> = []
      const first = yield* startRun(queue, "s", "first", log)
      yield* Deferred.await(first.entered)
      const second = yield* startRun(queue, "s", "second", log)
      yield* settle
      const third = yield* startRun(queue, "s", "third", log)
      yield* settle
      // Only the first runs while it holds its turn.
      expect(log).toEqual(["first runs"])
      yield* first.release
      yield* Deferred.await(second.entered)
      expect(log).toEqual(["first runs", "first done", "second runs"])
      yield* second.release
      yield* Deferred.await(third.entered)
      yield* third.release
      yield* Fiber.join(third.fiber)
      expect(log).toEqual(["first runs", "first done", "second runs", "second done", "third runs", "third done"])
    }))

  it.effect("runs on different session keys, and stateless runs, run at the same time", () =>
    Effect.gen(function*() {
      const queue = RunQueue.make(roomy)
      const log: Array<string> = []
      const a = yield* startRun(queue, "a", "a", log)
      const b = yield* startRun(queue, "b", "b", log)
      const c = yield* startRun(queue, undefined, "stateless 1", log)
      const d = yield* startRun(queue, undefined, "stateless 2", log)
      // All four hold their turn at once: none is released before the last has entered.
      yield* Effect.forEach([a, b, c, d], (run) => Deferred.await(run.entered))
      expect(log.filter((line) => line.endsWith("done"))).toEqual([])
      yield* Effect.forEach([a, b, c, d], (run) => run.release)
      yield* Effect.forEach([a, b, c, d], (run) => Fiber.join(run.fiber))
    }))

  it.effect("refuses a run with SessionBusy once maxQueuedPerSession runs wait on its session", () =>
    Effect.gen(function*() {
      const queue = RunQueue.make({ maxConcurrentRuns: 100, maxQueuedPerSession: 2 })
      const log: Array<string> = []
      const running = yield* startRun(queue, "s", "running", log)
      yield* Deferred.await(running.entered)
      const waiting1 = yield* startRun(queue, "s", "waiting 1", log)
      const waiting2 = yield* startRun(queue, "s", "waiting 2", log)
      yield* settle
      expect(yield* refusal(queue, "s")).toMatchObject({ _tag: "SessionBusy", sessionKey: "s" })
      // Another session is not affected.
      const other = yield* startRun(queue, "t", "other", log)
      yield* Deferred.await(other.entered)
      // Once a waiting run has its turn, there is room to wait again.
      yield* running.release
      yield* Deferred.await(waiting1.entered)
      const late = yield* startRun(queue, "s", "late", log)
      yield* Effect.forEach([waiting1, waiting2, late, other], (run) => run.release)
      yield* Effect.forEach([waiting1, waiting2, late, other], (run) => Fiber.join(run.fiber))
      expect(log.filter((line) => line.endsWith("runs"))).toEqual([
        "running runs",
        "other runs",
        "waiting 1 runs",
        "waiting 2 runs",
        "late runs"
      ])
    }))

  it.effect("maxQueuedPerSession 0: a second run on a busy session is refused at once", () =>
    Effect.gen(function*() {
      const queue = RunQueue.make({ maxConcurrentRuns: 100, maxQueuedPerSession: 0 })
      const running = yield* startRun(queue, "s", "running", [])
      yield* Deferred.await(running.entered)
      expect(yield* refusal(queue, "s")).toMatchObject({ _tag: "SessionBusy" })
      yield* running.release
      yield* Fiber.join(running.fiber)
      // Free again once it is done.
      yield* Effect.scoped(queue.enter("s"))
    }))

  it.effect("refuses a run with GatewayBusy past maxConcurrentRuns (waiting runs count), and admits again after", () =>
    Effect.gen(function*() {
      const queue = RunQueue.make({ maxConcurrentRuns: 2, maxQueuedPerSession: 10 })
      const log: Array<string> = []
      const one = yield* startRun(queue, "a", "one", log)
      yield* Deferred.await(one.entered)
      // Waits behind `one`, but holds a place under the cap.
      const two = yield* startRun(queue, "a", "two", log)
      yield* settle
      expect(yield* refusal(queue, undefined)).toMatchObject({ _tag: "GatewayBusy", maxConcurrentRuns: 2 })
      expect(yield* refusal(queue, "b")).toMatchObject({ _tag: "GatewayBusy" })
      yield* one.release
      yield* Fiber.join(one.fiber)
      yield* Effect.scoped(queue.enter("b"))
      yield* two.release
      yield* Fiber.join(two.fiber)
    }))

  it.effect("a refused run leaves no trace: the places it would have taken stay free", () =>
    Effect.gen(function*() {
      const queue = RunQueue.make({ maxConcurrentRuns: 1, maxQueuedPerSession: 0 })
      for (let i = 0; i < 5; i++) {
        const run = yield* startRun(queue, "s", `run ${i}`, [])
        yield* Deferred.await(run.entered)
        expect(yield* refusal(queue, "s")).toMatchObject({ _tag: "GatewayBusy" })
        yield* run.release
        yield* Fiber.join(run.fiber)
      }
    }))

  it.effect("a waiting run that gives up does not let the run behind it overtake the running one", () =>
    Effect.gen(function*() {
      const queue = RunQueue.make(roomy)
      const log: Array<string> = []
      const running = yield* startRun(queue, "s", "running", log)
      yield* Deferred.await(running.entered)
      const quitter = yield* startRun(queue, "s", "quitter", log)
      yield* settle
      const patient = yield* startRun(queue, "s", "patient", log)
      yield* settle
      yield* Fiber.interrupt(quitter.fiber)
      yield* settle
      expect(log).toEqual(["running runs"])
      yield* running.release
      yield* Deferred.await(patient.entered)
      expect(log).toEqual(["running runs", "running done", "patient runs"])
      yield* patient.release
      yield* Fiber.join(patient.fiber)
      // The session is free afterwards.
      yield* Effect.scoped(queue.enter("s"))
    }))

  it.effect("a running run that is interrupted hands the session to the next", () =>
    Effect.gen(function*() {
      const queue = RunQueue.make(roomy)
      const log: Array<string> = []
      const running = yield* startRun(queue, "s", "running", log)
      yield* Deferred.await(running.entered)
      const next = yield* startRun(queue, "s", "next", log)
      yield* Fiber.interrupt(running.fiber)
      yield* Deferred.await(next.entered)
      yield* next.release
      yield* Fiber.join(next.fiber)
      expect(log).toEqual(["running runs", "next runs", "next done"])
    }))

  it.effect("the turn lasts exactly as long as the scope it was entered in", () =>
    Effect.gen(function*() {
      const queue = RunQueue.make(roomy)
      const scope = yield* Scope.make()
      yield* Scope.extend(queue.enter("s"), scope)
      const log: Array<string> = []
      const next = yield* startRun(queue, "s", "next", log)
      yield* settle
      expect(yield* Fiber.poll(next.fiber)).toEqual(Option.none())
      expect(log).toEqual([])
      yield* Scope.close(scope, Exit.void)
      yield* Deferred.await(next.entered)
      yield* next.release
      yield* Fiber.join(next.fiber)
    }))
})

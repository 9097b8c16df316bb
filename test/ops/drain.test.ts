/**
 * Graceful drain in-process: once draining starts, answers in flight get
 * `gateway.shutdownGraceMs` to finish; a stream still going at the deadline ends with an in-band
 * `shutting_down` error and `[DONE]`, a plain request with a 503, and the run is interrupted.
 * The runs are driven by the test; time runs on the TestClock (the deadline is a sleep on it).
 */
import type * as HttpServer from "@effect/platform/HttpServer"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { Drain } from "../../src/ops/Drain.js"
import { testGateway } from "../kit/gateway.js"
import { hello, type OpenAnswer, post, send } from "../kit/http.js"
import { type ControlledRun, controlledRunner } from "../kit/runs.js"
import {
  DONE,
  endsNormally,
  finishReasons,
  inBandError,
  isContent,
  isError,
  streamedText,
  summaryOf
} from "../kit/wire.js"
import { withGrace } from "./harness.js"

const GRACE_MS = 10_000

/** Runs `test` on a gateway with `shutdownGraceMs` whose runs the test drives (`nextRun`), with its `Drain`. */
const drivenGateway = <A, E>(
  graceMs: number,
  test: (
    nextRun: Effect.Effect<ControlledRun>,
    drain: Drain["Type"]
  ) => Effect.Effect<A, E, Scope.Scope | HttpServer.HttpServer>
) =>
  Effect.flatMap(controlledRunner, (runner) =>
    Effect.flatMap(Drain, (drain) => test(runner.nextRun, drain)).pipe(
      Effect.provide(testGateway({ config: withGrace(graceMs), runner: runner.layer }))
    ))

/** A request whose run has started and said `first`: its run, and its answer once its head is in. */
const startRequest = (next: Effect.Effect<ControlledRun>, payload: unknown, first: string) =>
  Effect.gen(function*() {
    const answer = yield* Effect.fork(post(payload))
    const run = yield* next
    yield* run.say(first)
    return { run, answer }
  })

/** Starts a stream, and reads it up to its first content. */
const startStream = (next: Effect.Effect<ControlledRun>, first: string) =>
  Effect.gen(function*() {
    const { answer, run } = yield* startRequest(next, hello({ stream: true }), first)
    const open: OpenAnswer = yield* Fiber.join(answer).pipe(Effect.orDie)
    expect(open.status).toBe(200)
    const head = yield* open.until(isContent)
    expect(streamedText(head)).toBe(first)
    return { run, open }
  })

describe("drain, in-process", () => {
  it.scoped("a stream in flight finishes normally when it ends within the grace period", () =>
    drivenGateway(GRACE_MS, (nextRun, drain) =>
      Effect.gen(function*() {
        const { open, run } = yield* startStream(nextRun, "Hello")

        yield* drain.start
        // Draining: not ready, and new requests are turned away, while this one goes on.
        expect((yield* send("/readyz", { token: null })).status).toBe(503)
        const late = yield* send("/v1/chat/completions", { method: "POST", body: hello({ stream: true }) })
        expect(late.status).toBe(503)

        // Up to the last millisecond of the grace period, the stream is still served.
        yield* TestClock.adjust(GRACE_MS - 1)
        yield* run.say(" world")
        yield* run.finish
        const rest = yield* open.rest

        expect(summaryOf(rest)).toEqual(endsNormally(" world"))
        expect(yield* run.ended).toBe("completed")
      })))

  it.scoped("a stream still going at the deadline ends with an in-band shutting_down error and [DONE]; its run is interrupted", () =>
    drivenGateway(GRACE_MS, (nextRun, drain) =>
      Effect.gen(function*() {
        const { open, run } = yield* startStream(nextRun, "Hello")

        yield* drain.start
        yield* TestClock.adjust(GRACE_MS - 1)
        // One millisecond before the deadline it still streams.
        yield* run.say(" still")
        const before = yield* open.until(isContent)
        expect(streamedText(before)).toBe(" still")

        yield* TestClock.adjust(1)
        const rest = yield* open.rest
        expect(rest.filter(isContent)).toEqual([])
        expect(finishReasons(rest)).toEqual([])
        expect(rest).toHaveLength(2)
        expect(inBandError(rest[0] ?? "")).toEqual({
          message: expect.any(String),
          type: expect.any(String),
          param: null,
          code: "shutting_down"
        })
        expect(rest[1]).toBe(DONE)
        expect(yield* run.ended).toBe("interrupted")
      })))

  it.scoped("shutdownGraceMs 0: a stream in flight is ended at once when draining starts", () =>
    drivenGateway(0, (nextRun, drain) =>
      Effect.gen(function*() {
        const { open, run } = yield* startStream(nextRun, "Hello")

        yield* drain.start
        yield* TestClock.adjust(0)
        const rest = yield* open.rest
        expect(rest.map((event) => inBandError(event)?.code ?? event)).toEqual(["shutting_down", DONE])
        expect(yield* run.ended).toBe("interrupted")
      })))

  it.scoped("plain requests in flight: one that ends within the grace period is answered, one past the deadline gets 503 shutting_down", () =>
    drivenGateway(GRACE_MS, (nextRun, drain) =>
      Effect.gen(function*() {
        const quick = yield* startRequest(nextRun, hello(), "Quick")
        const slow = yield* startRequest(nextRun, hello(), "Slow")

        yield* drain.start
        yield* TestClock.adjust(GRACE_MS / 2)
        yield* quick.run.finish
        const answered = yield* Fiber.join(quick.answer).pipe(Effect.orDie)
        expect(answered.status).toBe(200)
        expect(JSON.parse(yield* answered.text)).toMatchObject({
          choices: [{ message: { content: "Quick" }, finish_reason: "stop" }]
        })
        expect(yield* quick.run.ended).toBe("completed")

        yield* TestClock.adjust(GRACE_MS / 2)
        const cut = yield* Fiber.join(slow.answer).pipe(Effect.orDie)
        expect(cut.status).toBe(503)
        expect(Number(cut.header("retry-after"))).toBeGreaterThan(0)
        expect(cut.header("x-request-id")).toMatch(/^req_/)
        expect(JSON.parse(yield* cut.text)).toEqual({
          error: { message: expect.any(String), type: expect.any(String), param: null, code: "shutting_down" }
        })
        expect(yield* slow.run.ended).toBe("interrupted")
      })))

  it.scoped("without draining, the grace period means nothing: a stream outlives it", () =>
    drivenGateway(GRACE_MS, (nextRun) =>
      Effect.gen(function*() {
        const { open, run } = yield* startStream(nextRun, "Hello")
        yield* TestClock.adjust(GRACE_MS * 2)
        yield* run.say(" later")
        yield* run.finish
        const rest = yield* open.rest
        expect(streamedText(rest)).toBe(" later")
        expect(rest.filter(isError)).toEqual([])
        expect(rest.at(-1)).toBe(DONE)
      })))
})

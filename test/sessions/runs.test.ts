/**
 * One run at a time per session, over HTTP with the live runner: runs on one
 * session serialize in arrival order, each seeing the turn before it, while runs on different
 * sessions are in flight together; past the per-session queue or the gateway cap, 429 with
 * `Retry-After` and a clear code. Every "while" is a fact the test waited for (a model call that
 * started, a run that reached the queue), never a pause.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { ScriptedModel } from "../fakes/ScriptedModel.js"
import { configWith } from "../kit/gateway.js"
import { baseConfig } from "../kit/gateway.js"
import { ask, post, streamAll } from "../kit/http.js"
import { user } from "../kit/messages.js"
import { answerText, errorOf, streamedText } from "../kit/wire.js"
import { Arrivals, body, lines, sessionGateway, transcript } from "./harness.js"

const KEY = "agent:main:openai-user:queue"

/** Waits until the next run reaches the RunQueue, and checks its session. */
const arrives = (sessionKey: string) =>
  Effect.flatMap(Arrivals, Queue.take).pipe(
    Effect.map((next) => expect(next).toEqual({ event: "arrived", key: sessionKey }))
  )

/** Waits until a waiting run has given up its place. */
const givesUp = (sessionKey: string) =>
  Effect.flatMap(Arrivals, Queue.take).pipe(
    Effect.map((next) => expect(next).toEqual({ event: "gave up", key: sessionKey }))
  )

const withLimits = (
  limits: { readonly maxQueuedPerSession?: number; readonly maxConcurrentRuns?: number }
): ConfigInput =>
  configWith({
    gateway: {
      ...baseConfig.gateway,
      ...(limits.maxConcurrentRuns !== undefined && { maxConcurrentRuns: limits.maxConcurrentRuns })
    },
    session: {
      store: { path: ":memory:" },
      ...(limits.maxQueuedPerSession !== undefined && { maxQueuedPerSession: limits.maxQueuedPerSession })
    }
  })

/** A positive whole number of seconds. */
const RETRY_AFTER = /^[1-9]\d*$/

describe("runs on one session", () => {
  it.scopedLive("serialize in arrival order: each model call starts after the run before it has committed", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel
      const a = yield* Effect.fork(streamAll(body([user("A")], { user: "queue", stream: true })))
      yield* arrives(KEY)
      const callA = yield* model.nextCall
      // B and C reach the session's queue while A's model call is in flight.
      const b = yield* Effect.fork(ask(body([user("B")], { user: "queue" })))
      yield* arrives(KEY)
      const c = yield* Effect.fork(streamAll(body([user("C")], { user: "queue", stream: true })))
      yield* arrives(KEY)
      expect(yield* model.log).toEqual(["start 1"])

      yield* callA.reply("answer A")
      expect(streamedText(yield* Fiber.join(a))).toBe("answer A")
      const callB = yield* model.nextCall
      expect(callB.lastUser).toBe("B")
      // B's model got A's whole turn: A had committed before B's run read the transcript.
      expect(lines(callB.prompt)).toEqual(["user: A", "assistant: answer A", "user: B"])

      yield* callB.reply("answer B")
      expect(answerText((yield* Fiber.join(b)).json)).toBe("answer B")
      const callC = yield* model.nextCall
      expect(lines(callC.prompt)).toEqual([
        "user: A",
        "assistant: answer A",
        "user: B",
        "assistant: answer B",
        "user: C"
      ])
      yield* callC.reply("answer C")
      expect(streamedText(yield* Fiber.join(c))).toBe("answer C")

      // Never two calls on the session at once.
      expect(yield* model.log).toEqual([
        "start 1",
        "end 1 finished",
        "start 2",
        "end 2 finished",
        "start 3",
        "end 3 finished"
      ])
      expect(yield* transcript(KEY)).toEqual([
        "user: A",
        "assistant: answer A",
        "user: B",
        "assistant: answer B",
        "user: C",
        "assistant: answer C"
      ])
    }).pipe(Effect.provide(sessionGateway())))

  it.scopedLive("a run that waits and is given up by its client does not run, and the next one keeps its place", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel
      const a = yield* Effect.fork(ask(body([user("A")], { user: "queue" })))
      const callA = yield* model.nextCall
      yield* arrives(KEY)
      const b = yield* Effect.fork(post(body([user("B")], { user: "queue" })))
      yield* arrives(KEY)
      const c = yield* Effect.fork(ask(body([user("C")], { user: "queue" })))
      yield* arrives(KEY)
      // B's client goes away while B waits.
      yield* Fiber.interrupt(b)
      yield* givesUp(KEY)
      yield* callA.reply("answer A")
      expect((yield* Fiber.join(a)).status).toBe(200)
      const next = yield* model.nextCall
      expect(next.lastUser).toBe("C")
      expect(lines(next.prompt)).toEqual(["user: A", "assistant: answer A", "user: C"])
      yield* next.reply("answer C")
      expect((yield* Fiber.join(c)).status).toBe(200)
      expect(yield* transcript(KEY)).toEqual(["user: A", "assistant: answer A", "user: C", "assistant: answer C"])
    }).pipe(Effect.provide(sessionGateway())))
})

describe("runs on different sessions", () => {
  it.scopedLive("overlap: both model calls are in flight at once, and either may finish first", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel
      const one = yield* Effect.fork(streamAll(body([user("one")], { user: "first", stream: true })))
      const callOne = yield* model.nextCall
      const two = yield* Effect.fork(ask(body([user("two")], { user: "second" })))
      const callTwo = yield* model.nextCall
      const three = yield* Effect.fork(ask(body([user("three")])))
      const callThree = yield* model.nextCall
      // All three started, none has ended.
      expect(yield* model.log).toEqual(["start 1", "start 2", "start 3"])
      expect([callOne.lastUser, callTwo.lastUser, callThree.lastUser]).toEqual(["one", "two", "three"])

      yield* callThree.reply("answer three")
      expect(answerText((yield* Fiber.join(three)).json)).toBe("answer three")
      yield* callTwo.reply("answer two")
      expect(answerText((yield* Fiber.join(two)).json)).toBe("answer two")
      yield* callOne.reply("answer one")
      expect(streamedText(yield* Fiber.join(one))).toBe("answer one")
      expect(yield* transcript("agent:main:openai-user:first")).toEqual(["user: one", "assistant: answer one"])
      expect(yield* transcript("agent:main:openai-user:second")).toEqual(["user: two", "assistant: answer two"])
    }).pipe(Effect.provide(sessionGateway())))
})

describe("past the limits: 429", () => {
  it.scopedLive("session_busy with Retry-After past session.maxQueuedPerSession; the refused turn is not stored", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel
      const a = yield* Effect.fork(ask(body([user("A")], { user: "queue" })))
      yield* arrives(KEY)
      const callA = yield* model.nextCall
      const b = yield* Effect.fork(ask(body([user("B")], { user: "queue" })))
      yield* arrives(KEY)
      // One running, one waiting: the queue of 1 is full.
      const refused = yield* ask(body([user("C")], { user: "queue" }))
      expect(refused.status).toBe(429)
      expect(refused.header("retry-after")).toMatch(RETRY_AFTER)
      expect(errorOf(refused.json)).toMatchObject({ type: "rate_limited", code: "session_busy" })
      // Streamed, the refusal is a real status too, before any event.
      const refusedStream = yield* Effect.scoped(Effect.gen(function*() {
        const answer = yield* post(body([user("C2")], { user: "queue", stream: true }))
        return {
          status: answer.status,
          retryAfter: answer.header("retry-after"),
          json: JSON.parse(yield* answer.text)
        }
      }))
      expect(refusedStream.status).toBe(429)
      expect(refusedStream.retryAfter).toMatch(RETRY_AFTER)
      expect(errorOf(refusedStream.json)).toMatchObject({ code: "session_busy" })

      // Another session is not held up.
      const other = yield* Effect.fork(ask(body([user("elsewhere")], { user: "other" })))
      yield* Effect.flatMap(model.nextCall, (call) => call.reply("fine"))
      expect((yield* Fiber.join(other)).status).toBe(200)

      yield* callA.reply("answer A")
      expect((yield* Fiber.join(a)).status).toBe(200)
      yield* Effect.flatMap(model.nextCall, (call) => call.reply("answer B"))
      expect((yield* Fiber.join(b)).status).toBe(200)
      expect(yield* transcript(KEY)).toEqual(["user: A", "assistant: answer A", "user: B", "assistant: answer B"])
    }).pipe(Effect.provide(sessionGateway({ config: withLimits({ maxQueuedPerSession: 1 }) }))))

  it.scopedLive("gateway_busy with Retry-After past gateway.maxConcurrentRuns, for any session; free again after", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel
      const a = yield* Effect.fork(ask(body([user("A")], { user: "queue" })))
      const callA = yield* model.nextCall
      for (const extra of [{ user: "someone-else" }, {}, { stream: true }]) {
        const refused = yield* ask(body([user("B")], extra))
        expect(refused.status).toBe(429)
        expect(refused.header("retry-after")).toMatch(RETRY_AFTER)
        expect(errorOf(refused.json)).toMatchObject({ type: "rate_limited", code: "gateway_busy" })
      }
      yield* callA.reply("answer A")
      expect((yield* Fiber.join(a)).status).toBe(200)
      const after = yield* Effect.fork(ask(body([user("D")], { user: "someone-else" })))
      yield* Effect.flatMap(model.nextCall, (call) => call.reply("answer D"))
      expect(answerText((yield* Fiber.join(after)).json)).toBe("answer D")
      // The refused requests reached no model and stored nothing.
      expect(yield* model.log).toEqual(["start 1", "end 1 finished", "start 2", "end 2 finished"])
      expect(yield* transcript("agent:main:openai-user:someone-else")).toEqual(["user: D", "assistant: answer D"])
    }).pipe(Effect.provide(sessionGateway({ config: withLimits({ maxConcurrentRuns: 1 }) }))))
})

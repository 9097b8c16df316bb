/**
 * Turns are atomic: a run that fails or is cancelled
 * part-way leaves the transcript as it was, and the session goes on from its last whole turn.
 * The scripted model is driven step by step, so "mid-stream" is a fact, not a timing.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { ScriptedModel } from "../fakes/ScriptedModel.js"
import { ask, post } from "../kit/http.js"
import { user } from "../kit/messages.js"
import { answerText, contentOf, errorOf, isError } from "../kit/wire.js"
import { body, lines, sessionGateway, transcript } from "./harness.js"

const KEY = "agent:main:openai-user:atom"

const FIRST_TURN = ["user: first question", "assistant: first answer"]

/** A request of user `atom` saying `question`, streamed or not; the model's call for it once it has started. */
const turnStarts = (question: string, options: { readonly stream?: boolean } = {}) =>
  Effect.gen(function*() {
    const model = yield* ScriptedModel
    const request = yield* Effect.fork(
      post(body([user(question)], { user: "atom", ...(options.stream === true && { stream: true }) }))
    )
    return { request, call: yield* model.nextCall }
  })

/** A non-stream turn that the model answers in full, as the client reads it; the model's call. */
const wholeTurn = (question: string, answer: string) =>
  Effect.gen(function*() {
    const model = yield* ScriptedModel
    const request = yield* Effect.fork(ask(body([user(question)], { user: "atom" })))
    const call = yield* model.nextCall
    yield* call.reply(answer)
    const answered = yield* Fiber.join(request)
    expect([answered.status, answerText(answered.json)]).toEqual([200, answer])
    return call
  })

/** Turn 1 of the session, answered in full. */
const firstTurn = Effect.gen(function*() {
  yield* wholeTurn("first question", "first answer")
  expect(yield* transcript(KEY)).toEqual(FIRST_TURN)
})

/** A stream whose model has said `half an `, read by the client up to there. */
const midStream = Effect.gen(function*() {
  const { call, request } = yield* turnStarts("second question", { stream: true })
  yield* call.say("half an ")
  const answer = yield* Fiber.join(request)
  expect(answer.status).toBe(200)
  yield* answer.until((event) => contentOf(event) === "half an ")
  return { call, answer }
})

/** Nothing of the turn that did not finish is stored, and the session goes on from turn 1. */
const goesOnFromTheFirstTurn = Effect.gen(function*() {
  expect(yield* transcript(KEY)).toEqual(FIRST_TURN)
  const next = yield* wholeTurn("third question", "later answer")
  expect(lines(next.prompt)).toEqual([...FIRST_TURN, "user: third question"])
  expect(yield* transcript(KEY)).toEqual([...FIRST_TURN, "user: third question", "assistant: later answer"])
})

describe("turns are atomic", () => {
  it.scopedLive("a model that fails mid-stream: the client gets an in-band error, the transcript is unchanged", () =>
    Effect.gen(function*() {
      yield* firstTurn
      const { answer, call } = yield* midStream
      yield* call.fail("the provider fell over")
      const rest = yield* answer.rest
      expect(rest.some(isError)).toBe(true)
      expect(rest.at(-1)).toBe("data: [DONE]")
      expect(yield* call.ended).toBe("failed")
      yield* goesOnFromTheFirstTurn
    }).pipe(Effect.provide(sessionGateway())))

  it.scopedLive("a model that fails a non-streamed run: 502, the transcript is unchanged", () =>
    Effect.gen(function*() {
      yield* firstTurn
      const { call, request } = yield* turnStarts("second question")
      yield* call.say("some words")
      yield* call.fail()
      const answer = yield* Fiber.join(request)
      expect(answer.status).toBe(502)
      expect(errorOf(JSON.parse(yield* answer.text)).message).not.toContain("scripted failure")
      yield* goesOnFromTheFirstTurn
    }).pipe(Effect.provide(sessionGateway())))

  it.scopedLive("a client that disconnects mid-stream: the run is interrupted, the transcript is unchanged", () =>
    Effect.gen(function*() {
      yield* firstTurn
      const { answer, call } = yield* midStream
      answer.disconnect()
      // The gateway stops the run: the model call is interrupted, not left to finish.
      expect(yield* call.ended).toBe("interrupted")
      yield* goesOnFromTheFirstTurn
    }).pipe(Effect.provide(sessionGateway())))

  it.scopedLive("a client that disconnects from a non-streamed run: interrupted, the transcript is unchanged", () =>
    Effect.gen(function*() {
      yield* firstTurn
      const { call, request } = yield* turnStarts("second question")
      expect(call.mode).toBe("generate")
      yield* call.say("some words")
      // The answer's head waits for the run, so the client goes away before it has one.
      yield* Fiber.interrupt(request)
      expect(yield* call.ended).toBe("interrupted")
      yield* goesOnFromTheFirstTurn
    }).pipe(Effect.provide(sessionGateway())))

  it.scopedLive("a whole streamed turn is in the store by the time the client has read [DONE]", () =>
    Effect.gen(function*() {
      yield* firstTurn
      const { call, request } = yield* turnStarts("second question", { stream: true })
      yield* call.reply("second answer", { inputTokens: 17, outputTokens: 2 })
      const events = yield* (yield* Fiber.join(request)).rest
      expect(events.at(-1)).toBe("data: [DONE]")
      expect(yield* transcript(KEY)).toEqual([...FIRST_TURN, "user: second question", "assistant: second answer"])
      expect(lines((yield* wholeTurn("and?", "fine")).prompt)).toEqual([
        ...FIRST_TURN,
        "user: second question",
        "assistant: second answer",
        "user: and?"
      ])
    }).pipe(Effect.provide(sessionGateway())))
})

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

/** Turn 1 of the session, answered by the model in full (non-stream). */
const firstTurn = Effect.gen(function*() {
  const model = yield* ScriptedModel
  const request = yield* Effect.fork(ask(body([user("first question")], { user: "atom" })))
  const call = yield* model.nextCall
  yield* call.reply("first answer")
  const answered = yield* Fiber.join(request)
  expect(answered.status).toBe(200)
  expect(yield* transcript(KEY)).toEqual(FIRST_TURN)
})

/** A later turn that the model answers in full; returns what the model was given. */
const laterTurn = (question: string) =>
  Effect.gen(function*() {
    const model = yield* ScriptedModel
    const request = yield* Effect.fork(ask(body([user(question)], { user: "atom" })))
    const call = yield* model.nextCall
    yield* call.reply("later answer")
    expect((yield* Fiber.join(request)).status).toBe(200)
    return call
  })

describe("turns are atomic", () => {
  it.scopedLive("a model that fails mid-stream: the client gets an in-band error, the transcript is unchanged", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel
      yield* firstTurn
      const request = yield* Effect.fork(post(body([user("second question")], { user: "atom", stream: true })))
      const call = yield* model.nextCall
      yield* call.say("half an ")
      const response = yield* Fiber.join(request)
      expect(response.status).toBe(200)
      const reader = response
      yield* reader.until((event) => contentOf(event) === "half an ")
      yield* call.fail("the provider fell over")
      const rest = yield* reader.rest
      expect(rest.some(isError)).toBe(true)
      expect(rest.at(-1)).toBe("data: [DONE]")
      expect(yield* call.ended).toBe("failed")

      expect(yield* transcript(KEY)).toEqual(FIRST_TURN)
      // The session goes on from its last whole turn: nothing of the failed one.
      const next = yield* laterTurn("third question")
      expect(lines(next.prompt)).toEqual([...FIRST_TURN, "user: third question"])
      expect(yield* transcript(KEY)).toEqual([...FIRST_TURN, "user: third question", "assistant: later answer"])
    }).pipe(Effect.provide(sessionGateway())))

  it.scopedLive("a model that fails a non-streamed run: 502, the transcript is unchanged", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel
      yield* firstTurn
      const request = yield* Effect.fork(ask(body([user("second question")], { user: "atom" })))
      const call = yield* model.nextCall
      yield* call.say("some words")
      yield* call.fail()
      const answered = yield* Fiber.join(request)
      expect(answered.status).toBe(502)
      expect(errorOf(answered.json).message).not.toContain("scripted failure")
      expect(yield* transcript(KEY)).toEqual(FIRST_TURN)
      const next = yield* laterTurn("third question")
      expect(lines(next.prompt)).toEqual([...FIRST_TURN, "user: third question"])
    }).pipe(Effect.provide(sessionGateway())))

  it.scopedLive("a client that disconnects mid-stream: the run is interrupted, the transcript is unchanged", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel
      yield* firstTurn
      const request = yield* Effect.fork(post(body([user("second question")], { user: "atom", stream: true })))
      const call = yield* model.nextCall
      yield* call.say("half an ")
      const answer = yield* Fiber.join(request)
      yield* answer.until((event) => contentOf(event) === "half an ")
      answer.disconnect()
      // The gateway stops the run: the model call is interrupted, not left to finish.
      expect(yield* call.ended).toBe("interrupted")

      expect(yield* transcript(KEY)).toEqual(FIRST_TURN)
      // The session is free again and goes on from its last whole turn.
      const next = yield* laterTurn("third question")
      expect(lines(next.prompt)).toEqual([...FIRST_TURN, "user: third question"])
      expect(yield* transcript(KEY)).toEqual([...FIRST_TURN, "user: third question", "assistant: later answer"])
    }).pipe(Effect.provide(sessionGateway())))

  it.scopedLive("a client that disconnects from a non-streamed run: interrupted, the transcript is unchanged", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel
      yield* firstTurn
      const request = yield* Effect.fork(post(body([user("second question")], { user: "atom" })))
      const call = yield* model.nextCall
      expect(call.mode).toBe("generate")
      yield* call.say("some words")
      // The answer's head waits for the run, so the client goes away before it has one.
      yield* Fiber.interrupt(request)
      expect(yield* call.ended).toBe("interrupted")
      expect(yield* transcript(KEY)).toEqual(FIRST_TURN)
      const next = yield* laterTurn("third question")
      expect(lines(next.prompt)).toEqual([...FIRST_TURN, "user: third question"])
    }).pipe(Effect.provide(sessionGateway())))

  it.scopedLive("a whole streamed turn is in the store by the time the client has read [DONE]", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel
      yield* firstTurn
      const request = yield* Effect.fork(post(body([user("second question")], { user: "atom", stream: true })))
      const call = yield* model.nextCall
      yield* call.reply("second answer", { inputTokens: 17, outputTokens: 2 })
      const events = yield* (yield* Fiber.join(request)).rest
      expect(events.at(-1)).toBe("data: [DONE]")
      expect(yield* transcript(KEY)).toEqual([...FIRST_TURN, "user: second question", "assistant: second answer"])
      const answered = yield* ask(body([user("and?")], { user: "atom" })).pipe(
        Effect.fork,
        Effect.tap(() => Effect.flatMap(model.nextCall, (next) => next.reply("fine"))),
        Effect.flatMap(Fiber.join)
      )
      expect(answerText(answered.json)).toBe("fine")
    }).pipe(Effect.provide(sessionGateway())))
})

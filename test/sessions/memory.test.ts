/**
 * Session memory over HTTP: the live runner on the scripted
 * model, with a store the test reads. Which requests are remembered (the `user` rule, the
 * session-key header rule, stateless ones not at all), what the model is given (system prompts,
 * the transcript, this turn, each message once), and the transcript's bounds.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { Call } from "../fakes/ScriptedModel.js"
import { ScriptedModel } from "../fakes/ScriptedModel.js"
import { ask, streamAll } from "../kit/http.js"
import { assistant, system, user } from "../kit/messages.js"
import { answerText, streamedText } from "../kit/wire.js"
import { agentsWith, body, lines, sessionGateway, storedCount, transcript } from "./harness.js"

/** A system prompt far over any history bound. */
const LONG_PROMPT = "Follow the house rules. ".repeat(20).trim()

/** The scripted model answers each call at once with this. */
const answer = (call: Call) => `reply to ${call.lastUser}`

/** The model's calls, the `n`th (1-based). */
const callNumber = (n: number) =>
  Effect.flatMap(ScriptedModel, (model) =>
    Effect.map(model.calls, (calls) => {
      const call = calls[n - 1]
      if (call === undefined) throw new Error(`the model has had ${calls.length} calls, not ${n}`)
      return call
    }))

describe("session memory: which requests are remembered", () => {
  it.scopedLive("requests with the same `user` share a session: the second turn's model sees the first", () =>
    Effect.gen(function*() {
      const first = yield* ask(body([user("my name is Ada")], { user: "alice" }))
      expect(first.status).toBe(200)
      expect(answerText(first.json)).toBe("reply to my name is Ada")
      expect(first.header("x-clawdbot-session-key")).toBe("agent:main:openai-user:alice")

      const second = yield* ask(body([user("what is my name?")], { user: "alice" }))
      expect(second.status).toBe(200)
      expect(lines((yield* callNumber(2)).prompt)).toEqual([
        "user: my name is Ada",
        "assistant: reply to my name is Ada",
        "user: what is my name?"
      ])
      expect(yield* transcript("agent:main:openai-user:alice")).toEqual([
        "user: my name is Ada",
        "assistant: reply to my name is Ada",
        "user: what is my name?",
        "assistant: reply to what is my name?"
      ])
    }).pipe(Effect.provide(sessionGateway({ answer }))))

  it.scopedLive("another `user`, or the same `user` on another agent, is another session", () =>
    Effect.gen(function*() {
      yield* ask(body([user("alice's secret")], { user: "alice" }))
      yield* ask(body([user("bob here")], { user: "bob" }))
      expect(lines((yield* callNumber(2)).prompt)).toEqual(["user: bob here"])
      yield* ask({ ...body([user("alice on beta")], { user: "alice" }), model: "clawdbot:beta" })
      expect(lines((yield* callNumber(3)).prompt)).toEqual(["user: alice on beta"])
      expect(yield* transcript("agent:beta:openai-user:alice")).toEqual([
        "user: alice on beta",
        "assistant: reply to alice on beta"
      ])
      expect(yield* transcript("agent:main:openai-user:alice")).toEqual([
        "user: alice's secret",
        "assistant: reply to alice's secret"
      ])
    }).pipe(Effect.provide(sessionGateway({ answer }))))

  it.scopedLive("the session-key header keys the session (either header name), and wins over `user`", () =>
    Effect.gen(function*() {
      const first = yield* ask(body([user("remember 42")], { user: "carol" }), {
        headers: { "x-clawdbot-session-key": "project-x" }
      })
      expect(first.status).toBe(200)
      expect(first.header("x-clawdbot-session-key")).toBe("project-x")
      // Another `user`, and the header's other name: the same session.
      const second = yield* ask(body([user("what number?")], { user: "dave" }), {
        headers: { "x-openclaw-session-key": "project-x" }
      })
      expect(second.status).toBe(200)
      expect(lines((yield* callNumber(2)).prompt)).toEqual([
        "user: remember 42",
        "assistant: reply to remember 42",
        "user: what number?"
      ])
      expect(yield* transcript("project-x")).toHaveLength(4)
      // Nothing was stored under the `user` keys.
      expect(yield* transcript("agent:main:openai-user:carol")).toEqual([])
      expect(yield* transcript("agent:main:openai-user:dave")).toEqual([])
    }).pipe(Effect.provide(sessionGateway({ answer }))))

  it.scopedLive("a stateless request (no user, no header) stores nothing and sees nothing of the others", () =>
    Effect.gen(function*() {
      const first = yield* ask(body([user("forget me")]))
      expect(first.status).toBe(200)
      expect(first.header("x-clawdbot-session-key")).toMatch(/^agent:main:openai:/)
      const second = yield* ask(body([user("who was here?")]))
      expect(second.status).toBe(200)
      expect(second.header("x-clawdbot-session-key")).not.toBe(first.header("x-clawdbot-session-key"))
      expect(lines((yield* callNumber(2)).prompt)).toEqual(["user: who was here?"])
      expect(yield* storedCount).toBe(0)
      // Streamed too.
      const streamed = yield* streamAll(body([user("stream me")], { stream: true }))
      expect(streamedText(streamed)).toBe("reply to stream me")
      expect(yield* storedCount).toBe(0)
    }).pipe(Effect.provide(sessionGateway({ answer }))))
})

describe("session memory: each message once", () => {
  it.scopedLive("a client that resends its whole history (Open WebUI style): after three turns, each message once", () =>
    Effect.gen(function*() {
      const instructions = system("Be brief.")
      const history = [instructions, user("first question")]
      for (const next of ["second question", "third question"]) {
        const answered = yield* ask(body(history, { user: "webui" }))
        expect(answered.status).toBe(200)
        history.push(assistant(answerText(answered.json)), user(next))
      }
      const third = yield* ask(body(history, { user: "webui" }))
      expect(third.status).toBe(200)

      const expected = [
        "user: first question",
        "assistant: reply to first question",
        "user: second question",
        "assistant: reply to second question",
        "user: third question"
      ]
      // The agent has a system prompt; the request's system text follows it, once, at the top.
      expect(lines((yield* callNumber(3)).prompt)).toEqual([
        "system: You are the test agent.\n\nBe brief.",
        ...expected
      ])
      expect(yield* transcript("agent:main:openai-user:webui")).toEqual([
        ...expected,
        "assistant: reply to third question"
      ])
    }).pipe(
      Effect.provide(sessionGateway({ answer, config: agentsWith({ systemPrompt: "You are the test agent." }) }))
    ))

  it.scopedLive("the same, streamed", () =>
    Effect.gen(function*() {
      const history = [user("one")]
      for (const next of ["two", "three"]) {
        const events = yield* streamAll(body(history, { user: "streamer", stream: true }))
        history.push(assistant(streamedText(events)), user(next))
      }
      yield* streamAll(body(history, { user: "streamer", stream: true }))
      const expected = ["user: one", "assistant: reply to one", "user: two", "assistant: reply to two", "user: three"]
      expect(lines((yield* callNumber(3)).prompt)).toEqual(expected)
      expect(yield* transcript("agent:main:openai-user:streamer")).toEqual([...expected, "assistant: reply to three"])
    }).pipe(Effect.provide(sessionGateway({ answer }))))

  it.scopedLive("a client that sends only the new message each time gets the history from the store", () =>
    Effect.gen(function*() {
      for (const question of ["one", "two", "three"]) {
        const answered = yield* ask(body([user(question)]), { headers: { "x-clawdbot-session-key": "terse" } })
        expect(answered.status).toBe(200)
      }
      const expected = ["user: one", "assistant: reply to one", "user: two", "assistant: reply to two", "user: three"]
      expect(lines((yield* callNumber(3)).prompt)).toEqual(expected)
      expect(yield* transcript("terse")).toEqual([...expected, "assistant: reply to three"])
    }).pipe(Effect.provide(sessionGateway({ answer }))))

  it.scopedLive("a new session is seeded with the history the first request brings", () =>
    Effect.gen(function*() {
      const answered = yield* ask(
        body([user("earlier question"), assistant("earlier answer"), user("now this")], { user: "migrant" })
      )
      expect(answered.status).toBe(200)
      const expected = ["user: earlier question", "assistant: earlier answer", "user: now this"]
      expect(lines((yield* callNumber(1)).prompt)).toEqual(expected)
      expect(yield* transcript("agent:main:openai-user:migrant")).toEqual([...expected, "assistant: reply to now this"])
      // The next request resends it all: nothing twice.
      yield* ask(
        body([
          user("earlier question"),
          assistant("earlier answer"),
          user("now this"),
          assistant("reply to now this"),
          user("and then")
        ], { user: "migrant" })
      )
      expect(lines((yield* callNumber(2)).prompt)).toEqual([
        ...expected,
        "assistant: reply to now this",
        "user: and then"
      ])
    }).pipe(Effect.provide(sessionGateway({ answer }))))

  it.scopedLive("the system text is not stored: a later request without it does not get it", () =>
    Effect.gen(function*() {
      yield* ask(body([system("Speak like a pirate."), user("hello")], { user: "sys" }))
      yield* ask(body([user("again")], { user: "sys" }))
      expect(lines((yield* callNumber(2)).prompt)).toEqual(["user: hello", "assistant: reply to hello", "user: again"])
    }).pipe(Effect.provide(sessionGateway({ answer }))))
})

describe("session memory: bounds", () => {
  it.scopedLive("the model gets the most recent session.history.maxMessages of the transcript, and the whole system prompt", () =>
    Effect.gen(function*() {
      for (const question of ["q1", "q2", "q3"]) yield* ask(body([user(question)], { user: "bounded" }))
      const call = yield* callNumber(3)
      // The transcript holds q1, r1, q2, r2: the last 3 of them reach the model, then this turn.
      expect(lines(call.prompt)).toEqual([
        `system: ${LONG_PROMPT}`,
        "assistant: reply to q1",
        "user: q2",
        "assistant: reply to q2",
        "user: q3"
      ])
      // The store keeps everything.
      expect(yield* transcript("agent:main:openai-user:bounded")).toHaveLength(6)
    }).pipe(Effect.provide(sessionGateway({
      answer,
      config: agentsWith({ systemPrompt: LONG_PROMPT }, {
        session: { store: { path: ":memory:" }, history: { maxMessages: 3 } }
      })
    }))))

  it.scopedLive("and the most recent messages within session.history.maxChars (this turn is never cut)", () =>
    Effect.gen(function*() {
      yield* ask(body([user("x".repeat(30))], { user: "chars" }))
      yield* ask(body([user("short")], { user: "chars" }))
      const long = "y".repeat(100)
      yield* ask(body([user(long)], { user: "chars" }))
      // Transcript before turn 3: x*30 (30), "reply to xxx" (39), short (5), "reply to short" (14).
      // Within 50 characters: the last two only (58 with the one before). This turn's own message is over the budget, whole.
      expect(lines((yield* callNumber(3)).prompt)).toEqual([
        `system: ${LONG_PROMPT}`,
        "user: short",
        "assistant: reply to short",
        `user: ${long}`
      ])
    }).pipe(Effect.provide(sessionGateway({
      answer,
      config: agentsWith({ systemPrompt: LONG_PROMPT }, {
        session: { store: { path: ":memory:" }, history: { maxChars: 50 } }
      })
    }))))
})

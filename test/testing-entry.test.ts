/**
 * The public testing entry (`clawgate/testing`, here `src/testing.ts`) used the way a library user
 * would in their own @effect/vitest tests: each fake AgentRunner as documented, timed fakes on the
 * TestClock, and the accept-all / reject-all Auth layers plugged into a real gateway.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { AgentRunner } from "../src/agent/AgentRunner.js"
import { decode } from "../src/config/Load.js"
import { AgentEvent } from "../src/domain/AgentEvent.js"
import { ProviderFailed, ProviderUnreachable } from "../src/domain/Errors.js"
import { type RunRequest } from "../src/domain/Run.js"
import { Auth, FakeAgentRunner, RecordedRuns, replyEvents } from "../src/testing.js"
import { baseConfig, testGateway, TOKEN } from "./kit/gateway.js"
import { chat, json, userSays } from "./kit/http.js"

/** The harness config's agent `main`, resolved the way the gateway resolves it. */
const mainAgent = (() => {
  const settings = Either.getOrThrow(decode(baseConfig, { token: Option.none(), password: Option.none() })).settings
  const agent = settings.agents.find((entry) => entry.id === "main")
  if (agent === undefined) throw new Error("the harness config has no agent main")
  return agent
})()

/** A run request as the gateway would build it, for calling a runner directly. */
const runRequest = (text: string, runId = "run-1"): RunRequest => ({
  runId,
  agent: mainAgent,
  sessionKey: { value: `agent:main:openai:${runId}`, kind: "ephemeral" },
  messages: [{ role: "user", content: text }],
  extraSystemPrompt: undefined,
  sampling: {}
})

/** What a run's text deltas say, together. */
const textSaid = (events: Iterable<AgentEvent>) =>
  Array.from(events).flatMap((event) => event._tag === "TextDelta" ? [event.text] : []).join("")

/** Runs one turn through the runner in context and collects its events. */
const streamed = (request: RunRequest) =>
  Effect.flatMap(AgentRunner, (runner) => Stream.runCollect(runner.stream(request))).pipe(
    Effect.map(Chunk.toReadonlyArray)
  )

const completed = (request: RunRequest) => Effect.flatMap(AgentRunner, (runner) => runner.complete(request))

/**
 * Consumes a run in the background, each event into a queue, so a test can watch what has
 * arrived at each moment of the TestClock.
 */
const watch = (request: RunRequest) =>
  Effect.gen(function*() {
    const runner = yield* AgentRunner
    const arrived = yield* Queue.unbounded<AgentEvent>()
    const fiber = yield* Effect.fork(Stream.runForEach(runner.stream(request), (event) => Queue.offer(arrived, event)))
    return { arrived, fiber }
  })

const tagsOf = (events: Iterable<AgentEvent>) => Array.from(events).map((event) => event._tag)

describe("replyEvents", () => {
  it("turns a text into word deltas, word-count usage and a finish reason", () => {
    const events = replyEvents("one two  three")
    expect(textSaid(events)).toBe("one two  three")
    expect(events).toEqual([
      AgentEvent.TextDelta({ text: "one" }),
      AgentEvent.TextDelta({ text: " two" }),
      AgentEvent.TextDelta({ text: "  three" }),
      AgentEvent.Usage({ usage: { promptTokens: 1, completionTokens: 3 } }),
      AgentEvent.Finish({ reason: "stop" })
    ])
    expect(replyEvents("cut", { finishReason: "length", usage: { promptTokens: 9, completionTokens: 4 } }).slice(1))
      .toEqual([
        AgentEvent.Usage({ usage: { promptTokens: 9, completionTokens: 4 } }),
        AgentEvent.Finish({ reason: "length" })
      ])
  })
})

describe("FakeAgentRunner as a service", () => {
  it.effect("layer: every run is the script's stream for the request, and complete() folds it", () =>
    Effect.gen(function*() {
      const events = yield* streamed(runRequest("ping"))
      expect(textSaid(events)).toBe("you said ping")
      const reply = yield* completed(runRequest("pong"))
      expect(reply).toEqual({
        text: "you said pong",
        finishReason: "length",
        usage: { promptTokens: 1, completionTokens: 3 }
      })
    }).pipe(Effect.provide(FakeAgentRunner.layer((request) =>
      Stream.fromIterable(
        replyEvents(`you said ${request.messages.at(-1)?.content ?? "nothing"}`, { finishReason: "length" })
      )
    ))))

  it.effect("layerReplies: answers with the replies in turn, through stream and complete alike, then starts over", () =>
    Effect.gen(function*() {
      const first = yield* completed(runRequest("a"))
      const second = yield* streamed(runRequest("b"))
      const third = yield* completed(runRequest("c"))
      const fourth = yield* completed(runRequest("d"))
      expect([first.text, textSaid(second), third.text, fourth.text]).toEqual([
        "Hello there!",
        "Again?",
        "Last one.",
        "Hello there!"
      ])
      expect(first.usage).toEqual({ promptTokens: 1, completionTokens: 2 })
      expect(first.finishReason).toBe("stop")
      expect(tagsOf(second).slice(-2)).toEqual(["Usage", "Finish"])
    }).pipe(Effect.provide(FakeAgentRunner.layerReplies("Hello there!", "Again?", "Last one."))))

  it.effect("layerReplies: each provided layer starts at the first reply", () =>
    Effect.gen(function*() {
      const layer = FakeAgentRunner.layerReplies("first", "second")
      const once = yield* Effect.provide(completed(runRequest("x")), layer)
      const again = yield* Effect.provide(completed(runRequest("x")), layer)
      expect([once.text, again.text]).toEqual(["first", "first"])
    }))

  it.effect("layerFailing: fails every run with the error, before any event", () =>
    Effect.gen(function*() {
      const error = new ProviderUnreachable({ provider: "upstream" })
      const runner = FakeAgentRunner.layerFailing(error)
      const events = yield* Effect.provide(
        Effect.flatMap(AgentRunner, (agent) => Stream.runCollect(Stream.either(agent.stream(runRequest("hi"))))),
        runner
      )
      expect(Chunk.toReadonlyArray(events)).toEqual([Either.left(error)])
      const failure = yield* Effect.provide(Effect.flip(completed(runRequest("hi"))), runner)
      expect(failure).toEqual(error)
    }))

  it.effect("layerFailingAfter: streams the text word by word, then fails with the error", () =>
    Effect.gen(function*() {
      const error = new ProviderFailed({ provider: "upstream", detail: "broke" })
      const runner = FakeAgentRunner.layerFailingAfter("partial answer", error)
      const events = yield* Effect.provide(
        Effect.flatMap(AgentRunner, (agent) => Stream.runCollect(Stream.either(agent.stream(runRequest("hi"))))),
        runner
      )
      expect(Chunk.toReadonlyArray(events)).toEqual([
        Either.right(AgentEvent.TextDelta({ text: "partial" })),
        Either.right(AgentEvent.TextDelta({ text: " answer" })),
        Either.left(error)
      ])
      expect(yield* Effect.provide(Effect.flip(completed(runRequest("hi"))), runner)).toEqual(error)
    }))

  it.scoped("layerSlow: on the TestClock, the delay, then one word per interval, then usage and finish", () =>
    Effect.gen(function*() {
      const { arrived, fiber } = yield* watch(runRequest("hi"))

      yield* TestClock.adjust("59 seconds")
      expect(yield* Queue.takeAll(arrived).pipe(Effect.map(Chunk.toReadonlyArray))).toEqual([])
      // After the delay, each word comes one interval after the one before (the first too).
      yield* TestClock.adjust("1 second")
      expect(yield* Queue.size(arrived)).toBe(0)
      yield* TestClock.adjust("10 seconds")
      expect(textSaid(yield* Queue.takeAll(arrived))).toBe("slow")
      yield* TestClock.adjust("9 seconds")
      expect(yield* Queue.size(arrived)).toBe(0)
      yield* TestClock.adjust("1 second")
      expect(textSaid(yield* Queue.takeAll(arrived))).toBe(" and")
      yield* TestClock.adjust("10 seconds")
      // The last word, then the end of the run at once: no extra wait for usage and finish.
      const last = Chunk.toReadonlyArray(yield* Queue.takeAll(arrived))
      expect(tagsOf(last)).toEqual(["TextDelta", "Usage", "Finish"])
      expect(textSaid(last)).toBe(" steady")
      yield* Fiber.join(fiber)
    }).pipe(
      Effect.provide(FakeAgentRunner.layerSlow({ text: "slow and steady", interval: "10 seconds", delay: "1 minute" }))
    ))

  it.effect("layerSlow: complete() waits the whole stream on the TestClock, without real waiting", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(completed(runRequest("hi")))
      yield* TestClock.adjust("2 hours")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 hour")
      const reply = yield* Fiber.join(fiber)
      expect(reply).toEqual({
        text: "one two three",
        finishReason: "stop",
        usage: { promptTokens: 1, completionTokens: 3 }
      })
    }).pipe(Effect.provide(FakeAgentRunner.layerSlow({ text: "one two three", interval: "1 hour" }))))

  it.effect("layerHanging: streams the text, never ends, and runs onInterrupt when the run is cancelled", () =>
    Effect.gen(function*() {
      const interrupted = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        const { arrived, fiber } = yield* watch(runRequest("hi"))
        expect(yield* Queue.take(arrived)).toEqual(AgentEvent.TextDelta({ text: "thinking" }))
        expect(yield* Queue.take(arrived)).toEqual(AgentEvent.TextDelta({ text: " hard" }))
        // However long it is left alone, it neither ends nor says more.
        yield* TestClock.adjust("1 day")
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        expect(yield* Queue.size(arrived)).toBe(0)
        expect(yield* Deferred.isDone(interrupted)).toBe(false)

        yield* Fiber.interrupt(fiber)
        expect(yield* Deferred.isDone(interrupted)).toBe(true)
      }).pipe(Effect.provide(FakeAgentRunner.layerHanging({
        text: "thinking hard",
        onInterrupt: Deferred.succeed(interrupted, undefined)
      })))
    }))

  it.effect("layerRecording: passes runs through to the inner runner and records them in order", () =>
    Effect.gen(function*() {
      const recorded = yield* RecordedRuns
      expect(yield* recorded.all).toEqual([])
      const first = yield* completed(runRequest("one", "run-a"))
      const second = yield* streamed(runRequest("two", "run-b"))
      expect(first.text).toBe("A")
      expect(textSaid(second)).toBe("B")
      const runs = yield* recorded.all
      expect(runs.map((run) => [run.runId, run.messages.at(-1)?.content])).toEqual([["run-a", "one"], ["run-b", "two"]])
    }).pipe(Effect.provide(FakeAgentRunner.layerRecording(FakeAgentRunner.layerReplies("A", "B")))))
})

/** A request to agent `beta` saying `content`, with these headers (and no Authorization of its own). */
const chatBeta = (content: string, headers: Record<string, string> = {}) =>
  chat(userSays(content, { model: "clawdbot:beta" }), { token: null, headers })

describe("the testing entry plugged into a gateway", () => {
  it.scopedLive("layerReplies behind the real endpoint answers each request in turn", () =>
    Effect.gen(function*() {
      const answers: Array<unknown> = []
      for (const content of ["one", "two", "three"]) {
        const response = yield* chatBeta(content, { authorization: `Bearer ${TOKEN}` })
        expect(response.status).toBe(200)
        answers.push(yield* json(response))
      }
      expect(answers).toMatchObject([
        { choices: [{ message: { content: "first reply" } }], usage: { completion_tokens: 2 } },
        { choices: [{ message: { content: "second" } }], usage: { completion_tokens: 1 } },
        { choices: [{ message: { content: "first reply" } }] }
      ])
    }).pipe(Effect.provide(testGateway({ runner: FakeAgentRunner.layerReplies("first reply", "second") }))))

  it.scopedLive("layerRecording shows what the gateway handed the runner", () => {
    // One recording layer, given to the gateway and to the test: layers are built once per
    // `provide`, so both see the same recorder.
    const recording = FakeAgentRunner.layerRecording(FakeAgentRunner.layerReplies("noted"))
    return Effect.gen(function*() {
      const response = yield* chat({
        model: "clawdbot:beta",
        temperature: 0.5,
        max_tokens: 40,
        messages: [
          { role: "developer", content: "Be terse." },
          { role: "user", content: "remember this" }
        ]
      }, { headers: { "x-clawdbot-session-key": "my-session" } })
      expect(response.status).toBe(200)
      const runs = yield* Effect.flatMap(RecordedRuns, (recorded) => recorded.all)
      expect(runs).toHaveLength(1)
      expect(runs[0]).toMatchObject({
        agent: { id: "beta" },
        sessionKey: { value: "my-session", kind: "header" },
        messages: [{ role: "user", content: "remember this" }],
        extraSystemPrompt: "Be terse.",
        sampling: { temperature: 0.5, maxTokens: 40 }
      })
    }).pipe(Effect.provide(Layer.merge(testGateway({ runner: recording }), recording)))
  })

  it.scopedLive("Auth.layerAcceptAll lets every request in, with a wrong secret or none", () =>
    Effect.gen(function*() {
      for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: "Basic abc" }]) {
        const response = yield* chatBeta("let me in", headers)
        expect(response.status).toBe(200)
        expect(yield* json(response)).toMatchObject({ choices: [{ message: { content: "let me in" } }] })
      }
    }).pipe(Effect.provide(testGateway({ auth: Auth.layerAcceptAll }))))

  it.scopedLive("Auth.layerRejectAll turns every request away, even with the configured token", () =>
    Effect.gen(function*() {
      for (const headers of [{ authorization: `Bearer ${TOKEN}` }, {}]) {
        const response = yield* chatBeta("let me in", headers)
        expect(response.status).toBe(401)
        expect(response.headers.get("www-authenticate")).toBe("Bearer")
        expect(yield* json(response)).toMatchObject({ error: { message: "Unauthorized", type: "unauthorized" } })
      }
    }).pipe(Effect.provide(testGateway({ auth: Auth.layerRejectAll }))))
})

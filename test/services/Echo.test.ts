/**
 * The built-in `echo` model through the live runner.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { SessionKeys } from "../../src/access/SessionKeys.js"
import { AgentRunner } from "../../src/agent/AgentRunner.js"
import * as LiveRunner from "../../src/agent/LiveRunner.js"
import { Config } from "../../src/config/Config.js"
import { type ConfigInput } from "../../src/config/ConfigFile.js"
import { collect } from "../../src/domain/AgentEvent.js"
import { type ChatMessage, type RunRequest, type Sampling } from "../../src/domain/Run.js"
import { SessionStore } from "../../src/store/SessionStore.js"
import { user } from "../kit/messages.js"

/** Agents on echo, one on a provider nobody listens for; sessions in memory. */
const config = {
  agents: {
    list: [
      { id: "main", model: "echo" },
      { id: "prompted", model: "echo", systemPrompt: "You are a parrot." },
      { id: "remote", model: "openai/gpt-4o" }
    ]
  },
  models: {
    providers: { openai: { api: "openai-completions", baseUrl: "http://127.0.0.1:9/v1", retry: { attempts: 0 } } }
  },
  session: { store: { path: ":memory:" } }
} satisfies ConfigInput

/** The real runner layer, built from the config above. */
const runnerLayer = LiveRunner.layer.pipe(
  Layer.provide(SessionStore.layer),
  Layer.provideMerge(Config.layerFrom(config)),
  Layer.provide(NodeContext.layer)
)

const runOf = (
  messages: ReadonlyArray<ChatMessage>,
  options: { readonly agentId?: string; readonly sampling?: Sampling; readonly extraSystemPrompt?: string } = {}
) =>
  Effect.gen(function*() {
    const settings = yield* Config
    const agent = settings.agents.find((candidate) => candidate.id === (options.agentId ?? "main"))
    if (agent === undefined) return yield* Effect.dieMessage(`no agent ${options.agentId}`)
    // An ephemeral key: the run is not stored, so each run stands alone.
    const sessionKey = yield* SessionKeys.make(() => "fixed").resolve({
      agentId: agent.id,
      header: Option.none(),
      user: Option.none()
    })
    const run: RunRequest = {
      runId: "run-1",
      agent,
      sessionKey,
      messages,
      extraSystemPrompt: options.extraSystemPrompt,
      sampling: options.sampling ?? {}
    }
    return run
  })

describe("echo through the live runner", () => {
  it.effect("streams the last user message word by word, then usage, then the finish reason", () =>
    Effect.gen(function*() {
      const runner = yield* AgentRunner
      const run = yield* runOf([user("hello big world")])
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(runner.stream(run)))
      expect(events.map((event) => event._tag)).toEqual(["TextDelta", "TextDelta", "TextDelta", "Usage", "Finish"])
      expect(events.flatMap((event) => event._tag === "TextDelta" ? [event.text] : [])).toEqual([
        "hello",
        " big",
        " world"
      ])
      expect(events[3]).toMatchObject({ _tag: "Usage", usage: { promptTokens: 3, completionTokens: 3 } })
      expect(events[4]).toMatchObject({ _tag: "Finish", reason: "stop" })
    }).pipe(Effect.provide(runnerLayer)))

  it.effect("answers the last user message; the whitespace between words is kept", () =>
    Effect.gen(function*() {
      const runner = yield* AgentRunner
      const run = yield* runOf([
        user("first question"),
        { role: "assistant", content: "first answer" },
        user("  second\n  question  here ")
      ])
      const reply = yield* runner.complete(run)
      expect(reply.text).toBe("second\n  question  here")
      expect(reply.usage).toEqual({ promptTokens: 7, completionTokens: 3 })
    }).pipe(Effect.provide(runnerLayer)))

  it.effect("complete() equals the collected stream", () =>
    Effect.gen(function*() {
      const runner = yield* AgentRunner
      for (
        const run of [
          yield* runOf([user("one two three four")]),
          yield* runOf([user("one two three four")], { sampling: { maxTokens: 2 } }),
          yield* runOf([user("a b")], { agentId: "prompted", extraSystemPrompt: "Answer in French." }),
          yield* runOf([{ role: "assistant", content: "no user here" }])
        ]
      ) {
        const streamed = yield* collect(runner.stream(run))
        const completed = yield* runner.complete(run)
        expect(completed).toEqual(streamed)
      }
    }).pipe(Effect.provide(runnerLayer)))

  it.effect("usage counts words: the prompts and every message, and the words spoken", () =>
    Effect.gen(function*() {
      const runner = yield* AgentRunner
      const run = yield* runOf(
        [user("a b c"), { role: "assistant", content: "d e" }, user("f g h i")],
        { agentId: "prompted", extraSystemPrompt: "Answer briefly." }
      )
      const reply = yield* runner.complete(run)
      // "You are a parrot." 4 + "Answer briefly." 2 + messages 3 + 2 + 4.
      expect(reply.usage).toEqual({ promptTokens: 15, completionTokens: 4 })
      expect(reply.text).toBe("f g h i")
    }).pipe(Effect.provide(runnerLayer)))

  it.effect("max_tokens cuts the reply with finish reason length", () =>
    Effect.gen(function*() {
      const runner = yield* AgentRunner
      const cut = yield* runner.complete(yield* runOf([user("one two three four")], { sampling: { maxTokens: 2 } }))
      expect(cut).toEqual({ text: "one two", finishReason: "length", usage: { promptTokens: 4, completionTokens: 2 } })
      const exact = yield* runner.complete(yield* runOf([user("one two")], { sampling: { maxTokens: 2 } }))
      expect(exact.finishReason).toBe("stop")
      const streamed = yield* Stream.runCollect(
        runner.stream(yield* runOf([user("one two three four")], { sampling: { maxTokens: 3 } }))
      )
      expect(Chunk.toReadonlyArray(streamed).filter((event) => event._tag === "TextDelta")).toHaveLength(3)
      expect(Chunk.last(streamed)).toEqual(Option.some(expect.objectContaining({ _tag: "Finish", reason: "length" })))
    }).pipe(Effect.provide(runnerLayer)))

  it.effect("with no user text, the reply is empty", () =>
    Effect.gen(function*() {
      const runner = yield* AgentRunner
      const reply = yield* runner.complete(yield* runOf([user("   ")]))
      expect(reply.text).toBe("")
      expect(reply.usage?.completionTokens).toBe(0)
    }).pipe(Effect.provide(runnerLayer)))

  it.live("an agent on a provider nobody listens for fails with ProviderUnreachable, stream and complete", () =>
    Effect.gen(function*() {
      const runner = yield* AgentRunner
      const run = yield* runOf([user("hello")], { agentId: "remote" })
      const streamed = yield* Effect.flip(Stream.runCollect(runner.stream(run)))
      expect(streamed).toMatchObject({ _tag: "ProviderUnreachable", provider: "openai" })
      const completed = yield* Effect.flip(runner.complete(run))
      expect(completed).toMatchObject({ _tag: "ProviderUnreachable", provider: "openai" })
    }).pipe(Effect.provide(runnerLayer)))
})

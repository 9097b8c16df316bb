/**
 * Config reload without restart, in-process:
 * `Gateway.layer` on a loopback port with a `reloads` stream the test drives. The enable flag,
 * secrets, agents and providers of a reloaded config apply to new requests; answers in flight finish
 * on the config they started with; a config whose generation fails to build leaves the old one
 * serving. Every wait is on an event: the gateway's reload log line, a run or provider call
 * starting, the stream's next event.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { Config } from "../../src/config/Config.js"
import * as Completions from "../fakes/ChatCompletionsServer.js"
import { ChatCompletionsServer } from "../fakes/ChatCompletionsServer.js"
import { controlledProvider } from "../fakes/ControlledProvider.js"
import { askTo, fetchJson, postTo, userSays } from "../kit/http.js"
import { controlledRunner } from "../kit/runs.js"
import { answerText, endsNormally, errorOf, isContent, streamedText, summaryOf } from "../kit/wire.js"
import { liveRunner, modelIds, reloadableGateway, reloadConfig, whoAmI } from "./harness.js"

const RELOADED = "Config reloaded"
const ONE = "token-one"
const TWO = "token-two"

/** An `openai-completions` provider entry at `baseUrl`, without retries. */
const provider = (baseUrl: string, apiKey: string) => ({
  api: "openai-completions" as const,
  baseUrl,
  apiKey,
  retry: { attempts: 0 }
})

describe("config reload, in-process", () => {
  it.scopedLive("a new token applies to new requests: the old one gets 401, the new one 200", () =>
    Effect.gen(function*() {
      const gateway = yield* reloadableGateway(reloadConfig({ token: ONE }))
      expect((yield* askTo(gateway.url, userSays("hello there"), { token: ONE })).status).toBe(200)
      expect((yield* askTo(gateway.url, userSays("hello there"), { token: TWO })).status).toBe(401)

      expect(yield* gateway.reload(reloadConfig({ token: TWO }))).toBe(RELOADED)

      const old = yield* askTo(gateway.url, userSays("hello there"), { token: ONE })
      expect(old.status).toBe(401)
      expect(errorOf(old.json).code).toBe("invalid_api_key")
      const fresh = yield* askTo(gateway.url, userSays("hello there"), { token: TWO })
      expect(fresh.status).toBe(200)
      expect(answerText(fresh.json)).toBe("hello there")
      // The models list is behind the same gate.
      expect((yield* fetchJson(gateway.url, "/v1/models", { token: ONE })).status).toBe(401)
      expect((yield* fetchJson(gateway.url, "/v1/models", { token: TWO })).status).toBe(200)
    }))

  it.scopedLive("the enable flag turned off answers 404 endpoint_disabled; turned on again, 200", () =>
    Effect.gen(function*() {
      const gateway = yield* reloadableGateway(reloadConfig())
      expect((yield* askTo(gateway.url, userSays("hi"), { token: ONE })).status).toBe(200)

      expect(yield* gateway.reload(reloadConfig({ enabled: false }))).toBe(RELOADED)
      const off = yield* askTo(gateway.url, userSays("hi"), { token: ONE })
      expect(off.status).toBe(404)
      expect(errorOf(off.json).code).toBe("endpoint_disabled")
      const models = yield* fetchJson(gateway.url, "/v1/models", { token: ONE })
      expect(models.status).toBe(404)
      expect(errorOf(models.json).code).toBe("endpoint_disabled")
      // Liveness is not behind the flag.
      expect((yield* fetchJson(gateway.url, "/healthz", { token: null })).status).toBe(200)

      expect(yield* gateway.reload(reloadConfig({ enabled: true }))).toBe(RELOADED)
      const on = yield* askTo(gateway.url, userSays("hi again"), { token: ONE })
      expect(on.status).toBe(200)
      expect(answerText(on.json)).toBe("hi again")
    }))

  it.scopedLive("an agent added shows in /v1/models and takes requests; one removed is gone; a new default routes", () =>
    Effect.gen(function*() {
      const gateway = yield* reloadableGateway(reloadConfig(), { runner: whoAmI })
      const before = yield* fetchJson(gateway.url, "/v1/models", { token: ONE })
      expect(modelIds(before.json)).toEqual(["clawdbot:main", "main", "clawdbot:beta", "beta"])
      const unknown = yield* askTo(gateway.url, userSays("hi", { model: "clawdbot:gamma" }), { token: ONE })
      expect(unknown.status).toBe(404)
      expect(errorOf(unknown.json).code).toBe("model_not_found")
      // No agent named: the default.
      expect(answerText((yield* askTo(gateway.url, userSays("hi", { model: "clawgate" }), { token: ONE })).json))
        .toBe("I am main")

      // beta goes, gamma comes and becomes the default.
      const reloaded = reloadConfig({
        agents: [{ id: "main", model: "echo" }, { id: "gamma", default: true, model: "echo" }]
      })
      expect(yield* gateway.reload(reloaded)).toBe(RELOADED)

      const after = yield* fetchJson(gateway.url, "/v1/models", { token: ONE })
      expect(modelIds(after.json)).toEqual(["clawdbot:main", "main", "clawdbot:gamma", "gamma"])
      expect((yield* fetchJson(gateway.url, "/v1/models/gamma", { token: ONE })).status).toBe(200)
      expect((yield* fetchJson(gateway.url, "/v1/models/beta", { token: ONE })).status).toBe(404)

      const gamma = yield* askTo(gateway.url, userSays("hi", { model: "clawdbot:gamma" }), { token: ONE })
      expect(gamma.status).toBe(200)
      expect(answerText(gamma.json)).toBe("I am gamma")
      const byHeader = yield* fetchJson(gateway.url, "/v1/chat/completions", {
        token: ONE,
        body: userSays("hi"),
        headers: { "x-clawdbot-agent-id": "gamma" }
      })
      expect(answerText(byHeader.json)).toBe("I am gamma")
      const beta = yield* askTo(gateway.url, userSays("hi", { model: "clawdbot:beta" }), { token: ONE })
      expect(beta.status).toBe(404)
      expect(errorOf(beta.json).code).toBe("model_not_found")
      // No agent named: the new default.
      expect(answerText((yield* askTo(gateway.url, userSays("hi", { model: "clawgate" }), { token: ONE })).json))
        .toBe("I am gamma")
      expect(answerText((yield* askTo(gateway.url, userSays("hi", { model: "clawdbot:main" }), { token: ONE })).json))
        .toBe("I am main")
    }))

  it.scopedLive("a provider change applies to new requests: echo, then a provider, then its new model and key, then echo again", () =>
    Effect.gen(function*() {
      const server = yield* ChatCompletionsServer
      const gateway = yield* reloadableGateway(reloadConfig())
      const onProvider = (model: string, apiKey: string) =>
        reloadConfig({
          agents: [{ id: "main", default: true, model: `fake/${model}` }],
          providers: { fake: provider(server.baseUrl, apiKey) }
        })
      expect(answerText((yield* askTo(gateway.url, userSays("just echo"), { token: ONE })).json)).toBe("just echo")

      expect(yield* gateway.reload(onProvider("gpt-one", "sk-one"))).toBe(RELOADED)
      yield* server.reply(Completions.text(["from ", "the provider"]))
      const first = yield* askTo(gateway.url, userSays("who answers?"), { token: ONE })
      expect(first.status).toBe(200)
      expect(answerText(first.json)).toBe("from the provider")
      const firstCall = yield* server.nextRequest
      expect(firstCall.body).toMatchObject({ model: "gpt-one" })
      expect(firstCall.headers.authorization).toBe("Bearer sk-one")

      expect(yield* gateway.reload(onProvider("gpt-two", "sk-two"))).toBe(RELOADED)
      yield* server.reply(Completions.text("the second model"))
      const second = yield* askTo(gateway.url, userSays("and now?"), { token: ONE })
      expect(answerText(second.json)).toBe("the second model")
      const secondCall = yield* server.nextRequest
      expect(secondCall.body).toMatchObject({ model: "gpt-two" })
      expect(secondCall.headers.authorization).toBe("Bearer sk-two")

      expect(yield* gateway.reload(reloadConfig())).toBe(RELOADED)
      expect(answerText((yield* askTo(gateway.url, userSays("echo is back"), { token: ONE })).json)).toBe(
        "echo is back"
      )
      expect(yield* server.requests).toHaveLength(2)
    }).pipe(Effect.provide(ChatCompletionsServer.layer)))

  it.scopedLive("sessions outlive a reload: a stable session continues on the new config", () =>
    Effect.gen(function*() {
      const server = yield* ChatCompletionsServer
      const onProvider = (token: string) =>
        reloadConfig({
          token,
          agents: [{ id: "main", default: true, model: "fake/gpt" }],
          providers: { fake: provider(server.baseUrl, "sk-fake") }
        })
      const gateway = yield* reloadableGateway(onProvider(ONE))
      const turn = (token: string, content: string) =>
        askTo(gateway.url, userSays(content, { user: "alice" }), { token })
      expect((yield* turn(ONE, "my name is Alice")).status).toBe(200)
      yield* server.nextRequest

      expect(yield* gateway.reload(onProvider(TWO))).toBe(RELOADED)
      expect((yield* turn(TWO, "what is my name?")).status).toBe(200)
      const call = yield* server.nextRequest
      expect(call.body).toMatchObject({
        messages: [
          { role: "user", content: "my name is Alice" },
          { role: "assistant", content: "my name is Alice" },
          { role: "user", content: "what is my name?" }
        ]
      })
    }).pipe(Effect.provide(ChatCompletionsServer.layer)))

  it.scopedLive("a stream in flight at the reload finishes on its config while new requests use the new one", () =>
    Effect.gen(function*() {
      const runner = yield* controlledRunner
      const named = (name: string, token: string) =>
        reloadConfig({ token, agents: [{ id: "main", default: true, name, model: "echo" }] })
      const gateway = yield* reloadableGateway(named("first", ONE), { runner: runner.layer })
      const first = yield* runner.nextGeneration
      expect(first.name).toBe("first")

      // A stream on the first config, read up to its first words.
      const opening = yield* Effect.fork(postTo(gateway.url, userSays("hello", { stream: true }), { token: ONE }))
      const old = yield* runner.nextRun
      yield* old.say("Hello")
      const stream = yield* Fiber.join(opening).pipe(Effect.orDie)
      expect(stream.status).toBe(200)
      expect(streamedText(yield* stream.until(isContent))).toBe("Hello")

      expect(yield* gateway.reload(named("second", TWO))).toBe(RELOADED)
      const second = yield* runner.nextGeneration
      expect(second.name).toBe("second")

      // New requests are on the second config: the new token, the new agent settings.
      expect((yield* askTo(gateway.url, userSays("late"), { token: ONE })).status).toBe(401)
      const answering = yield* Effect.fork(askTo(gateway.url, userSays("new"), { token: TWO }))
      const fresh = yield* runner.nextRun
      expect(fresh.request.agent.name).toBe("second")
      yield* fresh.say("New")
      yield* fresh.finish
      const answer = yield* Fiber.join(answering)
      expect(answer.status).toBe(200)
      expect(answerText(answer.json)).toBe("New")

      // The stream in flight goes on, on the first config (still up), to its normal end.
      expect(old.request.agent.name).toBe("first")
      expect(yield* first.isReleased).toBe(false)
      yield* old.say(" world")
      yield* old.finish
      const rest = yield* stream.rest
      expect(summaryOf(rest)).toEqual(endsNormally(" world"))
      expect(yield* old.ended).toBe("completed")
      // Then the first generation is released; the second one serves on.
      yield* first.released
      const later = yield* Effect.fork(askTo(gateway.url, userSays("still here"), { token: TWO }))
      const run = yield* runner.nextRun
      expect(run.request.agent.name).toBe("second")
      yield* run.finish
      expect((yield* Fiber.join(later)).status).toBe(200)
    }))

  it.scopedLive("a plain answer in flight at the reload is answered on its config", () =>
    Effect.gen(function*() {
      const runner = yield* controlledRunner
      const gateway = yield* reloadableGateway(reloadConfig({ token: ONE }), { runner: runner.layer })
      const first = yield* runner.nextGeneration

      const answering = yield* Effect.fork(askTo(gateway.url, userSays("slow"), { token: ONE }))
      const run = yield* runner.nextRun
      expect(yield* gateway.reload(reloadConfig({ token: TWO }))).toBe(RELOADED)
      yield* runner.nextGeneration
      expect((yield* askTo(gateway.url, userSays("late"), { token: ONE })).status).toBe(401)
      expect(yield* first.isReleased).toBe(false)

      yield* run.say("Still answered")
      yield* run.finish
      const answer = yield* Fiber.join(answering)
      expect(answer.status).toBe(200)
      expect(answerText(answer.json)).toBe("Still answered")
      yield* first.released
    }))

  it.scopedLive("a provider's stream in flight keeps going after a reload that moves the agent to another provider", () =>
    Effect.gen(function*() {
      const slow = yield* controlledProvider
      const server = yield* ChatCompletionsServer
      const onSlow = reloadConfig({
        agents: [{ id: "main", default: true, model: "slow/model-a" }],
        providers: { slow: provider(slow.baseUrl, "sk-slow") }
      })
      const onFast = reloadConfig({
        agents: [{ id: "main", default: true, model: "fast/model-b" }],
        providers: { fast: provider(server.baseUrl, "sk-fast") }
      })
      const gateway = yield* reloadableGateway(onSlow)

      const opening = yield* Effect.fork(postTo(gateway.url, userSays("tell me", { stream: true }), { token: ONE }))
      const call = yield* slow.nextCall
      expect(call.model).toBe("model-a")
      yield* call.say("Once")
      const stream = yield* Fiber.join(opening).pipe(Effect.orDie)
      expect(streamedText(yield* stream.until(isContent))).toBe("Once")

      expect(yield* gateway.reload(onFast)).toBe(RELOADED)
      yield* server.reply(Completions.text("from the new provider"))
      const fresh = yield* askTo(gateway.url, userSays("who now?"), { token: ONE })
      expect(answerText(fresh.json)).toBe("from the new provider")
      expect((yield* server.nextRequest).body).toMatchObject({ model: "model-b" })

      // The old generation's provider client is still up: the stream ends normally.
      yield* call.say(" upon")
      yield* call.say(" a time")
      yield* call.finish
      const rest = yield* stream.rest
      expect(summaryOf(rest)).toEqual(endsNormally(" upon a time"))
    }).pipe(Effect.provide(ChatCompletionsServer.layer)))

  it.scopedLive("a config whose generation fails to build is logged and the old config keeps serving", () =>
    Effect.gen(function*() {
      // The live runner, plus a part that cannot be set up for an agent named `broken`.
      const failing = Layer.effectDiscard(
        Effect.flatMap(Config, (settings) =>
          settings.agents.some((agent) => agent.id === "broken")
            ? Effect.fail(new Error("cannot set up agent broken"))
            : Effect.void)
      )
      const gateway = yield* reloadableGateway(reloadConfig({ token: ONE }), {
        runner: Layer.merge(liveRunner, failing)
      })

      const broken = reloadConfig({
        token: TWO,
        agents: [{ id: "main", default: true, model: "echo" }, { id: "broken", model: "echo" }]
      })
      const line = yield* gateway.reload(broken)
      expect(line).not.toBe(RELOADED)
      expect(line).toMatch(/failed.*keeping the current config/)

      // Everything is as before the reload.
      const old = yield* askTo(gateway.url, userSays("still the old config"), { token: ONE })
      expect(old.status).toBe(200)
      expect(answerText(old.json)).toBe("still the old config")
      expect((yield* askTo(gateway.url, userSays("hi"), { token: TWO })).status).toBe(401)
      const models = yield* fetchJson(gateway.url, "/v1/models", { token: ONE })
      expect(modelIds(models.json)).toEqual(["clawdbot:main", "main", "clawdbot:beta", "beta"])

      // A good config afterwards applies as usual.
      expect(yield* gateway.reload(reloadConfig({ token: TWO }))).toBe(RELOADED)
      expect((yield* askTo(gateway.url, userSays("hi"), { token: TWO })).status).toBe(200)
      expect((yield* askTo(gateway.url, userSays("hi"), { token: ONE })).status).toBe(401)
    }))
})

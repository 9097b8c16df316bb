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
import { Answer, ChatCompletionsServer } from "../fakes/ChatCompletionsServer.js"
import { controlledProvider } from "../fakes/ControlledProvider.js"
import { postTo } from "../rawHttp.js"
import {
  answerText,
  chat,
  configWith,
  controlledRunner,
  DONE,
  errorCode,
  errorsOf,
  finishReasons,
  isContent,
  liveRunner,
  modelIds,
  postChat,
  reloadableGateway,
  request,
  textOf,
  whoAmI
} from "./harness.js"

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
      const gateway = yield* reloadableGateway(configWith({ token: ONE }))
      expect((yield* postChat(gateway.url, ONE, chat("hello there"))).status).toBe(200)
      expect((yield* postChat(gateway.url, TWO, chat("hello there"))).status).toBe(401)

      expect(yield* gateway.reload(configWith({ token: TWO }))).toBe(RELOADED)

      const old = yield* postChat(gateway.url, ONE, chat("hello there"))
      expect(old.status).toBe(401)
      expect(errorCode(old.body)).toBe("invalid_api_key")
      const fresh = yield* postChat(gateway.url, TWO, chat("hello there"))
      expect(fresh.status).toBe(200)
      expect(answerText(fresh.body)).toBe("hello there")
      // The models list is behind the same gate.
      expect((yield* request(gateway.url, "/v1/models", { token: ONE })).status).toBe(401)
      expect((yield* request(gateway.url, "/v1/models", { token: TWO })).status).toBe(200)
    }))

  it.scopedLive("the enable flag turned off answers 404 endpoint_disabled; turned on again, 200", () =>
    Effect.gen(function*() {
      const gateway = yield* reloadableGateway(configWith())
      expect((yield* postChat(gateway.url, ONE, chat("hi"))).status).toBe(200)

      expect(yield* gateway.reload(configWith({ enabled: false }))).toBe(RELOADED)
      const off = yield* postChat(gateway.url, ONE, chat("hi"))
      expect(off.status).toBe(404)
      expect(errorCode(off.body)).toBe("endpoint_disabled")
      const models = yield* request(gateway.url, "/v1/models", { token: ONE })
      expect(models.status).toBe(404)
      expect(errorCode(models.body)).toBe("endpoint_disabled")
      // Liveness is not behind the flag.
      expect((yield* request(gateway.url, "/healthz", { token: null })).status).toBe(200)

      expect(yield* gateway.reload(configWith({ enabled: true }))).toBe(RELOADED)
      const on = yield* postChat(gateway.url, ONE, chat("hi again"))
      expect(on.status).toBe(200)
      expect(answerText(on.body)).toBe("hi again")
    }))

  it.scopedLive("an agent added shows in /v1/models and takes requests; one removed is gone; a new default routes", () =>
    Effect.gen(function*() {
      const gateway = yield* reloadableGateway(configWith(), { runner: whoAmI })
      const before = yield* request(gateway.url, "/v1/models", { token: ONE })
      expect(modelIds(before.body)).toEqual(["clawdbot:main", "main", "clawdbot:beta", "beta"])
      const unknown = yield* postChat(gateway.url, ONE, chat("hi", { agent: "gamma" }))
      expect(unknown.status).toBe(404)
      expect(errorCode(unknown.body)).toBe("model_not_found")
      expect(answerText((yield* postChat(gateway.url, ONE, chat("hi"))).body)).toBe("I am main")

      // beta goes, gamma comes and becomes the default.
      const reloaded = configWith({
        agents: [{ id: "main", model: "echo" }, { id: "gamma", default: true, model: "echo" }]
      })
      expect(yield* gateway.reload(reloaded)).toBe(RELOADED)

      const after = yield* request(gateway.url, "/v1/models", { token: ONE })
      expect(modelIds(after.body)).toEqual(["clawdbot:main", "main", "clawdbot:gamma", "gamma"])
      expect((yield* request(gateway.url, "/v1/models/gamma", { token: ONE })).status).toBe(200)
      expect((yield* request(gateway.url, "/v1/models/beta", { token: ONE })).status).toBe(404)

      const gamma = yield* postChat(gateway.url, ONE, chat("hi", { agent: "gamma" }))
      expect(gamma.status).toBe(200)
      expect(answerText(gamma.body)).toBe("I am gamma")
      const byHeader = yield* request(gateway.url, "/v1/chat/completions", {
        token: ONE,
        body: chat("hi"),
        headers: { "x-clawdbot-agent-id": "gamma" }
      })
      expect(answerText(byHeader.body)).toBe("I am gamma")
      const beta = yield* postChat(gateway.url, ONE, chat("hi", { agent: "beta" }))
      expect(beta.status).toBe(404)
      expect(errorCode(beta.body)).toBe("model_not_found")
      // No agent named: the new default.
      expect(answerText((yield* postChat(gateway.url, ONE, chat("hi"))).body)).toBe("I am gamma")
      expect(answerText((yield* postChat(gateway.url, ONE, chat("hi", { agent: "main" }))).body)).toBe("I am main")
    }))

  it.scopedLive("a provider change applies to new requests: echo, then a provider, then its new model and key, then echo again", () =>
    Effect.gen(function*() {
      const server = yield* ChatCompletionsServer
      const gateway = yield* reloadableGateway(configWith())
      const onProvider = (model: string, apiKey: string) =>
        configWith({
          agents: [{ id: "main", default: true, model: `fake/${model}` }],
          providers: { fake: provider(server.baseUrl, apiKey) }
        })
      expect(answerText((yield* postChat(gateway.url, ONE, chat("just echo"))).body)).toBe("just echo")

      expect(yield* gateway.reload(onProvider("gpt-one", "sk-one"))).toBe(RELOADED)
      yield* server.answer(Answer.reply(["from ", "the provider"]))
      const first = yield* postChat(gateway.url, ONE, chat("who answers?"))
      expect(first.status).toBe(200)
      expect(answerText(first.body)).toBe("from the provider")
      const firstCall = yield* server.nextRequest
      expect(firstCall.body).toMatchObject({ model: "gpt-one" })
      expect(firstCall.headers.authorization).toBe("Bearer sk-one")

      expect(yield* gateway.reload(onProvider("gpt-two", "sk-two"))).toBe(RELOADED)
      yield* server.answer(Answer.reply("the second model"))
      const second = yield* postChat(gateway.url, ONE, chat("and now?"))
      expect(answerText(second.body)).toBe("the second model")
      const secondCall = yield* server.nextRequest
      expect(secondCall.body).toMatchObject({ model: "gpt-two" })
      expect(secondCall.headers.authorization).toBe("Bearer sk-two")

      expect(yield* gateway.reload(configWith())).toBe(RELOADED)
      expect(answerText((yield* postChat(gateway.url, ONE, chat("echo is back"))).body)).toBe("echo is back")
      expect(yield* server.requests).toHaveLength(2)
    }).pipe(Effect.provide(ChatCompletionsServer.layer)))

  it.scopedLive("sessions outlive a reload: a stable session continues on the new config", () =>
    Effect.gen(function*() {
      const server = yield* ChatCompletionsServer
      const onProvider = (token: string) =>
        configWith({
          token,
          agents: [{ id: "main", default: true, model: "fake/gpt" }],
          providers: { fake: provider(server.baseUrl, "sk-fake") }
        })
      const gateway = yield* reloadableGateway(onProvider(ONE))
      const turn = (token: string, content: string) => postChat(gateway.url, token, { ...chat(content), user: "alice" })
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
        configWith({ token, agents: [{ id: "main", default: true, name, model: "echo" }] })
      const gateway = yield* reloadableGateway(named("first", ONE), { runner: runner.layer })
      const first = yield* runner.nextGeneration
      expect(first.name).toBe("first")

      // A stream on the first config, read up to its first words.
      const opening = yield* Effect.fork(postTo(gateway.url, chat("hello", { stream: true }), ONE))
      const old = yield* runner.nextRun
      yield* old.say("Hello")
      const stream = yield* Fiber.join(opening).pipe(Effect.orDie)
      expect(stream.status).toBe(200)
      expect(textOf(yield* stream.until(isContent))).toBe("Hello")

      expect(yield* gateway.reload(named("second", TWO))).toBe(RELOADED)
      const second = yield* runner.nextGeneration
      expect(second.name).toBe("second")

      // New requests are on the second config: the new token, the new agent settings.
      expect((yield* postChat(gateway.url, ONE, chat("late"))).status).toBe(401)
      const answering = yield* Effect.fork(postChat(gateway.url, TWO, chat("new")))
      const fresh = yield* runner.nextRun
      expect(fresh.request.agent.name).toBe("second")
      yield* fresh.say("New")
      yield* fresh.finish
      const answer = yield* Fiber.join(answering)
      expect(answer.status).toBe(200)
      expect(answerText(answer.body)).toBe("New")

      // The stream in flight goes on, on the first config (still up), to its normal end.
      expect(old.request.agent.name).toBe("first")
      expect(yield* first.isReleased).toBe(false)
      yield* old.say(" world")
      yield* old.finish
      const rest = yield* stream.rest
      expect(textOf(rest)).toBe(" world")
      expect(finishReasons(rest)).toEqual(["stop"])
      expect(errorsOf(rest)).toEqual([])
      expect(rest.at(-1)).toBe(DONE)
      expect(yield* old.ended).toBe("completed")
      // Then the first generation is released; the second one serves on.
      yield* first.released
      const later = yield* Effect.fork(postChat(gateway.url, TWO, chat("still here")))
      const run = yield* runner.nextRun
      expect(run.request.agent.name).toBe("second")
      yield* run.finish
      expect((yield* Fiber.join(later)).status).toBe(200)
    }))

  it.scopedLive("a plain answer in flight at the reload is answered on its config", () =>
    Effect.gen(function*() {
      const runner = yield* controlledRunner
      const gateway = yield* reloadableGateway(configWith({ token: ONE }), { runner: runner.layer })
      const first = yield* runner.nextGeneration

      const answering = yield* Effect.fork(postChat(gateway.url, ONE, chat("slow")))
      const run = yield* runner.nextRun
      expect(yield* gateway.reload(configWith({ token: TWO }))).toBe(RELOADED)
      yield* runner.nextGeneration
      expect((yield* postChat(gateway.url, ONE, chat("late"))).status).toBe(401)
      expect(yield* first.isReleased).toBe(false)

      yield* run.say("Still answered")
      yield* run.finish
      const answer = yield* Fiber.join(answering)
      expect(answer.status).toBe(200)
      expect(answerText(answer.body)).toBe("Still answered")
      yield* first.released
    }))

  it.scopedLive("a provider's stream in flight keeps going after a reload that moves the agent to another provider", () =>
    Effect.gen(function*() {
      const slow = yield* controlledProvider
      const server = yield* ChatCompletionsServer
      const onSlow = configWith({
        agents: [{ id: "main", default: true, model: "slow/model-a" }],
        providers: { slow: provider(slow.baseUrl, "sk-slow") }
      })
      const onFast = configWith({
        agents: [{ id: "main", default: true, model: "fast/model-b" }],
        providers: { fast: provider(server.baseUrl, "sk-fast") }
      })
      const gateway = yield* reloadableGateway(onSlow)

      const opening = yield* Effect.fork(postTo(gateway.url, chat("tell me", { stream: true }), ONE))
      const call = yield* slow.nextCall
      expect(call.model).toBe("model-a")
      yield* call.say("Once")
      const stream = yield* Fiber.join(opening).pipe(Effect.orDie)
      expect(textOf(yield* stream.until(isContent))).toBe("Once")

      expect(yield* gateway.reload(onFast)).toBe(RELOADED)
      yield* server.answer(Answer.reply("from the new provider"))
      const fresh = yield* postChat(gateway.url, ONE, chat("who now?"))
      expect(answerText(fresh.body)).toBe("from the new provider")
      expect((yield* server.nextRequest).body).toMatchObject({ model: "model-b" })

      // The old generation's provider client is still up: the stream ends normally.
      yield* call.say(" upon")
      yield* call.say(" a time")
      yield* call.finish
      const rest = yield* stream.rest
      expect(textOf(rest)).toBe(" upon a time")
      expect(finishReasons(rest)).toEqual(["stop"])
      expect(errorsOf(rest)).toEqual([])
      expect(rest.at(-1)).toBe(DONE)
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
      const gateway = yield* reloadableGateway(configWith({ token: ONE }), { runner: Layer.merge(liveRunner, failing) })

      const broken = configWith({
        token: TWO,
        agents: [{ id: "main", default: true, model: "echo" }, { id: "broken", model: "echo" }]
      })
      const line = yield* gateway.reload(broken)
      expect(line).not.toBe(RELOADED)
      expect(line).toMatch(/failed.*keeping the current config/)

      // Everything is as before the reload.
      const old = yield* postChat(gateway.url, ONE, chat("still the old config"))
      expect(old.status).toBe(200)
      expect(answerText(old.body)).toBe("still the old config")
      expect((yield* postChat(gateway.url, TWO, chat("hi"))).status).toBe(401)
      const models = yield* request(gateway.url, "/v1/models", { token: ONE })
      expect(modelIds(models.body)).toEqual(["clawdbot:main", "main", "clawdbot:beta", "beta"])

      // A good config afterwards applies as usual.
      expect(yield* gateway.reload(configWith({ token: TWO }))).toBe(RELOADED)
      expect((yield* postChat(gateway.url, TWO, chat("hi"))).status).toBe(200)
      expect((yield* postChat(gateway.url, ONE, chat("hi"))).status).toBe(401)
    }))
})

/**
 * Scoped API keys over loopback: each key sees and uses only its agents, keeps its own limits
 * (429 rate_limit_error with Retry-After, retried by the openai SDK), is named by id in the log
 * line and the metrics, and a reload adds, changes or revokes keys at once.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import OpenAI from "openai"
import { Auth } from "../../src/access/Auth.js"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { rejection } from "../kit/clients.js"
import { baseConfig, baseUrl, testGateway, TOKEN } from "../kit/gateway.js"
import { chat, completionBody, errorBody, hello, json, send, sendTo, text, userSays } from "../kit/http.js"
import { capturingLogs, nextRequestLine } from "../kit/logs.js"
import { modelIds, reloadableGateway, settingsOf } from "../reload/harness.js"

type KeyInput = NonNullable<NonNullable<NonNullable<ConfigInput["gateway"]>["auth"]>["keys"]>[number]

const APP = "app-token-1"
const BOT = "bot-token-2"

/** The kit's config (agents `main` and `beta`) with these API keys besides the gateway token. */
const withKeys = (keys: ReadonlyArray<KeyInput>, extra: Partial<NonNullable<ConfigInput["gateway"]>> = {}) =>
  ({
    ...baseConfig,
    gateway: { ...baseConfig.gateway, ...extra, auth: { mode: "token", token: TOKEN, keys } }
  }) satisfies ConfigInput

/** The metrics are process-wide: a key id of this test's own. */
const METERED = `metered-${Date.now()}`

const app: KeyInput = { id: "app", token: APP, agents: ["main"] }
const bot: KeyInput = { id: "bot", token: BOT }

describe("API keys", () => {
  it.scopedLive("a key lists only its agents in /v1/models; the gateway token lists all", () =>
    Effect.gen(function*() {
      expect(modelIds(yield* json(yield* send("/v1/models", { token: APP })))).toEqual(["clawdbot:main", "main"])
      expect(modelIds(yield* json(yield* send("/v1/models", { token: BOT })))).toEqual([
        "clawdbot:main",
        "main",
        "clawdbot:beta",
        "beta"
      ])
      expect(modelIds(yield* json(yield* send("/v1/models")))).toHaveLength(4)
    }).pipe(Effect.provide(testGateway({ config: withKeys([app, bot]) }))))

  it.scopedLive("another agent is a 404 model_not_found, worded as for an agent that does not exist", () =>
    Effect.gen(function*() {
      const forbidden = yield* chat(userSays("hi", { model: "clawdbot:beta" }), { token: APP })
      expect(forbidden.status).toBe(404)
      const missing = yield* chat(userSays("hi", { model: "clawdbot:nobody" }), { token: APP })
      expect(missing.status).toBe(404)
      const [one, two] = [(yield* errorBody(forbidden)).error, (yield* errorBody(missing)).error]
      expect(one.code).toBe("model_not_found")
      expect(one.message).toBe(two.message.replace("nobody", "beta"))
      expect(one.message).not.toContain("beta.")
      const retrieve = yield* send("/v1/models/beta", { token: APP })
      expect(retrieve.status).toBe(404)
      expect((yield* errorBody(retrieve)).error.code).toBe("model_not_found")
      expect((yield* send("/v1/models/main", { token: APP })).status).toBe(200)
      // Its own agent answers; so does any agent for the gateway token.
      const own = yield* chat(hello(), { token: APP })
      expect((yield* completionBody(own)).choices[0]?.message.content).toBe("hello there")
      expect((yield* chat(userSays("hi", { model: "clawdbot:beta" }))).status).toBe(200)
    }).pipe(Effect.provide(testGateway({ config: withKeys([app, bot]) }))))

  it.scopedLive("a wrong token is still 401 with keys configured, and keys alone need no gateway token", () =>
    Effect.gen(function*() {
      expect((yield* chat(hello(), { token: `${APP}x` })).status).toBe(401)
      expect((yield* chat(hello(), { token: null })).status).toBe(401)
      expect((yield* chat(hello(), { token: APP })).status).toBe(200)
    }).pipe(Effect.provide(testGateway({
      config: { ...baseConfig, gateway: { ...baseConfig.gateway, auth: { keys: [app] } } }
    }))))

  it.scopedLive("past its requests per minute a key gets 429 rate_limit_error with Retry-After; others go on", () =>
    Effect.gen(function*() {
      // Two a minute: one, then the next 30 seconds later.
      const limited: KeyInput = { ...bot, rateLimit: { requestsPerMinute: 2 } }
      yield* Effect.gen(function*() {
        expect((yield* chat(hello(), { token: BOT })).status).toBe(200)
        const refused = yield* chat(hello(), { token: BOT })
        expect(refused.status).toBe(429)
        expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(29)
        expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(30)
        const body = yield* errorBody(refused)
        expect(body.error).toMatchObject({ type: "rate_limit_error", code: "rate_limit_exceeded" })
        expect(body.error.message).toContain("'bot'")
        expect((yield* chat(hello(), { token: APP })).status).toBe(200)
        expect((yield* chat(hello())).status).toBe(200)
      }).pipe(Effect.provide(testGateway({ config: withKeys([app, limited]) })))
    }))

  it.scopedLive("past its tokens per minute a key is refused until the tokens it used are paid back", () =>
    Effect.gen(function*() {
      // Echo counts words: 3 in, 3 out, so the first request uses 6 tokens of 5.
      expect((yield* chat(userSays("one two three"), { token: BOT })).status).toBe(200)
      const refused = yield* chat(hello(), { token: BOT })
      expect(refused.status).toBe(429)
      expect((yield* errorBody(refused)).error.message).toContain("tokens per minute")
      // One token of debt at 5 a minute: 12 seconds.
      expect(Number(refused.headers.get("retry-after"))).toBe(12)
    }).pipe(Effect.provide(testGateway({ config: withKeys([app, { ...bot, rateLimit: { tokensPerMinute: 5 } }]) }))))

  it.scopedLive("the openai SDK waits out a key's 429 as told and its retry is answered", () =>
    Effect.gen(function*() {
      const logs = yield* capturingLogs
      yield* Effect.gen(function*() {
        const url = yield* baseUrl
        expect((yield* chat(hello(), { token: BOT })).status).toBe(200)
        yield* nextRequestLine(logs.entries)
        const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: BOT, maxRetries: 2 })
        const started = Date.now()
        const answer = yield* Effect.promise(() =>
          openai.chat.completions.create({ model: "clawdbot:main", messages: [{ role: "user", content: "hi" }] })
        )
        expect(answer.choices[0]?.message.content).toBe("hi")
        // One a second: the SDK waited for the key's next second, not its own backoff.
        expect(Date.now() - started).toBeLessThan(1_900)
        expect((yield* nextRequestLine(logs.entries)).annotations).toMatchObject({ status: 429, key: "bot" })
        expect((yield* nextRequestLine(logs.entries)).annotations).toMatchObject({ status: 200, key: "bot" })
        // With no retries left, the SDK reports the key's limit as a RateLimitError.
        const once = new OpenAI({ baseURL: `${url}/v1`, apiKey: BOT, maxRetries: 0 })
        const error = yield* rejection(() =>
          once.chat.completions.create({ model: "clawdbot:main", messages: [{ role: "user", content: "hi" }] })
        )
        expect(error).toBeInstanceOf(OpenAI.RateLimitError)
        expect(error).toMatchObject({ status: 429, type: "rate_limit_error", code: "rate_limit_exceeded" })
      }).pipe(Effect.provide(testGateway({
        config: withKeys([{ ...bot, rateLimit: { requestsPerMinute: 60 } }]),
        logs: logs.layer
      })))
    }))

  it.scopedLive("the key's id, never its token, is in the log line; the gateway token's line has none", () =>
    Effect.gen(function*() {
      const logs = yield* capturingLogs
      yield* Effect.gen(function*() {
        yield* text(yield* chat(hello(), { token: APP }))
        const line = yield* nextRequestLine(logs.entries)
        expect(line.annotations["key"]).toBe("app")
        expect(line.text).not.toContain(APP)
        yield* text(yield* chat(hello()))
        expect((yield* nextRequestLine(logs.entries)).annotations["key"]).toBeUndefined()
      }).pipe(Effect.provide(testGateway({ config: withKeys([app]), logs: logs.layer })))
    }))

  it.scopedLive("requests and tokens are counted by key in /metrics", () =>
    Effect.gen(function*() {
      const id = METERED
      yield* text(yield* chat(userSays("one two three"), { token: "metered-token" }))
      yield* text(yield* chat(userSays("one two three"), { token: "metered-token" }))
      const scrape = yield* text(yield* send("/metrics", { token: null }))
      expect(scrape).toMatch(new RegExp(`clawgate_key_requests_total\\{key="${id}",status="200"\\} 2\\b`))
      expect(scrape).toMatch(new RegExp(`clawgate_key_tokens_total\\{key="${id}",kind="input"\\} 6\\b`))
      expect(scrape).toMatch(new RegExp(`clawgate_key_tokens_total\\{key="${id}",kind="output"\\} 6\\b`))
    }).pipe(
      Effect.provide(
        testGateway({ config: withKeys([{ id: METERED, token: "metered-token" }], { metrics: { enabled: true } }) })
      )
    ))
})

describe("a key's limits on the clock", () => {
  const makeAuth = (key: KeyInput) => Auth.make(settingsOf(withKeys([key])).auth)
  const outcome = (auth: Auth["Type"]) =>
    auth.check({ authorization: Option.some(`Bearer ${BOT}`), clientIp: "203.0.113.9" }).pipe(
      Effect.match({ onFailure: (error) => error, onSuccess: (caller) => caller.keyId })
    )

  it.effect("a refused key passes again once the time it was told to wait has passed", () =>
    Effect.gen(function*() {
      const auth = makeAuth({ ...bot, rateLimit: { requestsPerMinute: 6 } })
      expect(yield* outcome(auth)).toBe("bot")
      const refused = yield* outcome(auth)
      expect(refused).toMatchObject({ _tag: "KeyRateLimited", limit: "requests", retryAfterMs: 10_000 })
      yield* TestClock.adjust("9999 millis")
      expect(yield* outcome(auth)).toMatchObject({ _tag: "KeyRateLimited", retryAfterMs: 1 })
      yield* TestClock.adjust("1 millis")
      expect(yield* outcome(auth)).toBe("bot")
    }))

  it.effect("tokens spent put a key in debt, paid back at its rate per minute", () =>
    Effect.gen(function*() {
      const auth = makeAuth({ ...bot, rateLimit: { tokensPerMinute: 600 } })
      const caller = yield* auth.check({ authorization: Option.some(`Bearer ${BOT}`), clientIp: "203.0.113.9" })
      caller.spend(700)
      expect(yield* outcome(auth)).toMatchObject({ _tag: "KeyRateLimited", limit: "tokens", retryAfterMs: 10_000 })
      yield* TestClock.adjust("10 seconds")
      expect(yield* outcome(auth)).toMatchObject({ _tag: "KeyRateLimited" })
      yield* TestClock.adjust("1 millis")
      expect(yield* outcome(auth)).toBe("bot")
    }))
})

describe("API keys across reloads", () => {
  it.scopedLive("a reload revokes a key, adds one and changes another's agents for new requests at once", () =>
    Effect.gen(function*() {
      const gateway = yield* reloadableGateway(withKeys([app, bot]))
      const ask = (token: string, model = "clawdbot:main") =>
        Effect.map(
          sendTo(gateway.url, "/v1/chat/completions", { token, body: userSays("hi", { model }) }),
          (r) => r.status
        )
      expect(yield* ask(BOT)).toBe(200)
      expect(yield* ask(APP, "clawdbot:beta")).toBe(404)
      expect(yield* gateway.reload(withKeys([{ ...app, agents: ["beta"] }, { id: "new", token: "new-token" }])))
        .toBe("Config reloaded")
      expect(yield* ask(BOT)).toBe(401)
      expect(yield* ask("new-token")).toBe(200)
      expect(yield* ask(APP, "clawdbot:beta")).toBe(200)
      expect(yield* ask(APP, "clawdbot:main")).toBe(404)
      expect(yield* ask(TOKEN)).toBe(200)
    }))
})

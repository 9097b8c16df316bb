/**
 * The sessions API over loopback: list (newest first, OpenAI list shape, pages), read, reset and
 * delete; 409 while a run is in flight; each API key sees only its own sessions (the same `user`
 * under two keys is two sessions), the gateway token every one; and the reset triggers.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { RESET_REPLY } from "../../src/http/chat/ChatCompletions.js"
import { controlledProvider } from "../fakes/ControlledProvider.js"
import { baseConfig, testGateway, TOKEN } from "../kit/gateway.js"
import { chat, completionBody, json, send, text, userSays } from "../kit/http.js"
import { field, records } from "../kit/json.js"

const APP = "app-token"
const BOT = "bot-token"

/** The kit's config with two API keys, `app` (agent main only) and `bot`. */
export const keyedConfig = (extra: Partial<ConfigInput> = {}): ConfigInput => ({
  ...baseConfig,
  ...extra,
  gateway: {
    ...baseConfig.gateway,
    auth: {
      mode: "token",
      token: TOKEN,
      keys: [{ id: "app", token: APP, agents: ["main"] }, { id: "bot", token: BOT }]
    }
  }
})

/** One turn: `content` said by `user`, answered by echo; the session key the gateway used. */
const say = (user: string, content: string, token: string = TOKEN, model = "clawdbot:main") =>
  Effect.gen(function*() {
    const response = yield* chat(userSays(content, { user, model }), { token })
    expect(response.status).toBe(200)
    yield* completionBody(response)
    return response.headers.get("x-clawdbot-session-key") ?? ""
  })

const path = (key: string) => `/v1/sessions/${encodeURIComponent(key)}`

const listOf = (query = "", token: string = TOKEN) => Effect.flatMap(send(`/v1/sessions${query}`, { token }), json)

const keysIn = (list: unknown) => records(field(list, "data")).map((entry) => entry.key)

describe("the sessions API", () => {
  it.scopedLive("lists sessions newest first in OpenAI's list shape, a page at a time", () =>
    Effect.gen(function*() {
      const alice = yield* say("alice", "hello from alice")
      const bob = yield* say("bob", "hello from bob")
      const carol = yield* say("carol", "hello from carol", TOKEN, "clawdbot:beta")
      yield* say("alice", "alice again")
      const all = yield* listOf()
      expect(field(all, "object")).toBe("list")
      expect(keysIn(all)).toEqual([alice, carol, bob])
      expect(field(all, "first_id")).toBe(alice)
      expect(field(all, "last_id")).toBe(bob)
      expect(field(all, "has_more")).toBe(false)
      const [first] = records(field(all, "data"))
      expect(first).toMatchObject({ key: alice, agent: "main", turns: 2, title: "hello from alice" })
      expect(typeof first?.created_at).toBe("number")
      expect(Number(first?.updated_at)).toBeGreaterThanOrEqual(Number(first?.created_at))
      expect(Math.abs(Number(first?.created_at) - Date.now() / 1000)).toBeLessThan(60)

      const page1 = yield* listOf("?limit=2")
      expect(keysIn(page1)).toEqual([alice, carol])
      expect(field(page1, "has_more")).toBe(true)
      const page2 = yield* listOf(`?limit=2&after=${encodeURIComponent(carol)}`)
      expect(keysIn(page2)).toEqual([bob])
      expect(field(page2, "has_more")).toBe(false)
      expect(keysIn(yield* listOf("?agent=beta"))).toEqual([carol])
      expect((yield* send("/v1/sessions?limit=0")).status).toBe(400)
      expect((yield* send("/v1/sessions?limit=101")).status).toBe(400)
    }).pipe(Effect.provide(testGateway({ config: keyedConfig() }))))

  it.scopedLive("reads a session's messages in order; an unknown key is a 404", () =>
    Effect.gen(function*() {
      const key = yield* say("dora", "first words")
      yield* say("dora", "second words")
      const session = yield* json(yield* send(path(key)))
      expect(session).toMatchObject({ key, agent: "main", turns: 2, title: "first words" })
      expect(field(session, "messages")).toEqual([
        { role: "user", content: "first words" },
        { role: "assistant", content: "first words" },
        { role: "user", content: "second words" },
        { role: "assistant", content: "second words" }
      ])
      const missing = yield* send(path("agent:main:openai-user:nobody"))
      expect(missing.status).toBe(404)
      expect(field(field(yield* json(missing), "error"), "code")).toBe("session_not_found")
    }).pipe(Effect.provide(testGateway({ config: keyedConfig() }))))

  it.scopedLive("reset empties a session and keeps it listed; delete erases it for good", () =>
    Effect.gen(function*() {
      const key = yield* say("erin", "remember this")
      const reset = yield* send(`${path(key)}/reset`, { method: "POST" })
      expect(reset.status).toBe(200)
      expect(yield* json(reset)).toMatchObject({ key, turns: 0, title: null })
      expect(field(yield* json(yield* send(path(key))), "messages")).toEqual([])
      expect(keysIn(yield* listOf())).toEqual([key])
      yield* say("erin", "a fresh start")
      expect(yield* json(yield* send(path(key)))).toMatchObject({ turns: 1, title: "a fresh start" })

      const deleted = yield* send(path(key), { method: "DELETE" })
      expect(deleted.status).toBe(200)
      expect(yield* json(deleted)).toEqual({ key, object: "session.deleted", deleted: true })
      expect((yield* send(path(key))).status).toBe(404)
      expect(keysIn(yield* listOf())).toEqual([])
      expect((yield* send(path(key), { method: "DELETE" })).status).toBe(404)
      expect((yield* send(`${path(key)}/reset`, { method: "POST" })).status).toBe(404)
    }).pipe(Effect.provide(testGateway({ config: keyedConfig() }))))

  it.scopedLive("a session with a run in flight answers 409 to reset and delete until the run ends", () =>
    Effect.gen(function*() {
      const provider = yield* controlledProvider
      const config: ConfigInput = {
        ...keyedConfig(),
        models: {
          providers: { ctl: { api: "openai-completions", baseUrl: provider.baseUrl, retry: { attempts: 0 } } }
        },
        agents: { list: [{ id: "main", default: true, model: "ctl/slow" }] }
      }
      yield* Effect.gen(function*() {
        const first = yield* Effect.fork(say("finn", "one"))
        yield* (yield* provider.nextCall).reply("one")
        const key = yield* Fiber.join(first)
        const running = yield* Effect.fork(say("finn", "two"))
        const call = yield* provider.nextCall
        for (const [method, suffix] of [["DELETE", ""], ["POST", "/reset"]] as const) {
          const busy = yield* send(`${path(key)}${suffix}`, { method })
          expect(busy.status).toBe(409)
          expect(busy.headers.get("retry-after")).toBe("1")
          expect(field(field(yield* json(busy), "error"), "code")).toBe("session_in_use")
        }
        yield* call.reply("two")
        yield* Fiber.join(running)
        expect((yield* send(`${path(key)}/reset`, { method: "POST" })).status).toBe(200)
      }).pipe(Effect.provide(testGateway({ config })))
    }))
})

describe("sessions and API keys", () => {
  it.scopedLive("the same user under two keys is two sessions; each key sees only its own", () =>
    Effect.gen(function*() {
      const mine = yield* say("gus", "app says", APP)
      const theirs = yield* say("gus", "bot says", BOT)
      expect(mine).not.toBe(theirs)
      expect(mine.startsWith("key:app:")).toBe(true)
      const untouched = yield* say("gus", "the gateway says")
      expect(untouched).toBe("agent:main:openai-user:gus")
      // Each transcript holds its own caller's words only.
      expect(field(yield* json(yield* send(path(mine), { token: APP })), "messages")).toEqual([
        { role: "user", content: "app says" },
        { role: "assistant", content: "app says" }
      ])
      expect(keysIn(yield* listOf("", APP))).toEqual([mine])
      expect(keysIn(yield* listOf("", BOT))).toEqual([theirs])
      expect(keysIn(yield* listOf())).toHaveLength(3)
      // Another key's session is a 404 for reading, resetting and deleting, and stays as it was.
      for (const [method, suffix] of [["GET", ""], ["POST", "/reset"], ["DELETE", ""]] as const) {
        expect((yield* send(`${path(theirs)}${suffix}`, { method, token: APP })).status).toBe(404)
      }
      expect(yield* json(yield* send(path(theirs), { token: BOT }))).toMatchObject({ turns: 1 })
      // The gateway token may manage any.
      expect((yield* send(path(theirs), { method: "DELETE" })).status).toBe(200)
      expect(keysIn(yield* listOf("", BOT))).toEqual([])
    }).pipe(Effect.provide(testGateway({ config: keyedConfig() }))))

  it.scopedLive("a key that sends its session key back in the header stays in that session", () =>
    Effect.gen(function*() {
      const key = yield* say("hana", "one", APP)
      const again = yield* chat(userSays("two"), { token: APP, headers: { "x-clawdbot-session-key": key } })
      expect(again.headers.get("x-clawdbot-session-key")).toBe(key)
      yield* text(again)
      expect(yield* json(yield* send(path(key), { token: APP }))).toMatchObject({ turns: 2 })
    }).pipe(Effect.provide(testGateway({ config: keyedConfig() }))))
})

describe("reset triggers", () => {
  it.scopedLive("a message that is exactly /new or /reset starts the session over, in one line", () =>
    Effect.gen(function*() {
      const key = yield* say("ivy", "remember me")
      const answer = yield* completionBody(yield* chat(userSays(" /new ", { user: "ivy" })))
      expect(answer.choices[0]?.message.content).toBe(RESET_REPLY)
      expect(yield* json(yield* send(path(key)))).toMatchObject({ turns: 0, messages: [] })
      yield* say("ivy", "again")
      const streamed = yield* text(yield* chat(userSays("/reset", { user: "ivy", stream: true })))
      expect(streamed).toContain(RESET_REPLY.split(" ")[0])
      expect(streamed).toContain("[DONE]")
      expect(yield* json(yield* send(path(key)))).toMatchObject({ turns: 0 })
      // Not exactly a trigger: it reaches the model.
      const other = yield* completionBody(yield* chat(userSays("/new please", { user: "ivy" })))
      expect(other.choices[0]?.message.content).toBe("/new please")
    }).pipe(Effect.provide(testGateway({ config: keyedConfig() }))))

  it.scopedLive("an empty session.resetTriggers turns them off", () =>
    Effect.gen(function*() {
      const answer = yield* completionBody(yield* chat(userSays("/new", { user: "jo" })))
      expect(answer.choices[0]?.message.content).toBe("/new")
    }).pipe(Effect.provide(testGateway({
      config: { ...keyedConfig(), session: { ...baseConfig.session, resetTriggers: [] } }
    }))))
})

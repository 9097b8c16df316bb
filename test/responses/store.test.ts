/**
 * Stored responses: `previous_response_id` continues the session of a stored response (the model
 * sees the turns before), `GET` returns it, `DELETE` removes it, `store: false` keeps nothing, and
 * another caller (another API key, or the gateway's token) can neither read nor continue it; an API
 * key keeps its responses when its token is rotated. On SQLite, and on PostgreSQL.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as LiveRunner from "../../src/agent/LiveRunner.js"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { ScriptedModel } from "../fakes/ScriptedModel.js"
import { baseUrl, testGateway, TOKEN } from "../kit/gateway.js"
import { fetchJson } from "../kit/http.js"
import { field } from "../kit/json.js"
import { reloadableGateway } from "../reload/harness.js"
import { freshSchema } from "../replicas/pg.js"
import { lines } from "../sessions/harness.js"
import { byId, createJson, responsesConfig, streamEvents } from "./kit.js"

type KeyInput = NonNullable<NonNullable<NonNullable<ConfigInput["gateway"]>["auth"]>["keys"]>[number]

/** Two API keys, whose tokens are their ids, besides the gateway's token. */
const KEYS: ReadonlyArray<KeyInput> = [{ id: "alice", token: "alice" }, { id: "mallory", token: "mallory" }]

/** The config with these API keys (and the kit's gateway token). */
const withKeys = (config: ConfigInput, keys: ReadonlyArray<KeyInput> = KEYS): ConfigInput => ({
  ...config,
  gateway: { ...config.gateway, auth: { mode: "token", token: TOKEN, keys } }
})

/**
 * The gateway with the live runner on the scripted model, which answers `answer <n>` to its n-th
 * call; the keys `alice` and `mallory` are callers of their own, and so is the gateway's token.
 */
const storeGateway = (config: ConfigInput = withKeys(responsesConfig())) => {
  const model = ScriptedModel.layer({ answer: (call) => `answer ${call.number}` })
  const runner = LiveRunner.layerFromServices.pipe(Layer.provide(model))
  return Layer.merge(testGateway({ config, runner }), model)
}

const idOf = (json: unknown) => {
  const id = field(json, "id")
  if (typeof id !== "string") throw new Error(`no id in ${JSON.stringify(json)}`)
  return id
}

/** A chain of three turns, each continuing the one before, and what the model saw on each. */
const chain = Effect.gen(function*() {
  const model = yield* ScriptedModel
  const first = yield* createJson({ input: "my name is Ann" })
  const second = yield* createJson({ input: "what is my name?", previous_response_id: idOf(first.json) })
  expect(second.status).toBe(200)
  const third = yield* createJson({
    input: [{ role: "user", content: [{ type: "input_text", text: "and again?" }] }],
    previous_response_id: idOf(second.json)
  })
  const prompts = [yield* model.nextCall, yield* model.nextCall, yield* model.nextCall].map((call) =>
    lines(call.prompt)
  )
  expect(prompts[1]).toEqual(["user: my name is Ann", "assistant: answer 1", "user: what is my name?"])
  expect(prompts[2]).toEqual([
    "user: my name is Ann",
    "assistant: answer 1",
    "user: what is my name?",
    "assistant: answer 2",
    "user: and again?"
  ])
  // One session for the whole chain, named after its first response.
  const session = first.header("x-clawdbot-session-key")
  expect(session).toBe(`resp:${idOf(first.json)}`)
  expect([second.header("x-clawdbot-session-key"), third.header("x-clawdbot-session-key")]).toEqual([session, session])
  expect(field(third.json, "previous_response_id")).toBe(idOf(second.json))
  return { first, second, third }
})

describe("previous_response_id", () => {
  it.scopedLive("continues the response's session: the model sees every turn before", () =>
    chain.pipe(Effect.provide(storeGateway())))

  it.scopedLive("continues a response made in a user's session, on that session and agent", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel
      const first = yield* createJson({ model: "clawdbot:beta", input: "hi", user: "Ann" })
      const second = yield* createJson({
        model: "clawdbot:main",
        input: "again",
        previous_response_id: idOf(first.json)
      })
      expect(second.header("x-clawdbot-session-key")).toBe("agent:beta:openai-user:ann")
      yield* model.nextCall
      expect(lines((yield* model.nextCall).prompt)).toEqual(["user: hi", "assistant: answer 1", "user: again"])
    }).pipe(Effect.provide(storeGateway())))

  it.scopedLive("an id that was never stored: 404 previous_response_not_found", () =>
    Effect.gen(function*() {
      const answer = yield* createJson({ input: "hi", previous_response_id: "resp_nothere" })
      expect(answer.status).toBe(404)
      expect(field(answer.json, "error")).toMatchObject({
        code: "previous_response_not_found",
        param: "previous_response_id",
        type: "invalid_request_error"
      })
    }).pipe(Effect.provide(storeGateway())))

  it.scopedLive("another caller's response: 404 previous_response_not_found, GET and DELETE 404", () =>
    Effect.gen(function*() {
      const first = yield* createJson({ input: "secret plans" }, { token: "alice" })
      const id = idOf(first.json)
      const continued = yield* createJson({ input: "tell me", previous_response_id: id }, { token: "mallory" })
      expect(continued.status).toBe(404)
      expect(field(continued.json, "error", "code")).toBe("previous_response_not_found")
      expect((yield* byId("GET", id, { token: "mallory" })).status).toBe(404)
      expect((yield* byId("DELETE", id, { token: "mallory" })).status).toBe(404)
      // Still there for its owner.
      expect((yield* byId("GET", id, { token: "alice" })).json).toEqual(first.json)
    }).pipe(Effect.provide(storeGateway())))
})

describe("an API key's stored responses", () => {
  it.scopedLive("the key continues them in a session of its own; another key and the gateway's token get 404", () =>
    Effect.gen(function*() {
      const first = yield* createJson({ input: "my name is Ann" }, { token: "alice" })
      const id = idOf(first.json)
      const session = `key:alice:resp:${id}`
      expect(first.header("x-clawdbot-session-key")).toBe(session)
      const second = yield* createJson({ input: "who am I?", previous_response_id: id }, { token: "alice" })
      expect(second.status).toBe(200)
      expect(second.header("x-clawdbot-session-key")).toBe(session)
      // The session is the key's, in the sessions API as its Chat Completions sessions are.
      const listed = yield* fetchJson(yield* baseUrl, `/v1/sessions/${encodeURIComponent(session)}`, {
        token: "alice"
      })
      expect(field(listed.json, "turns")).toBe(2)
      for (const token of ["mallory", TOKEN]) {
        const continued = yield* createJson({ input: "tell me", previous_response_id: id }, { token })
        expect(field(continued.json, "error", "code")).toBe("previous_response_not_found")
        expect((yield* byId("GET", id, { token })).status).toBe(404)
        expect((yield* byId("DELETE", id, { token })).status).toBe(404)
      }
      expect((yield* byId("DELETE", id, { token: "alice" })).status).toBe(200)
    }).pipe(Effect.provide(storeGateway())))

  it.scopedLive("the gateway's token keeps its own: a key cannot read them", () =>
    Effect.gen(function*() {
      const id = idOf((yield* createJson({ input: "hi" })).json)
      expect((yield* byId("GET", id, { token: "alice" })).status).toBe(404)
      expect((yield* byId("GET", id)).status).toBe(200)
    }).pipe(Effect.provide(storeGateway())))

  it.scopedLive("a key keeps them when a reload rotates its token; its old token, now another key's, does not", () =>
    Effect.gen(function*() {
      const gateway = yield* reloadableGateway(withKeys(responsesConfig()))
      const created = yield* fetchJson(gateway.url, "/v1/responses", { token: "alice", body: { input: "hi" } })
      const id = idOf(created.json)
      const rotated = [{ id: "alice", token: "alice-2" }, { id: "mallory", token: "alice" }]
      expect(yield* gateway.reload(withKeys(responsesConfig(), rotated))).toBe("Config reloaded")
      const got = yield* fetchJson(gateway.url, `/v1/responses/${id}`, { token: "alice-2" })
      expect(got.json).toEqual(created.json)
      const continued = yield* fetchJson(gateway.url, "/v1/responses", {
        token: "alice-2",
        body: { input: "again", previous_response_id: id }
      })
      expect(continued.status).toBe(200)
      expect(continued.header("x-clawdbot-session-key")).toBe(`key:alice:resp:${id}`)
      // The old token is now another key's: that key does not get alice's response.
      expect((yield* fetchJson(gateway.url, `/v1/responses/${id}`, { token: "alice" })).status).toBe(404)
    }))
})

describe("a stored response", () => {
  it.scopedLive("GET returns it as it was answered; DELETE removes it, and it can no longer be continued", () =>
    Effect.gen(function*() {
      const created = yield* createJson({ input: "hi", metadata: { k: "v" } })
      const id = idOf(created.json)
      const got = yield* byId("GET", id)
      expect(got.status).toBe(200)
      expect(got.json).toEqual(created.json)
      const deleted = yield* byId("DELETE", id)
      expect(deleted.json).toEqual({ id, object: "response.deleted", deleted: true })
      const gone = yield* byId("GET", id)
      expect(gone.status).toBe(404)
      expect(field(gone.json, "error", "code")).toBe("response_not_found")
      expect((yield* byId("DELETE", id)).status).toBe(404)
      const continued = yield* createJson({ input: "again", previous_response_id: id })
      expect(field(continued.json, "error", "code")).toBe("previous_response_not_found")
    }).pipe(Effect.provide(storeGateway())))

  it.scopedLive("a streamed one is stored by the time response.completed arrives", () =>
    Effect.gen(function*() {
      const { events } = yield* streamEvents({ input: "hi" })
      const completed = events.at(-1)?.data
      const got = yield* byId("GET", idOf(field(completed, "response")))
      expect(got.json).toEqual(field(completed, "response"))
    }).pipe(Effect.provide(storeGateway())))

  it.scopedLive("store: false keeps nothing: no GET, no continuing", () =>
    Effect.gen(function*() {
      const created = yield* createJson({ input: "hi", store: false })
      const id = idOf(created.json)
      expect((yield* byId("GET", id)).status).toBe(404)
      const continued = yield* createJson({ input: "again", previous_response_id: id })
      expect(continued.status).toBe(404)
    }).pipe(Effect.provide(storeGateway())))

  it.scopedLive("with auth off, every caller is the same owner", () =>
    Effect.gen(function*() {
      const created = yield* createJson({ input: "hi" }, { token: null })
      expect((yield* byId("GET", idOf(created.json), { token: null })).status).toBe(200)
    }).pipe(Effect.provide(storeGateway(responsesConfig(undefined, {
      gateway: { auth: { mode: "none" }, http: responsesConfig().gateway?.http }
    })))))
})

describe("item_reference", () => {
  it.scopedLive("stands for the caller's stored output item; another caller's is left out", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel
      const first = yield* createJson({ input: "my name is Ann", store: true }, { token: "alice" })
      const itemId = field(first.json, "output", 0, "id")
      const input = [
        { role: "user", content: "my name is Ann" },
        { type: "item_reference", id: itemId },
        { role: "user", content: "who am I?" }
      ]
      yield* createJson({ input }, { token: "alice" })
      yield* createJson({ input }, { token: "mallory" })
      yield* model.nextCall
      expect(lines((yield* model.nextCall).prompt)).toEqual([
        "user: my name is Ann",
        "assistant: answer 1",
        "user: who am I?"
      ])
      expect(lines((yield* model.nextCall).prompt)).toEqual(["user: my name is Ann", "user: who am I?"])
    }).pipe(Effect.provide(storeGateway())))
})

describe("on PostgreSQL", () => {
  it.scopedLive("a chain continues, item references resolve, GET returns it, another caller cannot read it", () =>
    Effect.gen(function*() {
      const schema = yield* freshSchema
      const config = withKeys(responsesConfig(undefined, { session: { store: { kind: "postgres", url: schema.url } } }))
      yield* Effect.gen(function*() {
        const { first, third } = yield* chain
        const id = idOf(third.json)
        const model = yield* ScriptedModel
        yield* createJson({
          input: [{ type: "item_reference", id: field(first.json, "output", 0, "id") }, { role: "user", content: "hi" }]
        })
        expect(lines((yield* model.nextCall).prompt)).toEqual(["assistant: answer 1", "user: hi"])
        expect((yield* byId("GET", id)).json).toEqual(third.json)
        expect((yield* byId("GET", id, { token: "mallory" })).status).toBe(404)
        const rows = yield* schema.sql<{ readonly n: number }>`
          SELECT COUNT(*)::int AS n FROM ${schema.sql(schema.name)}.responses`.pipe(Effect.orDie)
        expect(rows[0]?.n).toBe(4)
      }).pipe(Effect.provide(storeGateway(config)))
    }))
})

/**
 * `GET /v1/models` and `GET /v1/models/{id}` over the real loopback server: the configured agents
 * as OpenAI models, behind the same enable flag, auth, agent names and method rules as chat
 * completions, and the official `openai` SDK's
 * `models.list()` / `models.retrieve()` against them.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { AuthenticationError, NotFoundError } from "openai"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { rejection, sdk } from "../kit/clients.js"
import { baseConfig, configWith, testGateway, TOKEN } from "../kit/gateway.js"
import { bodyAs, errorBody, send } from "../kit/http.js"
import { REQUEST_ID } from "../kit/wire.js"

const Model = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("model"),
  created: Schema.Int,
  owned_by: Schema.String
})
const ModelListBody = Schema.Struct({ object: Schema.Literal("list"), data: Schema.Array(Model) })

const modelBody = bodyAs(Model)
const listBody = bodyAs(ModelListBody)

/** Failed auth from loopback without the growing delay, and no lockout within a test. */
const auth = {
  ...baseConfig.gateway.auth,
  rateLimit: { maxAttempts: 1_000, exemptLoopback: false }
}

/** Three agents, one with an upper-case id in the file (ids are normalized). */
const threeAgents = configWith({
  gateway: { ...baseConfig.gateway, auth },
  agents: {
    list: [
      { id: "main", default: true, model: "echo" },
      { id: "beta", model: "echo" },
      { id: "Research-Bot", model: "echo" }
    ]
  }
})

const disabled = (extra: Partial<ConfigInput["gateway"]> = {}) =>
  configWith({
    gateway: { ...baseConfig.gateway, ...extra, http: { endpoints: { chatCompletions: { enabled: false } } } }
  })

const get = (path: string, options: { readonly token?: string | null } = {}) =>
  send(path, { ...options, method: "GET" })

const served = (config: ConfigInput = threeAgents) => Effect.provide(testGateway({ config }))

describe("GET /v1/models", () => {
  it.scopedLive("lists every configured agent as clawdbot:<id> and as its bare id, in the OpenAI list shape", () =>
    Effect.gen(function*() {
      const before = Math.floor(Date.now() / 1000)
      const response = yield* get("/v1/models")
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toContain("application/json")
      expect(response.headers.get("x-request-id")).toMatch(REQUEST_ID)
      const list = yield* listBody(response)
      expect(list.data.map((model) => model.id).sort()).toEqual(
        ["beta", "clawdbot:beta", "clawdbot:main", "clawdbot:research-bot", "main", "research-bot"]
      )
      for (const model of list.data) {
        expect(model.owned_by).toBe("clawgate")
        // A Unix time in seconds, not milliseconds, and not in the future.
        expect(model.created).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000))
        expect(model.created).toBeGreaterThan(before - 3_600)
      }
    }).pipe(served()))

  it.scopedLive("follows the configured agents (the harness's two agents give four models)", () =>
    Effect.gen(function*() {
      const list = yield* Effect.flatMap(get("/v1/models"), listBody)
      expect(list.data.map((model) => model.id).sort()).toEqual(["beta", "clawdbot:beta", "clawdbot:main", "main"])
    }).pipe(served(baseConfig)))

  it.scopedLive("answers 401 with WWW-Authenticate without the token or with a wrong one", () =>
    Effect.gen(function*() {
      for (const token of [null, "not-the-token"]) {
        const response = yield* get("/v1/models", { token })
        expect({ token, status: response.status }).toEqual({ token, status: 401 })
        expect(response.headers.get("www-authenticate")).toBe("Bearer")
        expect(response.headers.get("x-request-id")).toMatch(REQUEST_ID)
        const { error } = yield* errorBody(response)
        expect(error).toMatchObject({ message: "Unauthorized", type: "unauthorized" })
      }
    }).pipe(served()))

  it.scopedLive("answers 404 endpoint_disabled, token or not, when the endpoint is off", () =>
    Effect.gen(function*() {
      for (const path of ["/v1/models", "/v1/models/clawdbot:main"]) {
        for (const token of [TOKEN, null]) {
          const response = yield* get(path, { token })
          expect({ path, token, status: response.status }).toEqual({ path, token, status: 404 })
          const { error } = yield* errorBody(response)
          expect(error.code).toBe("endpoint_disabled")
          expect(error.message).toContain("gateway.http.endpoints.chatCompletions.enabled")
        }
      }
    }).pipe(served(disabled())))

  it.scopedLive("answers 405 with Allow: GET to other methods, before auth", () =>
    Effect.gen(function*() {
      for (const path of ["/v1/models", "/v1/models/clawdbot:main"]) {
        for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
          const response = yield* send(path, { method, token: null, body: {} })
          expect({ path, method, status: response.status }).toEqual({ path, method, status: 405 })
          expect(response.headers.get("allow")).toBe("GET")
          expect(response.headers.get("www-authenticate")).toBeNull()
          const { error } = yield* errorBody(response)
          expect(error.code).toBe("method_not_allowed")
        }
      }
    }).pipe(served()))
})

describe("GET /v1/models/{id}", () => {
  it.scopedLive("returns the model for every form that names an agent, with the id as asked", () =>
    Effect.gen(function*() {
      const forms = [
        "clawdbot:beta",
        "beta",
        "agent:beta",
        "openclaw:beta",
        // A slash inside the id travels percent-encoded, as the SDKs send it.
        "clawdbot/beta",
        "openclaw/beta",
        "clawdbot:research-bot",
        "research-bot",
        "agent:Research-Bot"
      ]
      for (const form of forms) {
        const response = yield* get(`/v1/models/${encodeURIComponent(form)}`)
        expect({ form, status: response.status }).toEqual({ form, status: 200 })
        const model = yield* modelBody(response)
        expect(model).toMatchObject({ id: form, object: "model", owned_by: "clawgate" })
      }
    }).pipe(served()))

  it.scopedLive("gives the same created time as the list", () =>
    Effect.gen(function*() {
      const list = yield* Effect.flatMap(get("/v1/models"), listBody)
      const one = yield* Effect.flatMap(get("/v1/models/clawdbot:main"), modelBody)
      expect(list.data.find((model) => model.id === "clawdbot:main")?.created).toBe(one.created)
    }).pipe(served()))

  it.scopedLive("answers 404 model_not_found naming the known agents for an unknown agent", () =>
    Effect.gen(function*() {
      // Percent signs are taken literally once the path is decoded (no second decoding, no 500).
      for (const form of ["clawdbot:nope", "nope", "agent:nope", "gpt-4o", "100%", "%62eta"]) {
        const response = yield* get(`/v1/models/${encodeURIComponent(form)}`)
        expect({ form, status: response.status }).toEqual({ form, status: 404 })
        expect(response.headers.get("x-request-id")).toMatch(REQUEST_ID)
        const { error } = yield* errorBody(response)
        expect(error.type).toBe("invalid_request_error")
        expect(error.code).toBe("model_not_found")
        expect(error.param).toBe("model")
        expect(error.message).toContain(form)
        for (const known of ["main", "beta", "research-bot"]) expect(error.message).toContain(known)
      }
    }).pipe(served()))

  it.scopedLive("answers 404 not_found, not 405, for a path with more segments than an id", () =>
    Effect.gen(function*() {
      for (const method of ["GET", "POST"]) {
        const response = yield* send("/v1/models/clawdbot/beta", { method, token: null })
        expect({ method, status: response.status }).toEqual({ method, status: 404 })
        expect(response.headers.get("allow")).toBeNull()
        const { error } = yield* errorBody(response)
        expect(error.code).toBe("not_found")
      }
    }).pipe(served()))

  it.scopedLive("answers 401 without the token, even for an agent that exists", () =>
    Effect.gen(function*() {
      const response = yield* get("/v1/models/clawdbot:main", { token: null })
      expect(response.status).toBe(401)
      expect(response.headers.get("www-authenticate")).toBe("Bearer")
      // An unknown agent is not revealed to a caller without the token either.
      const unknown = yield* get("/v1/models/clawdbot:nope", { token: null })
      expect(unknown.status).toBe(401)
    }).pipe(served()))
})

describe("openai SDK: models", () => {
  it.scopedLive("client.models.list() pages through every agent as a model", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      const ids = yield* Effect.promise(async () => {
        const seen: Array<string> = []
        for await (const model of client.models.list()) seen.push(model.id)
        return seen
      })
      expect(ids.sort()).toEqual(
        ["beta", "clawdbot:beta", "clawdbot:main", "clawdbot:research-bot", "main", "research-bot"]
      )
    }).pipe(served()))

  it.scopedLive("client.models.retrieve() returns the model, with its request id", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      for (const id of ["clawdbot:main", "beta", "agent:research-bot", "clawdbot/beta"]) {
        const model = yield* Effect.promise(() => client.models.retrieve(id))
        expect(model).toMatchObject({ id, object: "model", owned_by: "clawgate" })
        expect(model._request_id).toMatch(REQUEST_ID)
      }
    }).pipe(served()))

  it.scopedLive("client.models.retrieve() raises NotFoundError for an unknown agent, and a wrong key AuthenticationError", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      const missing = yield* rejection(() => client.models.retrieve("clawdbot:nope"))
      expect(missing).toBeInstanceOf(NotFoundError)
      if (missing instanceof NotFoundError) expect(missing.code).toBe("model_not_found")

      const wrong = yield* sdk("not-the-token")
      expect(yield* rejection(() => wrong.models.list())).toBeInstanceOf(AuthenticationError)
      expect(yield* rejection(() => wrong.models.retrieve("clawdbot:main"))).toBeInstanceOf(AuthenticationError)
    }).pipe(served()))
})

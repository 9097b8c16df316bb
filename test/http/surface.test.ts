/**
 * What the gateway answers outside the happy path of the one route: a disabled endpoint, other
 * methods, unknown paths, and the x-request-id on every answer.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { baseConfig, configWith, testGateway } from "../kit/gateway.js"
import { chat, errorBody, hello, PATH, send, text } from "../kit/http.js"

const disabledConfig = configWith({
  gateway: { ...baseConfig.gateway, http: { endpoints: { chatCompletions: { enabled: false } } } }
})

/** Disabled, with no secret at all: a gateway that is off needs none. */
const disabledNoAuthConfig = configWith({
  gateway: { http: { endpoints: { chatCompletions: { enabled: false } } } }
})

describe("a disabled endpoint", () => {
  it.scopedLive("a POST gets 404 with an OpenAI-style body saying how to enable it", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello())
      expect(response.status).toBe(404)
      expect(response.headers.get("content-type")).toContain("application/json")
      const { error } = yield* errorBody(response)
      expect(error.type).toBe("invalid_request_error")
      expect(error.message).toContain("gateway.http.endpoints.chatCompletions.enabled")
      expect(error.message.toLowerCase()).toContain("disabled")
    }).pipe(Effect.provide(testGateway({ config: disabledConfig }))))

  it.scopedLive("any method on the path gets the same 404, with or without a secret", () =>
    Effect.gen(function*() {
      for (const method of ["GET", "PUT", "DELETE", "PATCH", "POST"]) {
        for (const token of [null, "wrong"]) {
          const response = yield* send(PATH, { method, token })
          expect({ method, token, status: response.status }).toEqual({ method, token, status: 404 })
          const { error } = yield* errorBody(response)
          expect(error.message).toContain("gateway.http.endpoints.chatCompletions.enabled")
          expect(response.headers.get("x-request-id")).toMatch(/\S/)
        }
      }
    }).pipe(Effect.provide(testGateway({ config: disabledConfig }))))

  it.scopedLive("a gateway with the endpoint off and no secret configured starts and answers 404", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello(), { token: null })
      expect(response.status).toBe(404)
      const { error } = yield* errorBody(response)
      expect(error.message).toContain("enabled")
    }).pipe(Effect.provide(testGateway({ config: disabledNoAuthConfig }))))
})

describe("methods other than POST", () => {
  it.scopedLive("GET, PUT, DELETE and PATCH get 405 with Allow: POST, checked before auth", () =>
    Effect.gen(function*() {
      for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
        const response = yield* send(PATH, { method, token: null })
        expect({ method, status: response.status }).toEqual({ method, status: 405 })
        expect(response.headers.get("allow")).toBe("POST")
        expect(response.headers.get("www-authenticate")).toBeNull()
        const { error } = yield* errorBody(response)
        expect(error.type).toBe("invalid_request_error")
        expect(error.message).toContain("POST")
      }
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("a 405 is answered even with a wrong secret (no 401)", () =>
    Effect.gen(function*() {
      const response = yield* send(PATH, { method: "GET", token: "wrong" })
      expect(response.status).toBe(405)
      expect(response.headers.get("allow")).toBe("POST")
    }).pipe(Effect.provide(testGateway())))
})

describe("unknown paths", () => {
  it.scopedLive("get 404 with an OpenAI-style body naming the path", () =>
    Effect.gen(function*() {
      for (
        const [method, path] of [["GET", "/"], ["POST", "/v1/completions"], ["GET", "/v1/chat"], ["POST", "/nope"]]
      ) {
        const response = yield* send(path!, { method: method!, token: null })
        expect({ path, status: response.status }).toEqual({ path, status: 404 })
        expect(response.headers.get("content-type")).toContain("application/json")
        const { error } = yield* errorBody(response)
        expect(error.type).toBe("invalid_request_error")
        expect(error.message).toContain(path!)
      }
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("the query string is ignored when matching the endpoint's path", () =>
    Effect.gen(function*() {
      const response = yield* send(`${PATH}?api-version=2024-01-01`, { body: hello() })
      expect(response.status).toBe(200)
      expect(yield* text(response)).toContain("hello there")
    }).pipe(Effect.provide(testGateway())))
})

describe("the x-request-id header", () => {
  it.scopedLive("is on every answer: 200, 400, 401, 404, 405, 413, and differs per request", () =>
    Effect.gen(function*() {
      const responses = [
        yield* chat(hello()),
        yield* chat({ messages: [] }),
        yield* chat(hello(), { token: null }),
        yield* send("/unknown", { method: "GET" }),
        yield* send(PATH, { method: "GET" }),
        yield* chat(hello({ padding: "x".repeat(30_000) }))
      ]
      expect(responses.map((response) => response.status)).toEqual([200, 400, 401, 404, 405, 413])
      const ids = responses.map((response) => response.headers.get("x-request-id"))
      for (const id of ids) expect(id).toMatch(/^\S+$/)
      expect(new Set(ids).size).toBe(ids.length)
    }).pipe(
      Effect.provide(testGateway({
        config: configWith({
          gateway: {
            ...baseConfig.gateway,
            // Loopback failures are delayed when exempt; not what this test is about.
            auth: { ...baseConfig.gateway.auth, rateLimit: { exemptLoopback: false } },
            http: { endpoints: { chatCompletions: { enabled: true, maxBodyBytes: 10_000 } } }
          }
        })
      }))
    ))
})

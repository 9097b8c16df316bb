/**
 * `GET /healthz` and `GET /readyz` over loopback: alive and ready without
 * auth, ready only while the session store answers and the gateway is not draining; while it
 * drains, everything but the health routes is turned away with 503 `shutting_down`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import { Auth } from "../../src/access/Auth.js"
import { Drain } from "../../src/ops/Drain.js"
import { baseConfig, testGateway } from "../kit/gateway.js"
import { hello, json, send } from "../kit/http.js"
import { switchableStore } from "./harness.js"

describe("GET /healthz", () => {
  it.scopedLive("answers 200 {status: ok} as JSON, without credentials", () =>
    Effect.gen(function*() {
      const reply = yield* send("/healthz", { token: null })
      expect(reply.status).toBe(200)
      expect(reply.headers.get("content-type")).toMatch(/^application\/json/)
      expect(yield* json(reply)).toEqual({ status: "ok" })
      expect(reply.headers.get("x-request-id")).toMatch(/^req_/)
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("answers with a wrong token, and on a gateway that rejects every credential", () =>
    Effect.gen(function*() {
      // The same gateway turns the chat endpoint's callers away: auth is in force, just not here.
      const chat = yield* send("/v1/chat/completions", { method: "POST", body: hello() })
      expect(chat.status).toBe(401)
      const reply = yield* send("/healthz", { token: "wrong" })
      expect(reply.status).toBe(200)
      expect(yield* json(reply)).toEqual({ status: "ok" })
      const ready = yield* send("/readyz", { token: null })
      expect(ready.status).toBe(200)
    }).pipe(Effect.provide(testGateway({ auth: Auth.layerRejectAll }))))

  it.scopedLive("answers while the chat endpoint is disabled", () =>
    Effect.gen(function*() {
      const chat = yield* send("/v1/chat/completions", { method: "POST", body: hello() })
      expect(chat.status).not.toBe(200)
      const reply = yield* send("/healthz", { token: null })
      expect(reply.status).toBe(200)
      expect(yield* json(reply)).toEqual({ status: "ok" })
      const ready = yield* send("/readyz", { token: null })
      expect(ready.status).toBe(200)
      expect(yield* json(ready)).toEqual({ status: "ready" })
    }).pipe(Effect.provide(testGateway({
      config: {
        ...baseConfig,
        gateway: { ...baseConfig.gateway, http: { endpoints: { chatCompletions: { enabled: false } } } }
      }
    }))))

  it.scopedLive("other methods get 405 with Allow: GET, on both routes", () =>
    Effect.gen(function*() {
      for (const path of ["/healthz", "/readyz"]) {
        for (const method of ["POST", "PUT", "DELETE"]) {
          const reply = yield* send(path, { method, token: null })
          expect({ path, method, status: reply.status }).toEqual({ path, method, status: 405 })
          expect(reply.headers.get("allow")).toBe("GET")
          expect(yield* json(reply)).toMatchObject({ error: { type: expect.any(String) } })
        }
      }
    }).pipe(Effect.provide(testGateway())))
})

describe("GET /readyz", () => {
  it.scopedLive("answers 200 {status: ready} without credentials while the store answers", () =>
    Effect.gen(function*() {
      const reply = yield* send("/readyz", { token: null })
      expect(reply.status).toBe(200)
      expect(reply.headers.get("content-type")).toMatch(/^application\/json/)
      expect(yield* json(reply)).toEqual({ status: "ready" })
      expect(reply.headers.get("retry-after")).toBeNull()
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("answers 503 with Retry-After while the session store does not answer, and 200 again once it does", () =>
    Effect.gen(function*() {
      const up = yield* Ref.make(true)
      yield* Effect.gen(function*() {
        expect((yield* send("/readyz", { token: null })).status).toBe(200)

        yield* Ref.set(up, false)
        const down = yield* send("/readyz", { token: null })
        expect(down.status).toBe(503)
        expect(Number(down.headers.get("retry-after"))).toBeGreaterThan(0)
        expect(yield* json(down)).toEqual({ status: "unavailable", reason: expect.stringMatching(/session store/) })
        // Alive all the same: the process runs, it just cannot serve sessions.
        const alive = yield* send("/healthz", { token: null })
        expect(alive.status).toBe(200)

        yield* Ref.set(up, true)
        const back = yield* send("/readyz", { token: null })
        expect(back.status).toBe(200)
        expect(yield* json(back)).toEqual({ status: "ready" })
      }).pipe(Effect.provide(testGateway({ store: switchableStore(up) })))
    }))
})

describe("while draining", () => {
  it.scopedLive("readyz answers 503 draining with Retry-After; healthz still 200", () =>
    Effect.gen(function*() {
      const drain = yield* Drain
      expect((yield* send("/readyz", { token: null })).status).toBe(200)

      yield* drain.start
      const ready = yield* send("/readyz", { token: null })
      expect(ready.status).toBe(503)
      expect(Number(ready.headers.get("retry-after"))).toBeGreaterThan(0)
      expect(yield* json(ready)).toEqual({ status: "unavailable", reason: "draining" })
      const alive = yield* send("/healthz", { token: null })
      expect(alive.status).toBe(200)
      expect(yield* json(alive)).toEqual({ status: "ok" })
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("new requests get 503 shutting_down with Retry-After, answered before auth", () =>
    Effect.gen(function*() {
      const drain = yield* Drain
      const before = yield* send("/v1/chat/completions", { method: "POST", body: hello() })
      expect(before.status).toBe(200)

      yield* drain.start
      const cases = [
        { path: "/v1/chat/completions", method: "POST", body: hello() },
        { path: "/v1/chat/completions", method: "POST", body: hello({ stream: true }) },
        { path: "/v1/models", method: "GET", body: undefined },
        { path: "/v1/chat/completions", method: "POST", body: hello(), token: null }
      ]
      for (const { body, method, path, ...rest } of cases) {
        const reply = yield* send(path, { method, ...(body !== undefined && { body }), ...rest })
        expect({ path, status: reply.status }).toEqual({ path, status: 503 })
        expect(Number(reply.headers.get("retry-after"))).toBeGreaterThan(0)
        expect(reply.headers.get("x-request-id")).toMatch(/^req_/)
        expect(yield* json(reply)).toEqual({
          error: { message: expect.any(String), type: expect.any(String), param: null, code: "shutting_down" }
        })
      }
    }).pipe(Effect.provide(testGateway())))
})

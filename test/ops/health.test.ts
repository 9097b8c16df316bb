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
import { baseConfig } from "../support.js"
import { hello, opsGateway, request, switchableStore } from "./harness.js"

const json = (text: string): unknown => JSON.parse(text)

describe("GET /healthz", () => {
  it.scopedLive("answers 200 {status: ok} as JSON, without credentials", () =>
    Effect.gen(function*() {
      const reply = yield* request("/healthz", { token: null })
      expect(reply.status).toBe(200)
      expect(reply.headers.get("content-type")).toMatch(/^application\/json/)
      expect(json(reply.text)).toEqual({ status: "ok" })
      expect(reply.headers.get("x-request-id")).toMatch(/^req_/)
    }).pipe(Effect.provide(opsGateway())))

  it.scopedLive("answers with a wrong token, and on a gateway that rejects every credential", () =>
    Effect.gen(function*() {
      // The same gateway turns the chat endpoint's callers away: auth is in force, just not here.
      const chat = yield* request("/v1/chat/completions", { method: "POST", body: hello() })
      expect(chat.status).toBe(401)
      const reply = yield* request("/healthz", { token: "wrong" })
      expect(reply.status).toBe(200)
      expect(json(reply.text)).toEqual({ status: "ok" })
      const ready = yield* request("/readyz", { token: null })
      expect(ready.status).toBe(200)
    }).pipe(Effect.provide(opsGateway({ auth: Auth.layerRejectAll }))))

  it.scopedLive("answers while the chat endpoint is disabled", () =>
    Effect.gen(function*() {
      const chat = yield* request("/v1/chat/completions", { method: "POST", body: hello() })
      expect(chat.status).not.toBe(200)
      const reply = yield* request("/healthz", { token: null })
      expect(reply.status).toBe(200)
      expect(json(reply.text)).toEqual({ status: "ok" })
      const ready = yield* request("/readyz", { token: null })
      expect(ready.status).toBe(200)
      expect(json(ready.text)).toEqual({ status: "ready" })
    }).pipe(Effect.provide(opsGateway({
      config: {
        ...baseConfig,
        gateway: { ...baseConfig.gateway, http: { endpoints: { chatCompletions: { enabled: false } } } }
      }
    }))))

  it.scopedLive("other methods get 405 with Allow: GET, on both routes", () =>
    Effect.gen(function*() {
      for (const path of ["/healthz", "/readyz"]) {
        for (const method of ["POST", "PUT", "DELETE"]) {
          const reply = yield* request(path, { method, token: null })
          expect({ path, method, status: reply.status }).toEqual({ path, method, status: 405 })
          expect(reply.headers.get("allow")).toBe("GET")
          expect(json(reply.text)).toMatchObject({ error: { type: expect.any(String) } })
        }
      }
    }).pipe(Effect.provide(opsGateway())))
})

describe("GET /readyz", () => {
  it.scopedLive("answers 200 {status: ready} without credentials while the store answers", () =>
    Effect.gen(function*() {
      const reply = yield* request("/readyz", { token: null })
      expect(reply.status).toBe(200)
      expect(reply.headers.get("content-type")).toMatch(/^application\/json/)
      expect(json(reply.text)).toEqual({ status: "ready" })
      expect(reply.headers.get("retry-after")).toBeNull()
    }).pipe(Effect.provide(opsGateway())))

  it.scopedLive("answers 503 with Retry-After while the session store does not answer, and 200 again once it does", () =>
    Effect.gen(function*() {
      const up = yield* Ref.make(true)
      yield* Effect.gen(function*() {
        expect((yield* request("/readyz", { token: null })).status).toBe(200)

        yield* Ref.set(up, false)
        const down = yield* request("/readyz", { token: null })
        expect(down.status).toBe(503)
        expect(Number(down.headers.get("retry-after"))).toBeGreaterThan(0)
        expect(json(down.text)).toEqual({ status: "unavailable", reason: expect.stringMatching(/session store/) })
        // Alive all the same: the process runs, it just cannot serve sessions.
        const alive = yield* request("/healthz", { token: null })
        expect(alive.status).toBe(200)

        yield* Ref.set(up, true)
        const back = yield* request("/readyz", { token: null })
        expect(back.status).toBe(200)
        expect(json(back.text)).toEqual({ status: "ready" })
      }).pipe(Effect.provide(opsGateway({ store: switchableStore(up) })))
    }))
})

describe("while draining", () => {
  it.scopedLive("readyz answers 503 draining with Retry-After; healthz still 200", () =>
    Effect.gen(function*() {
      const drain = yield* Drain
      expect((yield* request("/readyz", { token: null })).status).toBe(200)

      yield* drain.start
      const ready = yield* request("/readyz", { token: null })
      expect(ready.status).toBe(503)
      expect(Number(ready.headers.get("retry-after"))).toBeGreaterThan(0)
      expect(json(ready.text)).toEqual({ status: "unavailable", reason: "draining" })
      const alive = yield* request("/healthz", { token: null })
      expect(alive.status).toBe(200)
      expect(json(alive.text)).toEqual({ status: "ok" })
    }).pipe(Effect.provide(opsGateway())))

  it.scopedLive("new requests get 503 shutting_down with Retry-After, answered before auth", () =>
    Effect.gen(function*() {
      const drain = yield* Drain
      const before = yield* request("/v1/chat/completions", { method: "POST", body: hello() })
      expect(before.status).toBe(200)

      yield* drain.start
      const cases = [
        { path: "/v1/chat/completions", method: "POST", body: hello() },
        { path: "/v1/chat/completions", method: "POST", body: hello({ stream: true }) },
        { path: "/v1/models", method: "GET", body: undefined },
        { path: "/v1/chat/completions", method: "POST", body: hello(), token: null }
      ]
      for (const { body, method, path, ...rest } of cases) {
        const reply = yield* request(path, { method, ...(body !== undefined && { body }), ...rest })
        expect({ path, status: reply.status }).toEqual({ path, status: 503 })
        expect(Number(reply.headers.get("retry-after"))).toBeGreaterThan(0)
        expect(reply.headers.get("x-request-id")).toMatch(/^req_/)
        expect(json(reply.text)).toEqual({
          error: { message: expect.any(String), type: expect.any(String), param: null, code: "shutting_down" }
        })
      }
    }).pipe(Effect.provide(opsGateway())))
})

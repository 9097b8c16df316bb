/**
 * The bearer check, the password mode, the failed-auth limiter per client IP,
 * and X-Forwarded-For trusted only from `gateway.trustedProxies`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { baseConfig, configWith, testGateway, TOKEN } from "../kit/gateway.js"
import { chat, completionBody, errorBody, hello } from "../kit/http.js"

type RateLimitInput = NonNullable<NonNullable<NonNullable<ConfigInput["gateway"]>["auth"]>["rateLimit"]>

/** Token auth with the given limiter settings and trusted proxies. */
const authConfig = (rateLimit: RateLimitInput, trustedProxies: ReadonlyArray<string> = []) =>
  configWith({
    gateway: {
      ...baseConfig.gateway,
      auth: { mode: "token", token: TOKEN, rateLimit },
      trustedProxies
    }
  })

/** No lockout within a test, and no delay for loopback failures. */
const lenient = authConfig({ exemptLoopback: false, maxAttempts: 1000 })

const expectUnauthorized = (response: Response) =>
  Effect.gen(function*() {
    expect(response.status).toBe(401)
    expect(response.headers.get("www-authenticate")).toBe("Bearer")
    const body = yield* errorBody(response)
    expect(body.error).toMatchObject({ message: "Unauthorized", type: "unauthorized" })
  })

const expectRateLimited = (response: Response) =>
  Effect.gen(function*() {
    expect(response.status).toBe(429)
    const retryAfter = Number(response.headers.get("retry-after"))
    expect(retryAfter).toBeGreaterThan(0)
    const body = yield* errorBody(response)
    expect(body.error.type).toBe("rate_limited")
    return retryAfter
  })

const expectAnswered = (response: Response) =>
  Effect.gen(function*() {
    expect(response.status).toBe(200)
    const body = yield* completionBody(response)
    expect(body.choices[0]?.message.content).toBe("hello there")
  })

describe("the bearer secret", () => {
  it.scopedLive("a missing Authorization header gets 401 Unauthorized with WWW-Authenticate: Bearer", () =>
    chat(hello(), { token: null }).pipe(
      Effect.flatMap(expectUnauthorized),
      Effect.provide(testGateway({ config: lenient }))
    ))

  it.scopedLive("a wrong secret gets the same 401", () =>
    Effect.gen(function*() {
      for (const token of ["wrong", `${TOKEN}x`, TOKEN.slice(0, -1), ""]) {
        yield* expectUnauthorized(yield* chat(hello(), { token }))
      }
    }).pipe(Effect.provide(testGateway({ config: lenient }))))

  it.scopedLive("a header that is not a bearer gets 401", () =>
    Effect.gen(function*() {
      for (const authorization of [TOKEN, `Basic ${TOKEN}`, `Bearer`, `Token ${TOKEN}`]) {
        yield* expectUnauthorized(yield* chat(hello(), { headers: { authorization } }))
      }
    }).pipe(Effect.provide(testGateway({ config: lenient }))))

  it.scopedLive("the right secret is answered; the prefix is case-insensitive and the value trimmed", () =>
    Effect.gen(function*() {
      for (const authorization of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER ${TOKEN}`, `bEaReR   ${TOKEN}  `]) {
        yield* expectAnswered(yield* chat(hello(), { headers: { authorization } }))
      }
    }).pipe(Effect.provide(testGateway({ config: lenient }))))

  it.scopedLive("password mode checks the password", () =>
    Effect.gen(function*() {
      yield* expectAnswered(yield* chat(hello(), { token: "hunter2-pass" }))
      yield* expectUnauthorized(yield* chat(hello(), { token: "hunter3-pass" }))
      yield* expectUnauthorized(yield* chat(hello(), { token: null }))
    }).pipe(Effect.provide(testGateway({
      config: configWith({
        gateway: {
          ...baseConfig.gateway,
          auth: { mode: "password", password: "hunter2-pass", rateLimit: { exemptLoopback: false } }
        }
      })
    }))))
})

describe("the failed-auth limiter", () => {
  it.scopedLive("maxAttempts failures get 401; the next attempt gets 429 rate_limited with Retry-After", () =>
    Effect.gen(function*() {
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong-1" }))
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong-2" }))
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong-3" }))
      const retryAfter = yield* expectRateLimited(yield* chat(hello(), { token: "wrong-4" }))
      // lockoutMs 120000: the client is told to come back in about two minutes.
      expect(retryAfter).toBeGreaterThan(100)
      expect(retryAfter).toBeLessThanOrEqual(120)
    }).pipe(Effect.provide(testGateway({
      config: authConfig({ exemptLoopback: false, maxAttempts: 3, lockoutMs: 120_000 })
    }))))

  it.scopedLive("a locked client is refused even with the right secret, or none", () =>
    Effect.gen(function*() {
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong" }))
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong" }))
      yield* expectRateLimited(yield* chat(hello(), { token: "wrong" }))
      yield* expectRateLimited(yield* chat(hello()))
      yield* expectRateLimited(yield* chat(hello(), { token: null }))
    }).pipe(Effect.provide(testGateway({ config: authConfig({ exemptLoopback: false, maxAttempts: 2 }) }))))

  it.scopedLive("a success resets the count of failures", () =>
    Effect.gen(function*() {
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong" }))
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong" }))
      yield* expectAnswered(yield* chat(hello()))
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong" }))
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong" }))
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong" }))
      yield* expectRateLimited(yield* chat(hello(), { token: "wrong" }))
    }).pipe(Effect.provide(testGateway({ config: authConfig({ exemptLoopback: false, maxAttempts: 3 }) }))))

  it.scopedLive("loopback clients are not locked out when exemptLoopback is on", () =>
    Effect.gen(function*() {
      // Each loopback failure is delayed (250 ms, then 500 ms) instead of counted towards a lockout.
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong" }))
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong" }))
      yield* expectAnswered(yield* chat(hello()))
    }).pipe(Effect.provide(testGateway({ config: authConfig({ exemptLoopback: true, maxAttempts: 1 }) }))))
})

describe("X-Forwarded-For from proxies", () => {
  const forwarded = (ip: string) => ({ "x-forwarded-for": ip })

  it.scopedLive("from a trusted proxy, each forwarded client is limited on its own", () =>
    Effect.gen(function*() {
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong", headers: forwarded("203.0.113.7") }))
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong", headers: forwarded("203.0.113.7") }))
      // 203.0.113.7 is locked, right secret or not ...
      yield* expectRateLimited(yield* chat(hello(), { headers: forwarded("203.0.113.7") }))
      // ... while another client behind the same proxy is not.
      yield* expectAnswered(yield* chat(hello(), { headers: forwarded("203.0.113.8") }))
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong", headers: forwarded("203.0.113.8") }))
      // The proxy itself (no header) has no failures of its own.
      yield* expectAnswered(yield* chat(hello()))
      // A chain: the client is the rightmost hop that is not a trusted proxy.
      yield* expectRateLimited(yield* chat(hello(), { headers: forwarded("198.51.100.1, 203.0.113.7") }))
    }).pipe(Effect.provide(testGateway({
      config: authConfig({ exemptLoopback: false, maxAttempts: 2 }, ["127.0.0.1", "::1"])
    }))))

  it.scopedLive("from an untrusted peer, the header is ignored: every claimed address is the peer", () =>
    Effect.gen(function*() {
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong", headers: forwarded("203.0.113.7") }))
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong", headers: forwarded("203.0.113.8") }))
      yield* expectRateLimited(yield* chat(hello(), { headers: forwarded("203.0.113.9") }))
      yield* expectRateLimited(yield* chat(hello()))
    }).pipe(Effect.provide(testGateway({
      config: authConfig({ exemptLoopback: false, maxAttempts: 2 }, ["10.1.2.3"])
    }))))

  it.scopedLive("a trusted proxy cannot launder a loopback address into the exemption", () =>
    Effect.gen(function*() {
      // The forwarded client is not loopback, so it is counted and locked even though the peer is.
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong", headers: forwarded("203.0.113.7") }))
      yield* expectUnauthorized(yield* chat(hello(), { token: "wrong", headers: forwarded("203.0.113.7") }))
      yield* expectRateLimited(yield* chat(hello(), { headers: forwarded("203.0.113.7") }))
    }).pipe(Effect.provide(testGateway({
      config: authConfig({ exemptLoopback: true, maxAttempts: 2 }, ["127.0.0.1", "::1"])
    }))))
})

/**
 * Auth alone, on the TestClock: the bearer check and the failed-auth limiter per client IP.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { Auth, MAX_TRACKED_CLIENTS } from "../../src/access/Auth.js"
import { type ConfigInput } from "../../src/config/ConfigFile.js"
import { decode } from "../../src/config/Load.js"

type AuthInput = NonNullable<NonNullable<ConfigInput["gateway"]>["auth"]>

/** An Auth service from the `gateway.auth` section of a config. */
const makeAuth = (auth: AuthInput) =>
  Auth.make(
    Either.getOrThrowWith(
      decode({ gateway: { auth } }, { token: Option.none(), password: Option.none() }),
      (problems) => new Error(problems.join("\n"))
    ).settings.auth
  )

const SECRET = "s3cret-token"
const REMOTE = "203.0.113.5"

const bearer = (value: string) => Option.some(`Bearer ${value}`)

/** The outcome of one check, as the tag of its error or "ok". */
const outcome = (auth: Auth["Type"], authorization: Option.Option<string>, clientIp = REMOTE) =>
  auth.check({ authorization, clientIp }).pipe(
    Effect.match({ onFailure: (error) => error._tag, onSuccess: () => "ok" as const })
  )

describe("Auth bearer check", () => {
  it.effect("the right token passes; a wrong, missing or non-bearer one is Unauthorized", () =>
    Effect.gen(function*() {
      const auth = makeAuth({ mode: "token", token: SECRET })
      expect(yield* outcome(auth, bearer(SECRET))).toBe("ok")
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer(`${SECRET}x`))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer(SECRET.slice(0, -1)))).toBe("Unauthorized")
      expect(yield* outcome(auth, Option.none())).toBe("Unauthorized")
      expect(yield* outcome(auth, Option.some(SECRET))).toBe("Unauthorized")
      expect(yield* outcome(auth, Option.some(`Basic ${SECRET}`))).toBe("Unauthorized")
      expect(yield* outcome(auth, Option.some("Bearer "))).toBe("Unauthorized")
    }))

  it.effect("the Bearer prefix is case-insensitive and surrounding spaces are trimmed", () =>
    Effect.gen(function*() {
      const auth = makeAuth({ mode: "token", token: SECRET })
      for (const header of [`bearer ${SECRET}`, `BEARER ${SECRET}`, `BeArEr   ${SECRET}  `, `  Bearer ${SECRET}`]) {
        expect(yield* outcome(auth, Option.some(header))).toBe("ok")
      }
      // The secret itself is compared exactly.
      expect(yield* outcome(auth, bearer(SECRET.toUpperCase()))).toBe("Unauthorized")
    }))

  it.effect("password mode checks the password, not the token", () =>
    Effect.gen(function*() {
      const auth = makeAuth({ mode: "password", token: "the-token", password: "the-password" })
      expect(yield* outcome(auth, bearer("the-password"))).toBe("ok")
      expect(yield* outcome(auth, bearer("the-token"))).toBe("Unauthorized")
    }))

  it.effect("mode none lets every request in", () =>
    Effect.gen(function*() {
      const auth = makeAuth({ mode: "none", token: SECRET })
      expect(yield* outcome(auth, Option.none())).toBe("ok")
      expect(yield* outcome(auth, bearer("anything"))).toBe("ok")
    }))
})

describe("Auth failed-auth limiter (remote clients)", () => {
  const limited = {
    mode: "token",
    token: SECRET,
    rateLimit: { maxAttempts: 3, windowMs: 10_000, lockoutMs: 60_000 }
  } as const

  it.effect("maxAttempts failures are answered 401; the next attempt is 429 for lockoutMs, even with the right secret", () =>
    Effect.gen(function*() {
      const auth = makeAuth(limited)
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      const locked = yield* Effect.flip(auth.check({ authorization: bearer(SECRET), clientIp: REMOTE }))
      expect(locked).toMatchObject({ _tag: "AuthRateLimited", retryAfterSeconds: 60 })

      yield* TestClock.adjust("20 seconds")
      const later = yield* Effect.flip(auth.check({ authorization: bearer(SECRET), clientIp: REMOTE }))
      expect(later).toMatchObject({ _tag: "AuthRateLimited", retryAfterSeconds: 40 })
      // Another client is not affected.
      expect(yield* outcome(auth, bearer(SECRET), "198.51.100.9")).toBe("ok")

      yield* TestClock.adjust("39999 millis")
      const lastMoment = yield* Effect.flip(auth.check({ authorization: bearer(SECRET), clientIp: REMOTE }))
      expect(lastMoment).toMatchObject({ _tag: "AuthRateLimited", retryAfterSeconds: 1 })

      yield* TestClock.adjust("1 millis")
      expect(yield* outcome(auth, bearer(SECRET))).toBe("ok")
    }))

  it.effect("the defaults answer 10 failures with 401, then lock for 300 s", () =>
    Effect.gen(function*() {
      const auth = makeAuth({ mode: "token", token: SECRET })
      for (let attempt = 1; attempt <= 10; attempt++) {
        expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      }
      const locked = yield* Effect.flip(auth.check({ authorization: bearer("wrong"), clientIp: REMOTE }))
      expect(locked).toMatchObject({ _tag: "AuthRateLimited", retryAfterSeconds: 300 })
      yield* TestClock.adjust("299 seconds")
      expect(yield* outcome(auth, bearer(SECRET))).toBe("AuthRateLimited")
      yield* TestClock.adjust("1 seconds")
      expect(yield* outcome(auth, bearer(SECRET))).toBe("ok")
    }))

  it.effect("failures older than the window do not count", () =>
    Effect.gen(function*() {
      const auth = makeAuth(limited)
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      yield* TestClock.adjust("10 seconds")
      // A new window: the two failures before it no longer count, so two more lock nothing.
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer(SECRET))).toBe("ok")
    }))

  it.effect("a third failure in the same window locks", () =>
    Effect.gen(function*() {
      const auth = makeAuth(limited)
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      yield* TestClock.adjust("9999 millis")
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer(SECRET))).toBe("AuthRateLimited")
    }))

  it.effect("a success resets the count", () =>
    Effect.gen(function*() {
      const auth = makeAuth(limited)
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer(SECRET))).toBe("ok")
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer("wrong"))).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer("wrong"))).toBe("AuthRateLimited")
    }))

  it.effect("with exemptLoopback false, loopback clients are locked like others", () =>
    Effect.gen(function*() {
      const auth = makeAuth({ ...limited, rateLimit: { ...limited.rateLimit, exemptLoopback: false } })
      expect(yield* outcome(auth, bearer("wrong"), "127.0.0.1")).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer("wrong"), "127.0.0.1")).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer("wrong"), "127.0.0.1")).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer(SECRET), "127.0.0.1")).toBe("AuthRateLimited")
    }))
})

describe("Auth failed-auth limiter with many clients", () => {
  const oneStrike = {
    mode: "token",
    token: SECRET,
    rateLimit: { maxAttempts: 1, windowMs: 10_000, lockoutMs: 60_000 }
  } as const

  /** The address of the n-th of many clients (IPv6, as an attacker with a /64 has them). */
  const client = (n: number) => `2001:db8::${n.toString(16)}`

  /** Fills the failed-auth table: every client fails once. */
  const failFromEveryClient = (auth: Auth["Type"]) =>
    Effect.forEach(
      Array.from({ length: MAX_TRACKED_CLIENTS }, (_, n) => client(n)),
      (ip) => outcome(auth, bearer("wrong"), ip),
      {
        discard: true
      }
    )

  it.effect("a locked client stays locked until its lockout ends, however many other clients fail", () =>
    Effect.gen(function*() {
      const auth = makeAuth(oneStrike)
      yield* failFromEveryClient(auth)
      // One client more fails.
      yield* outcome(auth, bearer("wrong"), REMOTE)
      // The first client to be locked is still locked, right secret or not ...
      expect(yield* outcome(auth, bearer(SECRET), client(0))).toBe("AuthRateLimited")
      yield* TestClock.adjust("60 seconds")
      // ... until its lockout ends.
      expect(yield* outcome(auth, bearer(SECRET), client(0))).toBe("ok")
    }))

  it.effect("with the table full of locked clients, an unseen client's wrong secret gets 429 until a lockout ends; its right secret passes", () =>
    Effect.gen(function*() {
      const auth = makeAuth(oneStrike)
      yield* failFromEveryClient(auth)
      yield* TestClock.adjust("20 seconds")
      const refused = yield* Effect.flip(auth.check({ authorization: bearer("wrong"), clientIp: REMOTE }))
      expect(refused._tag).toBe("AuthRateLimited")
      expect(refused).toMatchObject({ retryAfterSeconds: 40 })
      expect(yield* outcome(auth, bearer(SECRET), REMOTE)).toBe("ok")
      yield* TestClock.adjust("40 seconds")
      // The lockouts have ended: the unseen client is counted again, and its failure answered 401.
      expect(yield* outcome(auth, bearer("wrong"), REMOTE)).toBe("Unauthorized")
    }))

  it.effect("clients still counting failures give way to new ones when the table is full", () =>
    Effect.gen(function*() {
      const auth = makeAuth({ ...oneStrike, rateLimit: { ...oneStrike.rateLimit, maxAttempts: 2 } })
      yield* failFromEveryClient(auth)
      expect(yield* outcome(auth, bearer("wrong"), REMOTE)).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer("wrong"), REMOTE)).toBe("Unauthorized")
      expect(yield* outcome(auth, bearer(SECRET), REMOTE)).toBe("AuthRateLimited")
    }))
})

describe("Auth failed-auth limiter (loopback clients)", () => {
  const limited = {
    mode: "token",
    token: SECRET,
    rateLimit: { maxAttempts: 3, windowMs: 60_000, lockoutMs: 60_000 }
  } as const

  /** A failing check from `clientIp` is still running after `delayMs - 1` and done at `delayMs`. */
  const expectDelayedFailure = (auth: Auth["Type"], clientIp: string, delayMs: number) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(auth.check({ authorization: bearer("wrong"), clientIp }))
      yield* TestClock.adjust(delayMs - 1)
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust(1)
      expect(Option.isSome(yield* Fiber.poll(fiber))).toBe(true)
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error._tag).toBe("Unauthorized")
    })

  it.effect("each failure is delayed 250 ms, doubling, at most 5 s, and never locked out", () =>
    Effect.gen(function*() {
      const auth = makeAuth(limited)
      for (const delayMs of [250, 500, 1000, 2000, 4000, 5000, 5000]) {
        yield* expectDelayedFailure(auth, "127.0.0.1", delayMs)
      }
      // Seven failures, more than maxAttempts: still not locked, and the right secret passes at once.
      const fiber = yield* Effect.fork(outcome(auth, bearer(SECRET), "127.0.0.1"))
      yield* TestClock.adjust(0)
      expect(yield* Fiber.poll(fiber)).toEqual(Option.some(Exit.succeed("ok")))
    }))

  it.effect("IPv6 and mapped loopback peers are exempt too; a success resets the delay", () =>
    Effect.gen(function*() {
      const auth = makeAuth(limited)
      yield* expectDelayedFailure(auth, "::1", 250)
      yield* expectDelayedFailure(auth, "::1", 500)
      yield* expectDelayedFailure(auth, "::1", 1000)
      yield* expectDelayedFailure(auth, "::1", 2000)
      expect(yield* outcome(auth, bearer(SECRET), "::1")).toBe("ok")
      yield* expectDelayedFailure(auth, "::1", 250)
      yield* expectDelayedFailure(auth, "::ffff:127.0.0.1", 250)
    }))

  it.effect("a remote client's failure is answered at once (no delay)", () =>
    Effect.gen(function*() {
      const auth = makeAuth(limited)
      const fiber = yield* Effect.fork(auth.check({ authorization: bearer("wrong"), clientIp: REMOTE }))
      yield* TestClock.adjust(0)
      const done = yield* Fiber.poll(fiber)
      expect(Option.map(done, Exit.isFailure)).toEqual(Option.some(true))
    }))
})

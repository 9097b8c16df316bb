/**
 * Auth: the bearer secret check (the gateway's secret, or one of its API keys, each with its own
 * per-minute limits), and the failed-auth limiter per client IP.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { Config } from "../config/Config.js"
import type { ApiKey } from "../config/ConfigFile.js"
import { type Settings } from "../config/Settings.js"
import { type Caller, gateway } from "../domain/Caller.js"
import { AuthRateLimited, KeyRateLimited, Unauthorized } from "../domain/Errors.js"
import * as Metrics from "../ops/Metrics.js"
import * as Telemetry from "../ops/Telemetry.js"
import * as Bearer from "./Bearer.js"
import { isLoopback } from "./ClientIp.js"
import * as Owner from "./Owner.js"

export interface AuthRequest {
  /** The `Authorization` header, if sent. */
  readonly authorization: Option.Option<string>
  readonly clientIp: string
}

/**
 * The most clients the failed-auth table holds. When it is full, entries whose window and lockout
 * have passed are dropped, then clients still counting failures (oldest first). A locked client is
 * never dropped: when every entry is locked (an attacker with many addresses, easy with IPv6), a
 * client not in the table is not counted, and its wrong secret is answered 429 until the first
 * lockout ends, so the attacker's guesses stay bounded; its right secret still passes.
 */
export const MAX_TRACKED_CLIENTS = 10_000
/** Loopback clients are never locked out; each failure waits instead, doubling up to this. */
const LOOPBACK_DELAY_MS = { first: 250, max: 5_000 }

interface Failures {
  count: number
  windowStart: number
  lockedUntil: number
}

/** Refilled continuously, at the limit's rate, up to its capacity. */
interface Bucket {
  level: number
  at: number
}

/**
 * The per-minute limits of one API key, as two buckets: requests admitted, tokens used. Requests
 * are spread over the minute as OpenAI quantizes its own limits: a second's share at once (at
 * least one request), so a key cannot spend its minute in one burst. Tokens are counted over the
 * whole minute, a run's size being unknown until it ends.
 */
const keyLimiter = (key: ApiKey) => {
  const { requestsPerMinute, tokensPerMinute } = key.rateLimit
  const requestBurst = Math.max(1, (requestsPerMinute ?? 0) / 60)
  const requests: Bucket = { level: requestBurst, at: 0 }
  const tokens: Bucket = { level: tokensPerMinute ?? 0, at: 0 }
  const refill = (bucket: Bucket, perMinute: number, capacity: number, now: number) => {
    bucket.level = Math.min(capacity, bucket.level + ((now - bucket.at) * perMinute) / 60_000)
    bucket.at = now
  }
  /** Milliseconds until the bucket holds `needed`. */
  const wait = (bucket: Bucket, perMinute: number, needed: number) =>
    Math.max(1, Math.ceil(((needed - bucket.level) * 60_000) / perMinute))
  return {
    /** Admits a request, or says why not and for how long. */
    admit: (now: number): KeyRateLimited | undefined => {
      if (tokensPerMinute !== undefined) {
        refill(tokens, tokensPerMinute, tokensPerMinute, now)
        // Tokens are known once a run has ended: a key in debt waits until it is paid off.
        if (tokens.level <= 0) {
          return new KeyRateLimited({
            keyId: key.id,
            limit: "tokens",
            retryAfterMs: wait(tokens, tokensPerMinute, 0)
          })
        }
      }
      if (requestsPerMinute !== undefined) {
        refill(requests, requestsPerMinute, requestBurst, now)
        if (requests.level < 1) {
          return new KeyRateLimited({
            keyId: key.id,
            limit: "requests",
            retryAfterMs: wait(requests, requestsPerMinute, 1)
          })
        }
        requests.level -= 1
      }
      return undefined
    },
    spend: (used: number) => {
      if (tokensPerMinute !== undefined) tokens.level -= used
    }
  }
}

/** The one check of the gateway's secret, without keys. */
const gatewayOnly = (caller: Caller, secret: Redacted.Redacted<string>) => {
  const carries = Bearer.matcher(secret)
  return (authorization: string | undefined): Caller | undefined => carries(authorization) ? caller : undefined
}

export class Auth extends Context.Tag("clawgate/Auth")<Auth, {
  /** Who the request is from, if its secret is the gateway's or one of its API keys'. */
  readonly check: (request: AuthRequest) => Effect.Effect<Caller, Unauthorized | AuthRateLimited | KeyRateLimited>
}>() {
  static readonly make = (settings: Settings["auth"]) => {
    const { keys, secret } = settings
    if (Option.isNone(secret) && keys.length === 0) return Auth.of({ check: () => Effect.succeed(gateway) })
    const limiters = new Map<string, ReturnType<typeof keyLimiter>>()
    const keyed = keys.map((key) => {
      const limiter = keyLimiter(key)
      limiters.set(key.id, limiter)
      const caller: Caller = { keyId: key.id, owner: Owner.ofKey(key.id), agents: key.agents, spend: limiter.spend }
      return [caller, key.token] as const
    })
    const own = Option.map(secret, (value) => [{ ...gateway, owner: Owner.ofSecret(value) }, value] as const)
    /** The caller a header's secret names, if any. */
    const identify = (keys.length === 0 && Option.isSome(own))
      ? gatewayOnly(...own.value)
      : Bearer.identifier<Caller>([...Option.toArray(own), ...keyed])
    const { exemptLoopback, lockoutMs, maxAttempts, windowMs } = settings.rateLimit
    const clients = new Map<string, Failures>()

    /**
     * Makes room for one more client (see MAX_TRACKED_CLIENTS). None when every entry is locked:
     * then the time the first lockout ends.
     */
    const makeRoom = (now: number): Option.Option<number> => {
      if (clients.size < MAX_TRACKED_CLIENTS) return Option.none()
      for (const [ip, entry] of clients) {
        if (entry.lockedUntil <= now && now - entry.windowStart >= windowMs) clients.delete(ip)
      }
      let firstUnlock = Number.POSITIVE_INFINITY
      // Still full: clients counting failures (not locked) go, oldest first (a Map keeps insertion order).
      for (const [ip, entry] of clients) {
        if (clients.size < MAX_TRACKED_CLIENTS) return Option.none()
        if (entry.lockedUntil <= now) clients.delete(ip)
        else firstUnlock = Math.min(firstUnlock, entry.lockedUntil)
      }
      return clients.size < MAX_TRACKED_CLIENTS ? Option.none() : Option.some(firstUnlock)
    }

    const check = Effect.fnUntraced(function*(
      { authorization, clientIp }: AuthRequest
    ): Effect.fn.Return<Caller, Unauthorized | AuthRateLimited | KeyRateLimited> {
      const now = yield* Clock.currentTimeMillis
      const exempt = exemptLoopback && isLoopback(clientIp)
      const entry = clients.get(clientIp)
      if (!exempt && entry !== undefined && entry.lockedUntil > now) {
        return yield* new AuthRateLimited({ retryAfterSeconds: Math.ceil((entry.lockedUntil - now) / 1000) })
      }
      const caller = identify(Option.getOrUndefined(authorization))
      if (caller !== undefined) {
        clients.delete(clientIp)
        if (caller.keyId === undefined) return caller
        const limited = limiters.get(caller.keyId)?.admit(now)
        if (limited !== undefined) return yield* limited
        yield* Effect.annotateCurrentSpan("clawgate.key.id", caller.keyId)
        return caller
      }
      const failures = entry !== undefined && now - entry.windowStart < windowMs
        ? entry
        : { count: 0, windowStart: now, lockedUntil: 0 }
      failures.count += 1
      yield* Metric.increment(Metrics.authFailures)
      if (failures !== entry) {
        const full = makeRoom(now)
        if (Option.isNone(full)) clients.set(clientIp, failures)
        else if (!exempt) {
          return yield* new AuthRateLimited({ retryAfterSeconds: Math.ceil((full.value - now) / 1000) })
        }
      }
      if (exempt) {
        yield* Effect.sleep(Math.min(LOOPBACK_DELAY_MS.first * 2 ** (failures.count - 1), LOOPBACK_DELAY_MS.max))
      } else if (failures.count >= maxAttempts) {
        // The maxAttempts-th failure is still answered 401; the lockout refuses the attempts after it.
        failures.lockedUntil = now + lockoutMs
        yield* Metric.increment(Metrics.authLockouts)
      }
      return yield* new Unauthorized()
    })

    return Auth.of({ check: (request) => Telemetry.traced("Auth.check")(check(request)) })
  }

  static readonly layer = Layer.effect(Auth, Effect.map(Config, (settings) => Auth.make(settings.auth)))

  /** Lets every request in. */
  static readonly layerAcceptAll = Layer.succeed(Auth, Auth.of({ check: () => Effect.succeed(gateway) }))

  /** Turns every request away. */
  static readonly layerRejectAll = Layer.succeed(Auth, Auth.of({ check: () => new Unauthorized() }))
}

/**
 * Auth: the bearer secret check, and the failed-auth limiter per client IP.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import { Config } from "../config/Config.js"
import { type Settings } from "../config/Settings.js"
import { AuthRateLimited, Unauthorized } from "../domain/Errors.js"
import * as Metrics from "../ops/Metrics.js"
import * as Telemetry from "../ops/Telemetry.js"
import * as Bearer from "./Bearer.js"
import { isLoopback } from "./ClientIp.js"

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

export class Auth extends Context.Tag("clawgate/Auth")<Auth, {
  readonly check: (request: AuthRequest) => Effect.Effect<void, Unauthorized | AuthRateLimited>
}>() {
  static readonly make = (settings: Settings["auth"]) => {
    if (Option.isNone(settings.secret)) return Auth.of({ check: () => Effect.void })
    const carriesSecret = Bearer.matcher(settings.secret.value)
    const matches = (authorization: Option.Option<string>) => carriesSecret(Option.getOrUndefined(authorization))
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

    const check = Effect.fnUntraced(function*({ authorization, clientIp }: AuthRequest) {
      const now = yield* Clock.currentTimeMillis
      const exempt = exemptLoopback && isLoopback(clientIp)
      const entry = clients.get(clientIp)
      if (!exempt && entry !== undefined && entry.lockedUntil > now) {
        return yield* new AuthRateLimited({ retryAfterSeconds: Math.ceil((entry.lockedUntil - now) / 1000) })
      }
      if (matches(authorization)) {
        clients.delete(clientIp)
        return
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
  static readonly layerAcceptAll = Layer.succeed(Auth, Auth.of({ check: () => Effect.void }))

  /** Turns every request away. */
  static readonly layerRejectAll = Layer.succeed(Auth, Auth.of({ check: () => new Unauthorized() }))
}

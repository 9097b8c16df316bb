/**
 * `GET /healthz` (the process is alive; no auth) and `GET /readyz` (the config is loaded and the
 * session store answers; 503 with Retry-After while draining or when the store does not).
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { Drain } from "../ops/Drain.js"
import { SessionStore } from "../store/SessionStore.js"

const notReady = (reason: string) =>
  HttpServerResponse.unsafeJson({ status: "unavailable", reason }, { status: 503, headers: { "retry-after": "1" } })

export const healthz = Effect.succeed(HttpServerResponse.unsafeJson({ status: "ok" }))

export const makeReadyz = Effect.gen(function*() {
  const drain = yield* Drain
  const store = yield* SessionStore
  return Effect.gen(function*() {
    if (yield* drain.draining) return notReady("draining")
    // Reading a session that cannot exist proves the store answers, without touching real ones.
    return yield* store.load("clawgate:readiness-probe", 1).pipe(
      Effect.as(HttpServerResponse.unsafeJson({ status: "ready" })),
      Effect.catchAll(() => Effect.succeed(notReady("session store unavailable")))
    )
  })
})

/**
 * Drain: the gateway's shutdown. When it starts, /readyz answers 503 and new requests are turned
 * away; answers in flight get `gateway.shutdownGraceMs` to finish, after which the deadline
 * passes and what is left ends with an in-band error (streams) or a 503. What still holds on
 * `CUTOFF_MS` later (an answer its client does not read, a request its server cannot finish) is
 * not waited for: the cutoff is the drain's hard end. `Gateway.layer` runs it when it is released.
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { Config } from "../config/Config.js"

/** How long after the deadline what is left has to send its error and end. */
export const CUTOFF_MS = 1000

export class Drain extends Context.Tag("clawgate/Drain")<Drain, {
  readonly draining: Effect.Effect<boolean>
  /** `draining`, read without an Effect (on every request). */
  readonly isDraining: () => boolean
  /** Completes once answers in flight must end. */
  readonly deadline: Effect.Effect<void>
  /** Completes `CUTOFF_MS` after the deadline: nothing is waited for any more. */
  readonly cutoff: Effect.Effect<void>
  /**
   * Calls `end` at the deadline (at once if it has passed) unless the scope closes first: a
   * stream's way to end in time without a fiber of its own waiting for the deadline.
   */
  readonly atDeadline: (end: () => void) => Effect.Effect<void, never, Scope.Scope>
  /** Starts draining (once; later calls do nothing). */
  readonly start: Effect.Effect<void>
}>() {
  static readonly make = (graceMs: number) =>
    Effect.gen(function*() {
      let draining = false
      const deadline = yield* Deferred.make<void>()
      const cutoff = yield* Deferred.make<void>()
      const ends = new Set<() => void>()
      let past = false
      const passed = Effect.zipRight(
        Effect.sync(() => {
          past = true
          ends.forEach((end) => end())
        }),
        Deferred.succeed(deadline, undefined)
      )
      const timeline = Effect.sleep(graceMs).pipe(
        Effect.zipRight(passed),
        Effect.zipRight(Effect.sleep(CUTOFF_MS)),
        Effect.zipRight(Deferred.succeed(cutoff, undefined))
      )
      return Drain.of({
        draining: Effect.sync(() => draining),
        isDraining: () => draining,
        deadline: Deferred.await(deadline),
        cutoff: Deferred.await(cutoff),
        atDeadline: (end) =>
          Effect.flatMap(Effect.scope, (scope) => {
            if (past) return Effect.sync(end)
            ends.add(end)
            return Scope.addFinalizer(scope, Effect.sync(() => void ends.delete(end)))
          }),
        start: Effect.suspend(() => {
          if (draining) return Effect.void
          draining = true
          return Effect.asVoid(Effect.forkDaemon(timeline))
        })
      })
    })

  static readonly layer = Layer.effect(
    Drain,
    Effect.flatMap(Config, (settings) => Drain.make(settings.shutdownGraceMs))
  )
}

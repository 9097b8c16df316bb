/**
 * Drain: the gateway's shutdown. When it starts, /readyz answers 503 and new requests are turned
 * away; answers in flight get `gateway.shutdownGraceMs` to finish, after which the deadline
 * passes and what is left ends with an in-band error (streams) or a 503. `Gateway.layer` runs it
 * when it is released.
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import { Config } from "./Config.js"

export class Drain extends Context.Tag("clawgate/Drain")<Drain, {
  readonly draining: Effect.Effect<boolean>
  /** Completes once answers in flight must end. */
  readonly deadline: Effect.Effect<void>
  /** Starts draining (once; later calls do nothing). */
  readonly start: Effect.Effect<void>
}>() {
  static readonly make = (graceMs: number) =>
    Effect.gen(function*() {
      const draining = yield* Ref.make(false)
      const deadline = yield* Deferred.make<void>()
      return Drain.of({
        draining: Ref.get(draining),
        deadline: Deferred.await(deadline),
        start: Effect.flatMap(Ref.getAndSet(draining, true), (already) =>
          already
            ? Effect.void
            : Effect.asVoid(Effect.forkDaemon(Effect.zipRight(Effect.sleep(graceMs), Deferred.succeed(deadline, undefined))))
        )
      })
    })

  static readonly layer = Layer.effect(Drain, Effect.flatMap(Config, (settings) => Drain.make(settings.shutdownGraceMs)))
}

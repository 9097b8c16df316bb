/**
 * RunQueue: runs on one session key run one at a time, in arrival order; different sessions run in
 * parallel. A bounded number of runs may wait per session, and a gateway-wide cap bounds all runs
 * admitted (running or waiting). Past either bound a run is refused at once (429).
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { Config } from "../config/Config.js"
import { GatewayBusy, SessionBusy } from "../domain/Errors.js"
import * as Metrics from "../ops/Metrics.js"

interface SessionLine {
  /** Completed when the last admitted run on this session has finished. */
  tail: Deferred.Deferred<void>
  /** Runs admitted on this session: the running one and those waiting. */
  admitted: number
}

export class RunQueue extends Context.Tag("clawgate/RunQueue")<RunQueue, {
  /**
   * Admits a run and waits for its turn; the turn lasts until the scope closes. `sessionKey`
   * undefined (a stateless request) only counts against the gateway-wide cap.
   */
  readonly enter: (sessionKey: string | undefined) => Effect.Effect<void, SessionBusy | GatewayBusy, Scope.Scope>
  /** Whether a run on the session is running or waiting in this process. */
  readonly inFlight: (sessionKey: string) => boolean
}>() {
  static readonly make = (limits: { readonly maxConcurrentRuns: number; readonly maxQueuedPerSession: number }) => {
    const sessions = new Map<string, SessionLine>()
    let admitted = 0

    const admit = Effect.flatMap(Effect.scope, (scope) => {
      if (admitted >= limits.maxConcurrentRuns) {
        return Effect.fail(new GatewayBusy({ maxConcurrentRuns: limits.maxConcurrentRuns }))
      }
      admitted += 1
      return Scope.addFinalizer(scope, Effect.sync(() => void (admitted -= 1)))
    })

    const line = (sessionKey: string) =>
      Effect.gen(function*() {
        const mine = yield* Deferred.make<void>()
        const current = sessions.get(sessionKey)
        if (current !== undefined && current.admitted > limits.maxQueuedPerSession) {
          return yield* new SessionBusy({ sessionKey })
        }
        const previous = current?.tail
        const entry = current ?? { tail: mine, admitted: 0 }
        entry.tail = mine
        entry.admitted += 1
        sessions.set(sessionKey, entry)
        yield* Scope.addFinalizer(
          yield* Effect.scope,
          Effect.gen(function*() {
            entry.admitted -= 1
            if (entry.admitted === 0) sessions.delete(sessionKey)
            // The next run waits on `mine`: release it only once the run before this one is done,
            // even when this one gave up while still waiting.
            yield* previous === undefined
              ? Deferred.succeed(mine, undefined)
              : Effect.forkDaemon(Effect.zipRight(Deferred.await(previous), Deferred.succeed(mine, undefined)))
          })
        )
        if (previous !== undefined) yield* Metrics.queued(Deferred.await(previous))
      })

    return RunQueue.of({
      enter: (sessionKey) => Effect.zipRight(admit, sessionKey === undefined ? Effect.void : line(sessionKey)),
      inFlight: (sessionKey) => sessions.has(sessionKey)
    })
  }

  static readonly layer = Layer.effect(
    RunQueue,
    Effect.map(Config, (settings) =>
      RunQueue.make({
        maxConcurrentRuns: settings.maxConcurrentRuns,
        maxQueuedPerSession: settings.session.maxQueuedPerSession
      }))
  )
}

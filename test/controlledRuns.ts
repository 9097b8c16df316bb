/**
 * Runs the test drives: each run of an AgentRunner built on `script` is handed to the test as it
 * starts, says a text delta on `say`, ends on `finish`, and tells how its stream ended.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { AgentEvent } from "../src/domain/AgentEvent.js"
import { type RunRequest } from "../src/domain/Run.js"

/** How a run's stream ended. */
export type Ending = "completed" | "failed" | "interrupted"

/** One run the test drives. */
export interface ControlledRun {
  /** The run as the gateway asked for it: its agent is the one of the config it started on. */
  readonly request: RunRequest
  /** Streams a text delta. */
  readonly say: (text: string) => Effect.Effect<void>
  /** Ends the run: usage, then finish reason `stop`. */
  readonly finish: Effect.Effect<void>
  /** Completes when the run's stream has ended, saying how. */
  readonly ended: Effect.Effect<Ending>
}

/** A runner's `stream` (`script`) whose runs the test takes, as they start, with `next`. */
export const controlledRuns = Effect.gen(function*() {
  const runs = yield* Queue.unbounded<ControlledRun>()
  const script = (request: RunRequest) =>
    Stream.unwrap(Effect.gen(function*() {
      const events = yield* Queue.unbounded<AgentEvent>()
      const ended = yield* Deferred.make<Ending>()
      yield* Queue.offer(runs, {
        request,
        say: (text) => Queue.offer(events, AgentEvent.TextDelta({ text })),
        finish: Queue.offerAll(events, [
          AgentEvent.Usage({ usage: { promptTokens: 1, completionTokens: 1 } }),
          AgentEvent.Finish({ reason: "stop" })
        ]),
        ended: Deferred.await(ended)
      })
      return Stream.fromQueue(events).pipe(
        Stream.takeUntil((event) => event._tag === "Finish"),
        Stream.ensuringWith((exit) =>
          Deferred.succeed(
            ended,
            Exit.isSuccess(exit) ? "completed" : Exit.isInterrupted(exit) ? "interrupted" : "failed"
          )
        )
      )
    }))
  return { script, next: Queue.take(runs) }
})

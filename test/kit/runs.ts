/**
 * Agent runners for the gateway under test: one that records what it is given, and one whose
 * runs the test drives (each run is handed to the test as it starts, and says and finishes only
 * when the test tells it to).
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { AgentRunner } from "../../src/agent/AgentRunner.js"
import { Config } from "../../src/config/Config.js"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { AgentEvent } from "../../src/domain/AgentEvent.js"
import type { RunRequest } from "../../src/domain/Run.js"
import { FakeAgentRunner, RecordedRuns, replyEvents } from "../../src/testing.js"
import { baseConfig, testGateway } from "./gateway.js"

// ---------------------------------------------------------------------------------------------
// What the runner is given
// ---------------------------------------------------------------------------------------------

/**
 * A stand-in for the echo agent that needs no services: answers with the last user message's
 * words, counting words as tokens.
 */
export const echoLike = FakeAgentRunner.layer((request) => {
  const last = request.messages.findLast((message) => message.role === "user")
  return Stream.fromIterable(replyEvents(last?.content ?? ""))
})

/**
 * The gateway on `echoLike`, recording every run; the recorder is shared with the test, which
 * reads the runs from `RecordedRuns`.
 */
export const recordingGateway = (config: ConfigInput = baseConfig) => {
  const runner = FakeAgentRunner.layerRecording(echoLike)
  return Layer.merge(testGateway({ config, runner }), runner)
}

/** The runs recorded so far, oldest first. */
export const recordedRuns = Effect.flatMap(RecordedRuns, (recorded) => recorded.all)

/** The run the last request started. */
export const lastRun = Effect.flatMap(
  recordedRuns,
  (runs): Effect.Effect<RunRequest> => {
    const run = runs.at(-1)
    return run === undefined ? Effect.dieMessage("no run was recorded") : Effect.succeed(run)
  }
)

// ---------------------------------------------------------------------------------------------
// Runs the test drives
// ---------------------------------------------------------------------------------------------

/** How a run's stream ended. */
export type Ending = "completed" | "failed" | "interrupted"

export interface ControlledRun {
  /** The run as the gateway asked for it: its agent is the one of the config it started on. */
  readonly request: RunRequest
  /** Streams a text delta. */
  readonly say: (text: string) => Effect.Effect<void>
  /** Ends the run: usage, then finish reason `stop`. */
  readonly finish: Effect.Effect<void>
  /** Completes when the run's stream has ended, saying how. */
  readonly ended: Effect.Effect<Ending>
  /** Whether the run's stream has ended by now. */
  readonly hasEnded: Effect.Effect<boolean>
}

/** A runner built by a gateway generation (named by its default agent's `name`), until released. */
export interface RunnerGeneration {
  readonly name: string | undefined
  /** Completes when the generation's runner is released (its gateway generation closed). */
  readonly released: Effect.Effect<void>
  readonly isReleased: Effect.Effect<boolean>
}

/**
 * A runner whose runs the test takes as they start (`nextRun`) and drives. Each time a gateway
 * generation builds it (once, and again on each reload), the test gets it from `nextGeneration`.
 */
export const controlledRunner = Effect.gen(function*() {
  const runs = yield* Queue.unbounded<ControlledRun>()
  const generations = yield* Queue.unbounded<RunnerGeneration>()
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
        ended: Deferred.await(ended),
        hasEnded: Deferred.isDone(ended)
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
  const layer = Layer.scoped(
    AgentRunner,
    Effect.gen(function*() {
      const settings = yield* Config
      const released = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(released, undefined))
      yield* Queue.offer(generations, {
        name: settings.agents.find((agent) => agent.id === settings.defaultAgentId)?.name,
        released: Deferred.await(released),
        isReleased: Deferred.isDone(released)
      })
      return AgentRunner.fromStream(script)
    })
  )
  return { layer, nextRun: Queue.take(runs), nextGeneration: Queue.take(generations) }
})

/**
 * The session tests' gateway: the kit's gateway with the live AgentRunner on the scripted model
 * (test/fakes/ScriptedModel.ts), an in-memory SQLite session store the test can read, and the real
 * RunQueue with a tap that tells the test when a run arrives at it. Plus the request bodies they
 * send and the store read back with SQL.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as LiveRunner from "../../src/agent/LiveRunner.js"
import { RunQueue } from "../../src/agent/RunQueue.js"
import { Config } from "../../src/config/Config.js"
import { type ConfigInput } from "../../src/config/ConfigFile.js"
import { type Call, ScriptedModel } from "../fakes/ScriptedModel.js"
import { baseConfig, configWith, testGateway } from "../kit/gateway.js"
import { memoryStore } from "../kit/store.js"

/** A run reaching the RunQueue, or giving up while it waited there. */
export interface QueueEvent {
  readonly event: "arrived" | "gave up"
  /** The session key (`(stateless)` for the others). */
  readonly key: string
}

/** What happened at the RunQueue, in order. */
export class Arrivals extends Context.Tag("test/sessions/Arrivals")<Arrivals, Queue.Queue<QueueEvent>>() {}

/** The real RunQueue from the config's limits, telling `Arrivals` of each run as it enters. */
const tappedRunQueue = Layer.effect(
  RunQueue,
  Effect.gen(function*() {
    const settings = yield* Config
    const arrivals = yield* Arrivals
    const queue = RunQueue.make({
      maxConcurrentRuns: settings.maxConcurrentRuns,
      maxQueuedPerSession: settings.session.maxQueuedPerSession
    })
    return RunQueue.of({
      inFlight: queue.inFlight,
      enter: (sessionKey) => {
        const key = sessionKey ?? "(stateless)"
        return Effect.zipRight(
          Queue.offer(arrivals, { event: "arrived", key }),
          queue.enter(sessionKey).pipe(Effect.onInterrupt(() => Queue.offer(arrivals, { event: "gave up", key })))
        )
      }
    })
  })
)

/** `baseConfig` whose agents `main` and `beta` have these settings (model stays `echo`, replaced anyway). */
export const agentsWith = (settings: Record<string, unknown>, extra: Partial<ConfigInput> = {}): ConfigInput =>
  configWith({
    agents: {
      list: [
        { id: "main", default: true, model: "echo", ...settings },
        { id: "beta", model: "echo", ...settings }
      ]
    },
    ...extra
  })

/**
 * The gateway with the live runner on the scripted model (answering with `answer` when given,
 * else waiting for the test's script), an in-memory store shared with the test (`SessionStore`,
 * `SqlClient`) and `Arrivals`. Its request log is silenced.
 */
export const sessionGateway = (
  options: { readonly config?: ConfigInput; readonly answer?: (call: Call) => string } = {}
) => {
  const store = memoryStore()
  const model = ScriptedModel.layer(options.answer === undefined ? {} : { answer: options.answer })
  const arrivals = Layer.effect(Arrivals, Queue.unbounded<QueueEvent>())
  const runQueue = tappedRunQueue.pipe(Layer.provide(arrivals))
  const runner = LiveRunner.layerFromServices.pipe(Layer.provide(Layer.mergeAll(model, store, runQueue)))
  // The layers named twice (store, model, arrivals) are built once: the test sees the runner's.
  return Layer.mergeAll(testGateway({ config: options.config ?? baseConfig, runner }), store, model, arrivals)
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/** A chat request body for agent `main`. */
export const body = (
  messages: ReadonlyArray<{ readonly role: string; readonly content: string }>,
  extra: Record<string, unknown> = {}
) => ({
  model: "clawdbot:main",
  messages,
  ...extra
})

// ---------------------------------------------------------------------------------------------
// The store, read back
// ---------------------------------------------------------------------------------------------

export interface StoredRow {
  readonly role: string
  readonly content: string
  readonly run_id: string
  readonly prompt_tokens: number | null
  readonly completion_tokens: number | null
}

/** A session's stored messages, oldest first, as rows. */
export const storedRows = (sessionKey: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<StoredRow>`SELECT role, content, run_id, prompt_tokens, completion_tokens FROM session_messages
      WHERE session_key = ${sessionKey} ORDER BY seq`
  ).pipe(Effect.orDie)

/** A session's stored messages as `role: content`, oldest first. */
export const transcript = (sessionKey: string) =>
  Effect.map(storedRows(sessionKey), (rows) => rows.map((row) => `${row.role}: ${row.content}`))

/** How many messages the store holds, over all sessions. */
export const storedCount = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ readonly n: number }>`SELECT COUNT(*) AS n FROM session_messages`
).pipe(
  Effect.map(([row]) => Number(row?.n ?? -1)),
  Effect.orDie
)

/** A prompt as `role: text` lines, for comparing with a transcript. */
export const lines = (prompt: ReadonlyArray<{ readonly role: string; readonly text: string }>) =>
  prompt.map((message) => `${message.role}: ${message.text}`)

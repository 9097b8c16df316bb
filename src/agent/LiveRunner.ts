/**
 * The live AgentRunner: a run waits for its turn on its session, reads the session's transcript,
 * asks the agent's model for the answer (retrying a failing provider only before the first event,
 * within the agent's first-token timeout), and commits the turn to the session store once it has
 * ended. A streamed run is one pull per read of the provider's answer, mapped as it passes: no
 * Stream stage, queue or fiber of its own.
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Config } from "../config/Config.js"
import { splitModel } from "../config/Settings.js"
import type { Agent } from "../domain/Agent.js"
import { addEvent, type AgentEvent, type AgentReply, emptyReply } from "../domain/AgentEvent.js"
import { type AgentError, ProviderTimeout, ProviderUnreachable } from "../domain/Errors.js"
import * as Pull from "../domain/Pull.js"
import type { RunRequest, Sampling } from "../domain/Run.js"
import * as Telemetry from "../ops/Telemetry.js"
import type { Model, ModelRequest } from "../providers/Provider.js"
import { SessionStore } from "../store/SessionStore.js"
import { AgentRunner } from "./AgentRunner.js"
import * as Conversation from "./Conversation.js"
import { ModelRegistry, providerHttpClient } from "./ModelRegistry.js"
import { RunQueue } from "./RunQueue.js"

/** The request's sampling over the agent's defaults, within the agent's caps. */
const samplingFor = (agent: Agent, requested: Sampling): Sampling => {
  const maxTokens = requested.maxTokens ?? agent.sampling.maxTokens
  return {
    temperature: requested.temperature ?? agent.sampling.temperature,
    topP: requested.topP ?? agent.sampling.topP,
    maxTokens: maxTokens === undefined
      ? agent.limits.maxTokens
      : Math.min(maxTokens, agent.limits.maxTokens ?? maxTokens),
    stop: requested.stop ?? agent.sampling.stop,
    seed: requested.seed ?? agent.sampling.seed
  }
}

/** Failures worth another try before the first event: the provider down or failing (5xx). */
const isTransient = (error: AgentError) =>
  error._tag === "ProviderUnreachable" || (error._tag === "ProviderFailed" && (error.status ?? 0) >= 500)

/**
 * The events a run lets through: a run that asked for one tool call at a time (the legacy
 * `functions`, or `parallel_tool_calls: false`) keeps its model's first call only, should the model
 * make several anyway, so that what the client gets and what the session stores agree.
 */
const callsAllowed = (run: RunRequest): (events: Chunk.Chunk<AgentEvent>) => Chunk.Chunk<AgentEvent> => {
  if (run.tools?.parallel !== false) return (events) => events
  let first: string | undefined
  return Chunk.filter((event) => {
    if (event._tag !== "ToolCallStart" && event._tag !== "ToolCallDelta") return true
    first ??= event.id
    return event.id === first
  })
}

/** A reply with the model's first tool call only, under the same rule as `callsAllowed`. */
const replyAllowed = (run: RunRequest, reply: AgentReply): AgentReply =>
  run.tools?.parallel === false && reply.toolCalls !== undefined && reply.toolCalls.length > 1
    ? { ...reply, toolCalls: reply.toolCalls.slice(0, 1) }
    : reply

/**
 * Opens the model's answer in a scope of its own (closed, cancelling the call, if the attempt
 * fails or is interrupted) and pulls until its first events; `rest` pulls the others.
 */
const firstEvents = (model: Model, request: ModelRequest) =>
  Effect.flatMap(
    Effect.scope,
    (parent) =>
      Effect.flatMap(Scope.fork(parent, ExecutionStrategy.sequential), (scope) =>
        Scope.extend(model.open(request), scope).pipe(
          Effect.flatMap((rest) =>
            Effect.map(Pull.firstElements(rest), (first) => ({ first, rest }))
          ),
          Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
        ))
  )

const make = Effect.gen(function*() {
  const settings = yield* Config
  const models = yield* ModelRegistry
  const store = yield* SessionStore
  const queue = yield* RunQueue
  const { history } = settings.session

  const retryPolicy = (model: Model) => {
    const { attempts, initialDelayMs, maxDelayMs } = settings.providers[model.provider]?.retry ??
      { attempts: 0, initialDelayMs: 0, maxDelayMs: 0 }
    return Schedule.exponential(initialDelayMs).pipe(
      Schedule.modifyDelay((delay) => Duration.min(delay, Duration.millis(maxDelayMs))),
      Schedule.intersect(Schedule.recurs(attempts)),
      Schedule.whileInput(isTransient)
    )
  }

  /**
   * The model's attempts, retried while the provider fails transiently, all of them within the
   * agent's first-token timeout: each attempt gets the time left as its time limit.
   */
  const bounded = <A, R>(
    run: RunRequest,
    model: Model,
    attempt: (timeLimit: ModelRequest["timeLimit"]) => Effect.Effect<A, AgentError, R>
  ) => {
    const timeoutMs = run.agent.firstTokenTimeoutMs
    const error = () => new ProviderTimeout({ provider: model.provider, timeoutMs })
    return Effect.flatMap(
      Clock.currentTimeMillis,
      (startedAt) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => attempt({ ms: timeoutMs - (now - startedAt), error })).pipe(
          Effect.retry(retryPolicy(model))
        )
    )
  }

  /** Waits for the run's turn on its session, then reads what the model should see. */
  const prepare = (run: RunRequest) => Telemetry.traced("AgentRunner.prepare")(prepareUntraced(run))
  const prepareUntraced = Effect.fnUntraced(function*(run: RunRequest) {
    const stable = run.sessionKey.kind !== "ephemeral"
    yield* queue.enter(stable ? run.sessionKey.value : undefined)
    // Then across processes sharing the store (PostgreSQL): held until the run's scope closes.
    if (stable && store.lock !== undefined) yield* store.lock(run.sessionKey.value)
    const model = yield* Option.match(models.forAgent(run.agent), {
      onNone: () => Effect.fail(new ProviderUnreachable({ provider: splitModel(run.agent.model)[0] })),
      onSome: Effect.succeed
    })
    const transcript = stable ? yield* store.load(run.sessionKey.value, history.maxMessages) : []
    const fresh = Conversation.newMessages(transcript.length > 0, run.messages)
    const request: Omit<ModelRequest, "timeLimit"> = {
      system: Conversation.system([run.agent.systemPrompt, run.extraSystemPrompt]),
      messages: Conversation.forModel([...Conversation.bounded(transcript, history), ...fresh]),
      tools: run.tools,
      sampling: samplingFor(run.agent, run.sampling),
      answerFormat: run.answerFormat
    }
    return {
      model,
      request,
      /** Whether the turn is stored: only then is its reply kept as it streams. */
      stable,
      commit: (reply: AgentReply) =>
        stable
          ? store.commit(run.sessionKey.value, {
            runId: run.runId,
            messages: fresh,
            reply: reply.text,
            toolCalls: reply.toolCalls,
            usage: reply.usage,
            agent: run.agent.id,
            owner: run.sessionKey.owner
          })
          : Effect.void
    }
  })

  const stream = (run: RunRequest): Stream.Stream<AgentEvent, AgentError> =>
    Pull.stream(Effect.gen(function*() {
      const turn = yield* prepare(run)
      // Only the wait for the first events is retried (later, text would reach the client twice)
      // and bounded: an answer that has started may take its time.
      const { first, rest } = yield* bounded(
        run,
        turn.model,
        (timeLimit) => Telemetry.traced("Model.open")(firstEvents(turn.model, { ...turn.request, timeLimit }))
      )
      const allowed = callsAllowed(run)
      let reply = emptyReply
      const folded = (events: Chunk.Chunk<AgentEvent>) => {
        const kept = allowed(events)
        if (turn.stable) { for (const event of kept) reply = addEvent(reply, event) }
        return kept
      }
      let finished = false
      /** The first events, the others as they come, then at their end the turn's commit. */
      const next: Pull.Pull<AgentEvent, AgentError> = Effect.catchAll(
        Effect.map(Pull.prepend(first, rest), folded),
        Option.match({
          onNone: () => {
            if (finished) return Pull.end
            finished = true
            return Effect.zipRight(Effect.mapError(turn.commit(reply), Option.some), Pull.end)
          },
          onSome: Pull.fail
        })
      )
      return next
    }))

  const complete = (run: RunRequest): Effect.Effect<AgentReply, AgentError> =>
    Effect.scoped(Effect.gen(function*() {
      const turn = yield* prepare(run)
      const reply = replyAllowed(
        run,
        yield* bounded(
          run,
          turn.model,
          (timeLimit) => Telemetry.traced("Model.complete")(turn.model.complete({ ...turn.request, timeLimit }))
        )
      )
      yield* turn.commit(reply)
      return reply
    }))

  return AgentRunner.of({ stream, complete })
})

/** The live runner on the models, session store and run queue in context. */
export const layerFromServices = Layer.effect(AgentRunner, make)

/**
 * The live runner with the configured models (the library providers over a Node HttpClient of its
 * own) and the run queue, on the SessionStore in context (shared with the readiness check).
 */
export const layer = layerFromServices.pipe(
  Layer.provide(Layer.mergeAll(ModelRegistry.layer, RunQueue.layer)),
  Layer.provide(providerHttpClient)
)

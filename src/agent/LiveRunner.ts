/**
 * The live AgentRunner: a run waits for its turn on its session, reads the session's transcript,
 * calls the agent's model (retrying a failing provider only before the first token, within the
 * agent's first-token timeout), and commits the turn to the session store once it has ended.
 */
import * as IdGenerator from "@effect/ai/IdGenerator"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { Config } from "../config/Config.js"
import { splitModel } from "../config/Settings.js"
import type { Agent } from "../domain/Agent.js"
import { addEvent, type AgentEvent, type AgentReply, emptyReply } from "../domain/AgentEvent.js"
import { type AgentError, ProviderFailed, ProviderTimeout, ProviderUnreachable } from "../domain/Errors.js"
import type { RunRequest, Sampling } from "../domain/Run.js"
import * as ClientTools from "../providers/ClientTools.js"
import type { Model } from "../providers/Provider.js"
import { fromAiError } from "../providers/ProviderErrors.js"
import { SessionStore } from "../store/SessionStore.js"
import { AgentRunner } from "./AgentRunner.js"
import * as Conversation from "./Conversation.js"
import { eventsOf, generateParts, type ModelInput, replyOf, streamParts } from "./ModelParts.js"
import { ModelRegistry, providerHttpClient } from "./ModelRegistry.js"
import { type Pull, pullFirst } from "./Pull.js"
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

/** Failures worth another try before the first token: the provider down or failing (5xx). */
const isTransient = (error: AgentError) =>
  error._tag === "ProviderUnreachable" || (error._tag === "ProviderFailed" && (error.status ?? 0) >= 500)

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

  const toAgentError = (model: Model) => (error: Parameters<typeof fromAiError>[1]) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fail(fromAiError(model.provider, error, now)))

  /** Waits for the run's turn on its session, then reads what the model should see. */
  const prepare = Effect.fn("AgentRunner.prepare")(function*(run: RunRequest) {
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
    const input: ModelInput = {
      prompt: Conversation.toPrompt(
        [run.agent.systemPrompt, run.extraSystemPrompt],
        [...Conversation.bounded(transcript, history), ...fresh]
      ),
      // The client's tools: the model's calls of them come back to the client unresolved.
      toolkit: ClientTools.toolkit(run.tools?.tools ?? []),
      toolChoice: run.tools?.choice ?? "auto"
    }
    return {
      model,
      input,
      context: model.settings(samplingFor(run.agent, run.sampling), run.tools, run.answerFormat),
      commit: (reply: AgentReply) =>
        stable
          ? store.commit(run.sessionKey.value, {
            runId: run.runId,
            messages: fresh,
            reply: reply.text,
            toolCalls: reply.toolCalls,
            usage: reply.usage
          })
          : Effect.void
    }
  })

  const timeout = (run: RunRequest, model: Model) =>
    new ProviderTimeout({ provider: model.provider, timeoutMs: run.agent.firstTokenTimeoutMs })

  const stream = (run: RunRequest): Stream.Stream<AgentEvent, AgentError> =>
    Stream.unwrapScoped(Effect.gen(function*() {
      const turn = yield* prepare(run)
      const parts = yield* streamParts(turn.model, turn.input)
      const context = Context.add(turn.context, IdGenerator.IdGenerator, IdGenerator.defaultIdGenerator)
      let reply = emptyReply
      /**
       * One attempt, as a pull of the provider's parts mapped to events (each folded into the
       * reply): mapping each pull rather than adding Stream stages keeps an open stream small.
       */
      const attempt = Effect.map(
        Effect.provide(Stream.toPull(parts), context),
        (pull): Pull<AgentEvent, AgentError> => {
          const toEvents = eventsOf()
          return pull.pipe(
            Effect.provide(context),
            Effect.catchAll(Option.match({
              onNone: () => Effect.fail(Option.none()),
              onSome: (error) => Effect.mapError(toAgentError(turn.model)(error), Option.some)
            })),
            Effect.flatMap((parts) => {
              const events: Array<AgentEvent> = []
              for (const part of parts) {
                // Provider libraries report a failure mid-stream as an `error` part, not as a failure.
                if (part.type === "error") {
                  return Effect.fail(Option.some(
                    new ProviderFailed({
                      provider: turn.model.provider,
                      detail: Inspectable.toStringUnknown(part.error)
                    })
                  ))
                }
                for (const event of toEvents(part)) {
                  reply = addEvent(reply, event)
                  events.push(event)
                }
              }
              return Effect.succeed(Chunk.unsafeFromArray(events))
            })
          )
        }
      )
      // Only the wait for the first event is retried (later, text would reach the client twice)
      // and bounded: a stream that has started may take its time.
      const { first, rest } = yield* pullFirst(attempt).pipe(
        Effect.retry(retryPolicy(turn.model)),
        Effect.timeoutFail({ duration: run.agent.firstTokenTimeoutMs, onTimeout: () => timeout(run, turn.model) })
      )
      let head: Chunk.Chunk<AgentEvent> | undefined = first
      let finished = false
      /** The first events, the others as they come, then at their end the turn's commit. */
      const next = Effect.suspend((): Effect.Effect<Chunk.Chunk<AgentEvent>, Option.Option<AgentError>> => {
        if (head !== undefined) {
          const events = head
          head = undefined
          return Effect.succeed(events)
        }
        if (finished) return Effect.fail(Option.none())
        return Effect.catchAll(
          rest,
          Option.match({
            onNone: () => {
              finished = true
              return Effect.zipRight(Effect.mapError(turn.commit(reply), Option.some), Effect.fail(Option.none()))
            },
            onSome: (error) => Effect.fail(Option.some(error))
          })
        )
      })
      return Stream.repeatEffectChunkOption(next)
    }))

  const complete = (run: RunRequest): Effect.Effect<AgentReply, AgentError> =>
    Effect.scoped(Effect.gen(function*() {
      const turn = yield* prepare(run)
      const parts = yield* generateParts(turn.model, turn.input).pipe(
        Effect.provide(turn.context),
        Effect.catchAll(toAgentError(turn.model)),
        Effect.retry(retryPolicy(turn.model)),
        Effect.timeoutFail({ duration: run.agent.firstTokenTimeoutMs, onTimeout: () => timeout(run, turn.model) })
      )
      const reply = replyOf(parts)
      yield* turn.commit(reply)
      return reply
    }))

  return AgentRunner.of({ stream, complete })
})

/** The live runner on the models, session store and run queue in context. */
export const layerFromServices = Layer.effect(AgentRunner, make)

/**
 * The live runner with the configured models (over a Node HttpClient of its own) and the run queue,
 * on the SessionStore in context (shared with the readiness check).
 */
export const layer = layerFromServices.pipe(
  Layer.provide(Layer.mergeAll(ModelRegistry.layer, RunQueue.layer)),
  Layer.provide(providerHttpClient)
)

/**
 * The live AgentRunner: a run waits for its turn on its session, reads the session's transcript,
 * asks the agent's model for the answer (retrying a failing provider only before the first event,
 * within the agent's first-token timeout), and commits the turn to the session store once it has
 * ended. A streamed run is one pull per read of the provider's answer, mapped as it passes: no
 * Stream stage, queue or fiber of its own.
 *
 * An agent with MCP server tools (`tools` in its config) runs a loop: the model's calls of server
 * tools are run (in parallel), their results go back to the model, and so on until an answer, a
 * call of a client tool (which goes back to the client, the server calls of that step not run), or
 * `maxSteps` model calls (then finish reason `length`). The client sees the text of every step and
 * the tools' activity as `ToolActivity` events, never the server calls as tool calls; usage sums
 * the steps, and the transcript stores every step with the turn, in its one commit. An agent
 * without server tools runs exactly as before.
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
import type { Agent, ToolPolicy } from "../domain/Agent.js"
import {
  addEvent,
  AgentEvent,
  type AgentReply,
  emptyReply,
  type FinishReason,
  type ToolActivity,
  type ToolCall,
  type Usage
} from "../domain/AgentEvent.js"
import { type AgentError, ProviderTimeout, ProviderUnreachable } from "../domain/Errors.js"
import * as Pull from "../domain/Pull.js"
import type { ChatMessage, RunRequest, RunTools, Sampling } from "../domain/Run.js"
import { McpServers, type ServerTool } from "../mcp/McpServers.js"
import * as Telemetry from "../ops/Telemetry.js"
import type { Model, ModelMessage, ModelRequest } from "../providers/Provider.js"
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

/** The client's tools and the agent's server tools, as the model is offered them. */
const withServerTools = (client: RunTools | undefined, server: ReadonlyArray<ServerTool>): RunTools => ({
  tools: [
    ...client?.tools ?? [],
    ...server.map((tool) => ({ name: tool.name, description: tool.description, parameters: tool.parameters }))
  ],
  choice: client?.choice ?? "auto",
  parallel: client?.parallel
})

const addUsage = (sum: Usage | undefined, usage: Usage): Usage =>
  sum === undefined ? usage : {
    promptTokens: sum.promptTokens + usage.promptTokens,
    completionTokens: sum.completionTokens + usage.completionTokens
  }

/** How much of a tool's result its activity event shows. */
const SHORT_RESULT = 200

/** What a step of the loop adds to the conversation: its calls, then their results. */
interface StepMessages {
  readonly stored: ReadonlyArray<ChatMessage>
  /** Each call's activity once it has ended. */
  readonly ended: ReadonlyArray<ToolActivity>
}

/** A server call's activity: the call, the server its tool is on (one of `tools`), where it stands. */
const activityOf = (
  call: ToolCall,
  tools: ReadonlyMap<string, ServerTool>,
  status: ToolActivity["status"],
  result?: string
): ToolActivity => ({ ...call, server: tools.get(call.name)!.server, status, ...(result !== undefined && { result }) })

const noServerTools: ReadonlyMap<string, ServerTool> = new Map()

const make = Effect.gen(function*() {
  const mcp = yield* McpServers
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
    return Effect.flatMap(Clock.currentTimeMillis, (startedAt) => {
      const attemptNow = Effect.flatMap(
        Clock.currentTimeMillis,
        (now) => attempt({ ms: timeoutMs - (now - startedAt), error })
      )
      // The schedule is made only once an attempt has failed (most runs need none), and then goes
      // on from that failure as `Effect.retry` would have.
      return Effect.catchAll(attemptNow, (failure) => {
        let first: Effect.Effect<A, AgentError, R> | undefined = Effect.fail(failure)
        const again = Effect.suspend(() => {
          const next = first ?? attemptNow
          first = undefined
          return next
        })
        return Effect.retry(again, retryPolicy(model))
      })
    })
  }

  /** The server tools the agent may call, by name; a client tool of the same name wins. */
  const serverToolsFor = (run: RunRequest, policy: ToolPolicy) =>
    Effect.map(mcp.tools(policy), (tools): ReadonlyMap<string, ServerTool> => {
      const clientNames = new Set(run.tools?.tools.map((tool) => tool.name))
      return new Map(tools.filter((tool) => !clientNames.has(tool.name)).map((tool) => [tool.name, tool]))
    })

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
    // Only an agent given tools asks its servers.
    const serverTools = run.agent.tools === undefined || run.tools?.choice === "none"
      ? noServerTools
      : yield* serverToolsFor(run, run.agent.tools)
    const request: Omit<ModelRequest, "timeLimit"> = {
      system: Conversation.system([run.agent.systemPrompt, run.extraSystemPrompt]),
      messages: Conversation.forModel([...Conversation.bounded(transcript, history), ...fresh]),
      tools: serverTools.size === 0 ? run.tools : withServerTools(run.tools, [...serverTools.values()]),
      sampling: samplingFor(run.agent, run.sampling),
      answerFormat: run.answerFormat
    }
    return {
      model,
      request,
      /** Whether the turn is stored: only then is its reply kept as it streams. */
      stable,
      /** The server tools the model is offered, by name (none: the run is as without MCP). */
      serverTools,
      /** Stores the turn: with `steps`, the loop's calls and results before the reply. */
      commit: (reply: AgentReply, steps: ReadonlyArray<ChatMessage> = []) =>
        stable
          ? store.commit(run.sessionKey.value, {
            runId: run.runId,
            messages: fresh,
            steps,
            reply: reply.text,
            toolCalls: reply.toolCalls,
            usage: reply.usage,
            agent: run.agent.id,
            owner: run.sessionKey.owner
          })
          : Effect.void
    }
  })

  /** Runs a step's server calls at once; each call's result answers it. */
  const runTools = (
    tools: ReadonlyMap<string, ServerTool>,
    text: string,
    calls: ReadonlyArray<ToolCall>
  ): Effect.Effect<StepMessages> =>
    Effect.map(
      Effect.forEach(calls, (call) => mcp.call(tools.get(call.name)!, call.arguments), { concurrency: "unbounded" }),
      (outcomes) => ({
        stored: [
          { role: "assistant", content: text, toolCalls: calls },
          ...calls.map((call, i): ChatMessage => ({
            role: "tool",
            content: outcomes[i]!.text,
            name: call.name,
            toolCallId: call.id
          }))
        ],
        ended: calls.map((call, i) =>
          activityOf(call, tools, outcomes[i]!.ok ? "done" : "error", outcomes[i]!.text.slice(0, SHORT_RESULT))
        )
      })
    )

  const stoppedAtMaxSteps = (run: RunRequest) =>
    Effect.logWarning("The run reached its agent's maxSteps: its answer ends with finish reason \"length\"").pipe(
      Effect.annotateLogs({ agent: run.agent.id, runId: run.runId, maxSteps: run.agent.maxSteps })
    )

  type Turn = Effect.Effect.Success<ReturnType<typeof prepare>>

  /** The events of one model step: its first ones and the pull of the rest. */
  const openStep = (run: RunRequest, turn: Turn, messages: ReadonlyArray<ModelMessage>) =>
    bounded(
      run,
      turn.model,
      (timeLimit) => Telemetry.traced("Model.open")(firstEvents(turn.model, { ...turn.request, messages, timeLimit }))
    )

  /**
   * A streamed run with server tools: the model's steps, pulled as they come, with the runs of
   * their server calls in between. Each pull is one read of the model or one step's tool calls.
   */
  const streamLoop = (run: RunRequest, turn: Turn) =>
    Effect.gen(function*() {
      const tools = turn.serverTools
      const scope = yield* Effect.scope
      const allowed = callsAllowed(run)
      const messages = [...turn.request.messages]
      const steps: Array<ChatMessage> = []
      let step = 1
      let usage: Usage | undefined
      // The current step: its text, its calls (by id, in order) and finish reason.
      let text = ""
      let calls = new Map<string, ToolCall>()
      let reason: FinishReason = "stop"
      let final: AgentReply | undefined
      const fold = (events: Chunk.Chunk<AgentEvent>) => {
        const out: Array<AgentEvent> = []
        for (const event of allowed(events)) {
          switch (event._tag) {
            case "TextDelta":
              text += event.text
              out.push(event)
              break
            case "ToolCallStart":
              calls.set(event.id, { id: event.id, name: event.name, arguments: "" })
              if (!tools.has(event.name)) out.push(event)
              break
            case "ToolCallDelta": {
              const call = calls.get(event.id)
              if (call !== undefined) calls.set(event.id, { ...call, arguments: call.arguments + event.arguments })
              if (call === undefined || !tools.has(call.name)) out.push(event)
              break
            }
            case "Usage":
              usage = addUsage(usage, event.usage)
              break
            case "Finish":
              reason = event.reason
              break
            case "ToolActivity":
              out.push(event)
          }
        }
        return Chunk.unsafeFromArray(out)
      }
      const opened = yield* openStep(run, turn, messages)
      let current: Pull.Pull<AgentEvent, AgentError> = Pull.prepend(opened.first, opened.rest)

      /** The answer's end: its usage and finish reason; the next pull commits the turn. */
      const finish = (reply: AgentReply) => {
        final = reply
        return Pull.emit([
          ...(usage === undefined ? [] : [AgentEvent.Usage({ usage })]),
          AgentEvent.Finish({ reason: reply.finishReason })
        ])
      }
      /** Runs a step's server calls (their activity is what the pulls give meanwhile), then `then`. */
      const runServerCalls = (
        serverCalls: ReadonlyArray<ToolCall>,
        said: string,
        then: (ran: StepMessages) => void
      ) => {
        current = Effect.flatMap(runTools(tools, said, serverCalls), (ran) => {
          steps.push(...ran.stored)
          then(ran)
          return Pull.emit(ran.ended.map((activity) => AgentEvent.ToolActivity({ activity })))
        })
        return Pull.emit(
          serverCalls.map((call) => AgentEvent.ToolActivity({ activity: activityOf(call, tools, "running") }))
        )
      }
      /** The step's model answer has ended: the answer ends, or its server calls run. */
      const stepEnded = (): Pull.Pull<AgentEvent, AgentError> => {
        const all = [...calls.values()]
        const clientCalls = all.filter((call) => !tools.has(call.name))
        const serverCalls = all.filter((call) => tools.has(call.name))
        if (serverCalls.length === 0) {
          return finish({
            text,
            toolCalls: clientCalls.length > 0 ? clientCalls : undefined,
            finishReason: reason,
            usage
          })
        }
        if (clientCalls.length > 0) {
          // Both kinds in one step: the server's calls run, then the answer ends with the client's.
          calls = new Map(clientCalls.map((call) => [call.id, call]))
          return runServerCalls(serverCalls, "", () => {
            current = Pull.end
          })
        }
        if (step >= run.agent.maxSteps) {
          return Effect.zipRight(stoppedAtMaxSteps(run), finish({ text, finishReason: "length", usage }))
        }
        return runServerCalls(serverCalls, text, (ran) => {
          messages.push(...Conversation.forModel(ran.stored))
          step += 1
          text = ""
          calls = new Map()
          reason = "stop"
          current = Effect.mapError(
            Effect.map(Effect.provideService(openStep(run, turn, messages), Scope.Scope, scope), ({ first, rest }) => {
              current = rest
              return fold(first)
            }),
            Option.some
          )
        })
      }
      let committed = false
      const next: Pull.Pull<AgentEvent, AgentError> = Effect.suspend(() => {
        if (final !== undefined) {
          if (committed) return Pull.end
          committed = true
          return Effect.zipRight(Effect.mapError(turn.commit(final, steps), Option.some), Pull.end)
        }
        return Effect.catchAll(
          Effect.map(current, fold),
          Option.match({ onNone: stepEnded, onSome: Pull.fail })
        )
      })
      // The reads of the current step's model, without an Effect; steps' ends and tool runs are the pull's.
      return Pull.withFeed(
        next,
        Pull.mapFeed(Pull.feedOfCurrent(() => final === undefined ? Pull.feedOf(current) : undefined), fold)
      )
    })

  const stream = (run: RunRequest): Stream.Stream<AgentEvent, AgentError> =>
    Pull.stream(Effect.gen(function*() {
      const turn = yield* prepare(run)
      if (turn.serverTools.size > 0) return yield* streamLoop(run, turn)
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
      const events = Pull.mapChunk(Pull.prepend(first, rest), folded)
      const next: Pull.Pull<AgentEvent, AgentError> = Effect.catchAll(
        events,
        Option.match({
          onNone: () => {
            if (finished) return Pull.end
            finished = true
            return Effect.zipRight(Effect.mapError(turn.commit(reply), Option.some), Pull.end)
          },
          onSome: Pull.fail
        })
      )
      return Pull.withFeed(next, Pull.feedOf(events))
    }))

  const completeStep = (run: RunRequest, turn: Turn, messages: ReadonlyArray<ModelMessage>) =>
    Effect.map(
      bounded(
        run,
        turn.model,
        (timeLimit) => Telemetry.traced("Model.complete")(turn.model.complete({ ...turn.request, messages, timeLimit }))
      ),
      (reply) => replyAllowed(run, reply)
    )

  /** A plain answer with server tools: the model's steps, with their server calls run in between. */
  const completeLoop = Effect.fnUntraced(function*(run: RunRequest, turn: Turn) {
    const tools = turn.serverTools
    const messages = [...turn.request.messages]
    const steps: Array<ChatMessage> = []
    const activity: Array<ToolActivity> = []
    let said = ""
    let usage: Usage | undefined
    for (let step = 1;; step++) {
      const reply = yield* completeStep(run, turn, messages)
      said += reply.text
      if (reply.usage !== undefined) usage = addUsage(usage, reply.usage)
      const calls = reply.toolCalls ?? []
      const clientCalls = calls.filter((call) => !tools.has(call.name))
      const serverCalls = calls.filter((call) => tools.has(call.name))
      const stop = clientCalls.length > 0 || serverCalls.length === 0 || step >= run.agent.maxSteps
      if (stop) {
        const length = clientCalls.length === 0 && serverCalls.length > 0
        if (length) yield* stoppedAtMaxSteps(run)
        if (clientCalls.length > 0 && serverCalls.length > 0) {
          // Both kinds in one step: the server's calls run, then the answer ends with the client's.
          const ran = yield* runTools(tools, "", serverCalls)
          steps.push(...ran.stored)
          activity.push(...ran.ended)
        }
        yield* turn.commit({ ...reply, usage, toolCalls: clientCalls.length > 0 ? clientCalls : undefined }, steps)
        return {
          text: said,
          toolCalls: clientCalls.length > 0 ? clientCalls : undefined,
          finishReason: length ? "length" : reply.finishReason,
          usage,
          ...(activity.length > 0 && { tools: activity })
        } satisfies AgentReply
      }
      const ran = yield* runTools(tools, reply.text, serverCalls)
      steps.push(...ran.stored)
      messages.push(...Conversation.forModel(ran.stored))
      activity.push(...ran.ended)
    }
  })

  const complete = (run: RunRequest): Effect.Effect<AgentReply, AgentError> =>
    Effect.scoped(Effect.gen(function*() {
      const turn = yield* prepare(run)
      if (turn.serverTools.size > 0) return yield* completeLoop(run, turn)
      const reply = yield* completeStep(run, turn, turn.request.messages)
      yield* turn.commit(reply)
      return reply
    }))

  return AgentRunner.of({ stream, complete })
})

/**
 * The live runner on the models, session store and run queue in context, with the MCP servers of
 * the config (connected on first use, closed with the layer).
 */
export const layerFromServices = Layer.effect(AgentRunner, make).pipe(Layer.provide(McpServers.layer))

/**
 * The live runner with the configured models (the library providers over a Node HttpClient of its
 * own) and the run queue, on the SessionStore in context (shared with the readiness check).
 */
export const layer = layerFromServices.pipe(
  Layer.provide(Layer.mergeAll(ModelRegistry.layer, RunQueue.layer)),
  Layer.provide(providerHttpClient)
)

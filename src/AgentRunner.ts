/**
 * AgentRunner: runs one turn of an agent. The endpoint and the `clawgate agent` command both go
 * through it; tests and embedding apps swap in their own layer (see `clawgate/testing`).
 */
import type * as AiError from "@effect/ai/AiError"
import * as IdGenerator from "@effect/ai/IdGenerator"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import type * as Toolkit from "@effect/ai/Toolkit"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { type Agent, Config, splitModel } from "./Config.js"
import * as Conversation from "./Conversation.js"
import { type AgentError, ProviderFailed, ProviderTimeout, ProviderUnreachable } from "./Errors.js"
import * as ClientTools from "./providers/ClientTools.js"
import type { Model } from "./providers/Provider.js"
import { fromAiError } from "./providers/ProviderErrors.js"
import { Models, providerHttpClient } from "./Models.js"
import { RunQueue } from "./RunQueue.js"
import { SessionStore } from "./SessionStore.js"
import type { SessionKey } from "./SessionKeys.js"

/** A tool call the model made; `arguments` is JSON text, as OpenAI sends it. */
export interface ToolCall {
  readonly id: string
  readonly name: string
  readonly arguments: string
}

/**
 * An image for the model: its media type and its bytes as base64 (standard alphabet, padded), and
 * OpenAI's `detail` when the client gave one. Base64, not bytes: every provider sends images as
 * base64, and a client's data URI already is (so it is never decoded and encoded again).
 */
export interface ImageInput {
  readonly mediaType: string
  readonly base64: string
  readonly detail?: "auto" | "low" | "high" | undefined
}

/** A piece of a user message with images, in the client's order. */
export type UserPart =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "image"; readonly image: ImageInput }

/** A conversation message, normalized from the wire: system text is carried apart. */
export interface ChatMessage {
  readonly role: "user" | "assistant" | "tool"
  /** The text; in a message that had images, `[image]` stands where each one was. */
  readonly content: string
  readonly name?: string | undefined
  /** A tool message: the call it answers. */
  readonly toolCallId?: string | undefined
  /** An assistant message: the tool calls it made (absent when none). */
  readonly toolCalls?: ReadonlyArray<ToolCall> | undefined
  /**
   * A user message of the current turn with images: its text and images as the model gets them.
   * Only `content` is stored in a session, so a transcript keeps `[image]`, not the bytes.
   */
  readonly parts?: ReadonlyArray<UserPart> | undefined
}

/** A `response_format` other than plain text: the answer must be a JSON object, or JSON of a schema. */
export type ResponseFormat =
  | { readonly type: "json_object" }
  | {
    readonly type: "json_schema"
    readonly name: string
    readonly description?: string | undefined
    /** The JSON Schema, as the client sent it. */
    readonly schema?: { readonly [key: string]: unknown } | undefined
    readonly strict?: boolean | undefined
  }

/** A function tool the client offers the model; its JSON Schema goes to the provider as it is. */
export interface ClientTool {
  readonly name: string
  readonly description?: string | undefined
  /** The JSON Schema of the arguments, as the client sent it (absent: no parameters). */
  readonly parameters?: { readonly [key: string]: unknown } | undefined
  readonly strict?: boolean | undefined
}

/** Which tools the model may or must call (`oneOf`: only these, `mode` saying whether it must). */
export type ToolChoice =
  | "auto"
  | "none"
  | "required"
  | { readonly tool: string }
  | { readonly oneOf: ReadonlyArray<string>; readonly mode: "auto" | "required" }

/** The client's tools for a run. The gateway never runs them: the model's calls go back to the client. */
export interface RunTools {
  /** At least one, names unique. */
  readonly tools: ReadonlyArray<ClientTool>
  readonly choice: ToolChoice
  /** Whether the model may call several tools at once (absent: the provider's default). */
  readonly parallel?: boolean | undefined
}

export interface Sampling {
  readonly temperature?: number | undefined
  readonly topP?: number | undefined
  readonly maxTokens?: number | undefined
  readonly stop?: ReadonlyArray<string> | undefined
  readonly seed?: number | undefined
}

export interface RunRequest {
  readonly runId: string
  readonly agent: Agent
  readonly sessionKey: SessionKey
  /** The turn's messages, oldest first; the last user or tool message is the one to answer. */
  readonly messages: ReadonlyArray<ChatMessage>
  /** The request's own system and developer text, added after the agent's system prompt. */
  readonly extraSystemPrompt: string | undefined
  readonly sampling: Sampling
  /** The client's tools, if it offered any. */
  readonly tools?: RunTools | undefined
  /** The answer's format, when the client asked for JSON (absent: text). */
  readonly responseFormat?: ResponseFormat | undefined
}

export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter"

export interface Usage {
  readonly promptTokens: number
  readonly completionTokens: number
}

/**
 * What a streamed run produces, in order: text deltas and tool calls, then usage and a finish
 * reason. A tool call starts with its id and name, then its arguments (JSON text) come in pieces.
 */
export type AgentEvent = Data.TaggedEnum<{
  TextDelta: { readonly text: string }
  ToolCallStart: { readonly id: string; readonly name: string }
  ToolCallDelta: { readonly id: string; readonly arguments: string }
  Usage: { readonly usage: Usage }
  Finish: { readonly reason: FinishReason }
}>
export const AgentEvent = Data.taggedEnum<AgentEvent>()

/** A whole answer, for requests that do not stream. */
export interface AgentReply {
  readonly text: string
  /** The tool calls the model made, in order (absent when none). */
  readonly toolCalls?: ReadonlyArray<ToolCall> | undefined
  readonly finishReason: FinishReason
  readonly usage: Usage | undefined
}

export class AgentRunner extends Context.Tag("clawgate/AgentRunner")<AgentRunner, {
  /** Runs the turn and streams its events; interrupting the stream cancels the run. */
  readonly stream: (request: RunRequest) => Stream.Stream<AgentEvent, AgentError>
  /** Runs the turn to its end. Kept apart from `stream` so a plain answer costs no Stream machinery. */
  readonly complete: (request: RunRequest) => Effect.Effect<AgentReply, AgentError>
}>() {
  /** The runner on the models, session store and run queue in context. */
  static readonly layerFromServices = Layer.effect(AgentRunner, Effect.suspend(() => make))

  /**
   * The runner with the configured models (over a Node HttpClient of its own) and the run queue,
   * on the SessionStore in context (shared with the readiness check).
   */
  static readonly layer = AgentRunner.layerFromServices.pipe(
    Layer.provide(Layer.mergeAll(Models.layer, RunQueue.layer)),
    Layer.provide(providerHttpClient)
  )

  /** A runner from its streaming half alone; `complete` folds the stream. */
  static readonly fromStream = (
    stream: (request: RunRequest) => Stream.Stream<AgentEvent, AgentError>
  ): Context.Tag.Service<AgentRunner> =>
    AgentRunner.of({ stream, complete: (request) => collect(stream(request)) })
}

const emptyReply: AgentReply = { text: "", finishReason: "stop", usage: undefined }

/** A reply with one more event. */
const addEvent = (reply: AgentReply, event: AgentEvent): AgentReply =>
  AgentEvent.$match(event, {
    TextDelta: ({ text }) => ({ ...reply, text: reply.text + text }),
    ToolCallStart: ({ id, name }) => ({ ...reply, toolCalls: [...reply.toolCalls ?? [], { id, name, arguments: "" }] }),
    ToolCallDelta: ({ arguments: piece, id }) => ({
      ...reply,
      toolCalls: reply.toolCalls?.map((call) => call.id === id ? { ...call, arguments: call.arguments + piece } : call)
    }),
    Usage: ({ usage }) => ({ ...reply, usage }),
    Finish: ({ reason }) => ({ ...reply, finishReason: reason })
  })

/** Folds a run's events into one reply. */
export const collect = <E, R>(events: Stream.Stream<AgentEvent, E, R>): Effect.Effect<AgentReply, E, R> =>
  Stream.runFold(events, emptyReply, addEvent)

// ---------------------------------------------------------------------------------------------
// The live runner
// ---------------------------------------------------------------------------------------------

/** A model's parts: as a provider of ours makes them, or as the LanguageModel of a library decodes them. */
type StreamPart = Response.StreamPartEncoded | Response.StreamPart<ClientTools.Tools>
type Part = Response.PartEncoded | Response.Part<ClientTools.Tools>

const finishReasons: Partial<Record<Response.FinishReason, FinishReason>> = {
  length: "length",
  "tool-calls": "tool_calls",
  "content-filter": "content_filter"
}

const usageOf = (usage: typeof Response.Usage.Encoded): Usage | undefined =>
  usage.inputTokens === undefined && usage.outputTokens === undefined
    ? undefined
    : { promptTokens: usage.inputTokens ?? 0, completionTokens: usage.outputTokens ?? 0 }

/** The provider's finish reason; a run that called tools finishes with `tool_calls`, as OpenAI's do. */
const finishReasonOf = (reason: Response.FinishReason, calledTools: boolean): FinishReason => {
  const mapped = finishReasons[reason] ?? "stop"
  return calledTools && mapped === "stop" ? "tool_calls" : mapped
}

/** A tool call part as the wire's: its arguments as JSON text. */
const toolCallOf = (part: { readonly id: string; readonly name: string; readonly params: unknown }): ToolCall => ({
  id: part.id,
  name: part.name,
  arguments: JSON.stringify(part.params)
})

/**
 * The streamed parts of one attempt as the runner's events: text deltas, tool calls (their start,
 * then their arguments as the provider streams them), usage and the finish reason. It follows the
 * calls under way: a call whose arguments were not streamed gets them whole from its final part.
 */
const eventsOf = () => {
  /** Each tool call started, and whether any of its arguments went out. */
  const calls = new Map<string, { sent: boolean }>()
  return (part: StreamPart): ReadonlyArray<AgentEvent> => {
    switch (part.type) {
      case "text-delta":
        return part.delta.length > 0 ? [AgentEvent.TextDelta({ text: part.delta })] : []
      case "tool-params-start":
        if (part.providerExecuted) return []
        calls.set(part.id, { sent: false })
        return [AgentEvent.ToolCallStart({ id: part.id, name: part.name })]
      case "tool-params-delta": {
        const call = calls.get(part.id)
        if (call === undefined || part.delta.length === 0) return []
        call.sent = true
        return [AgentEvent.ToolCallDelta({ id: part.id, arguments: part.delta })]
      }
      case "tool-call": {
        const call = calls.get(part.id)
        if (part.providerExecuted || call?.sent === true) return []
        calls.set(part.id, { sent: true })
        const whole = AgentEvent.ToolCallDelta({ id: part.id, arguments: toolCallOf(part).arguments })
        return call === undefined ? [AgentEvent.ToolCallStart({ id: part.id, name: part.name }), whole] : [whole]
      }
      case "finish": {
        const usage = usageOf(part.usage)
        const finish = AgentEvent.Finish({ reason: finishReasonOf(part.reason, calls.size > 0) })
        return usage === undefined ? [finish] : [AgentEvent.Usage({ usage }), finish]
      }
      default:
        return []
    }
  }
}

/** A whole answer's parts as the reply: its text, the tool calls left to the client, its finish. */
const replyOf = (parts: ReadonlyArray<Part>): AgentReply => {
  let text = ""
  const toolCalls: Array<ToolCall> = []
  let finish: Extract<Part, { readonly type: "finish" }> | undefined
  for (const part of parts) {
    if (part.type === "text") text += part.text
    else if (part.type === "tool-call" && part.providerExecuted !== true) toolCalls.push(toolCallOf(part))
    else if (part.type === "finish") finish = part
  }
  return {
    text,
    ...(toolCalls.length > 0 && { toolCalls }),
    finishReason: finishReasonOf(finish?.reason ?? "unknown", toolCalls.length > 0),
    usage: finish === undefined ? undefined : usageOf(finish.usage)
  }
}

/** The request's sampling over the agent's defaults, within the agent's caps. */
const samplingFor = (agent: Agent, requested: Sampling): Sampling => {
  const maxTokens = requested.maxTokens ?? agent.sampling.maxTokens
  return {
    temperature: requested.temperature ?? agent.sampling.temperature,
    topP: requested.topP ?? agent.sampling.topP,
    maxTokens: maxTokens === undefined ? agent.limits.maxTokens : Math.min(maxTokens, agent.limits.maxTokens ?? maxTokens),
    stop: requested.stop ?? agent.sampling.stop,
    seed: requested.seed ?? agent.sampling.seed
  }
}

/** Failures worth another try before the first token: the provider down or failing (5xx). */
const isTransient = (error: AgentError) =>
  error._tag === "ProviderUnreachable" || (error._tag === "ProviderFailed" && (error.status ?? 0) >= 500)

/** What the runner asks of a model for a turn: its prompt, and the client's tools. */
interface ModelInput {
  readonly prompt: ReadonlyArray<Prompt.MessageEncoded>
  readonly toolkit: Toolkit.WithHandler<ClientTools.Tools>
  readonly toolChoice: ToolChoice
}

/**
 * What `LanguageModel.make` gives a provider's calls: the prompt, the tools the model may call
 * (none: `toolChoice` is "none"), plain text, and the call's span.
 */
const providerOptions = (input: ModelInput, span: Tracer.Span): LanguageModel.ProviderOptions => {
  const tools = Object.values(input.toolkit.tools)
  const choice = input.toolChoice
  return {
    prompt: Prompt.make(input.prompt),
    tools: typeof choice === "object" && "oneOf" in choice ? tools.filter((tool) => choice.oneOf.includes(tool.name)) : tools,
    toolChoice: tools.length === 0 ? "none" : choice,
    responseFormat: { type: "text" },
    span
  }
}

/**
 * The model's parts for a turn, straight from its provider's calls when it has them; the call's
 * span lasts as long as the scope.
 */
const streamParts = (
  { calls, languageModel }: Model,
  input: ModelInput
): Effect.Effect<Stream.Stream<StreamPart, AiError.AiError, IdGenerator.IdGenerator>, never, Scope.Scope> =>
  calls === undefined
    ? Effect.succeed(languageModel.streamText({ ...input, disableToolCallResolution: true }))
    : Effect.map(
      Effect.makeSpanScoped("LanguageModel.streamText", { captureStackTrace: false }),
      (span) => calls.streamText(providerOptions(input, span))
    )

/** The model's whole answer for a turn, as its parts. */
const generateParts = ({ calls, languageModel }: Model, input: ModelInput): Effect.Effect<ReadonlyArray<Part>, AiError.AiError> =>
  calls === undefined
    ? Effect.map(languageModel.generateText({ ...input, disableToolCallResolution: true }), (response) => response.content)
    : Effect.useSpan(
      "LanguageModel.generateText",
      { captureStackTrace: false },
      (span) => calls.generateText(providerOptions(input, span))
    ).pipe(Effect.provideService(IdGenerator.IdGenerator, IdGenerator.defaultIdGenerator))

/** A stream's pull: its next elements, failing with none at its end. */
type Pull<A, E> = Effect.Effect<Chunk.Chunk<A>, Option.Option<E>>

/**
 * Opens a pull and pulls until its first elements (or its end), in a scope of its own that is
 * closed if that fails or is interrupted. `rest` pulls the others.
 */
const pullFirst = <A, E>(open: Effect.Effect<Pull<A, E>, never, Scope.Scope>) =>
  Effect.flatMap(Effect.scope, (parent) =>
    Effect.flatMap(Scope.fork(parent, ExecutionStrategy.sequential), (scope) =>
      Effect.gen(function*() {
        const pull = yield* Scope.extend(open, scope)
        let first = Chunk.empty<A>()
        let ended = false
        while (Chunk.isEmpty(first) && !ended) {
          first = yield* Effect.catchAll(pull, Option.match({
            onNone: () => {
              ended = true
              return Effect.succeed(Chunk.empty<A>())
            },
            onSome: (error) => Effect.fail(error)
          }))
        }
        const rest: Pull<A, E> = ended ? Effect.fail(Option.none()) : pull
        return { first, rest }
      }).pipe(Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause))))))

const make = Effect.gen(function*() {
  const settings = yield* Config
  const models = yield* Models
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
      context: model.settings(samplingFor(run.agent, run.sampling), run.tools, run.responseFormat),
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
      const attempt = Effect.map(Effect.provide(Stream.toPull(parts), context), (pull): Pull<AgentEvent, AgentError> => {
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
                  new ProviderFailed({ provider: turn.model.provider, detail: Inspectable.toStringUnknown(part.error) })
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
      })
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
        return Effect.catchAll(rest, Option.match({
          onNone: () => {
            finished = true
            return Effect.zipRight(Effect.mapError(turn.commit(reply), Option.some), Effect.fail(Option.none()))
          },
          onSome: (error) => Effect.fail(Option.some(error))
        }))
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

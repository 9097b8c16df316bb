/**
 * AgentRunner: runs one turn of an agent. The endpoint and the `clawgate agent` command both go
 * through it; tests and embedding apps swap in their own layer (see `clawgate/testing`).
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type { Agent } from "./Config.js"
import { type AgentError, ProviderUnreachable } from "./Errors.js"
import * as Echo from "./providers/Echo.js"
import type { SessionKey } from "./SessionKeys.js"

/** A conversation message, normalized from the wire: system text is carried apart. */
export interface ChatMessage {
  readonly role: "user" | "assistant" | "tool"
  readonly content: string
  readonly name?: string | undefined
  readonly toolCallId?: string | undefined
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
}

export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter"

export interface Usage {
  readonly promptTokens: number
  readonly completionTokens: number
}

/** What a streamed run produces, in order: text deltas, then usage and a finish reason. */
export type AgentEvent = Data.TaggedEnum<{
  TextDelta: { readonly text: string }
  Usage: { readonly usage: Usage }
  Finish: { readonly reason: FinishReason }
}>
export const AgentEvent = Data.taggedEnum<AgentEvent>()

/** A whole answer, for requests that do not stream. */
export interface AgentReply {
  readonly text: string
  readonly finishReason: FinishReason
  readonly usage: Usage | undefined
}

export class AgentRunner extends Context.Tag("clawgate/AgentRunner")<AgentRunner, {
  /** Runs the turn and streams its events; interrupting the stream cancels the run. */
  readonly stream: (request: RunRequest) => Stream.Stream<AgentEvent, AgentError>
  /** Runs the turn to its end. Kept apart from `stream` so a plain answer costs no Stream machinery. */
  readonly complete: (request: RunRequest) => Effect.Effect<AgentReply, AgentError>
}>() {
  /** The built-in runner: the `echo` model. Agents on other models fail with ProviderUnreachable. */
  static readonly layer = Layer.succeed(
    AgentRunner,
    AgentRunner.of({
      stream: (request) =>
        request.agent.model === "echo"
          ? Echo.stream(request)
          : Stream.fail(new ProviderUnreachable({ provider: providerOf(request.agent.model) })),
      complete: Effect.fn("AgentRunner.complete")(function*(request: RunRequest) {
        return request.agent.model === "echo"
          ? Echo.complete(request)
          : yield* new ProviderUnreachable({ provider: providerOf(request.agent.model) })
      })
    })
  )

  /** A runner from its streaming half alone; `complete` folds the stream. */
  static readonly fromStream = (
    stream: (request: RunRequest) => Stream.Stream<AgentEvent, AgentError>
  ): Context.Tag.Service<AgentRunner> =>
    AgentRunner.of({ stream, complete: (request) => collect(stream(request)) })
}

const providerOf = (model: string) => model.split("/")[0] ?? model

const emptyReply: AgentReply = { text: "", finishReason: "stop", usage: undefined }

/** Folds a run's events into one reply. */
export const collect = <E, R>(events: Stream.Stream<AgentEvent, E, R>): Effect.Effect<AgentReply, E, R> =>
  Stream.runFold(
    events,
    emptyReply,
    (reply, event): AgentReply =>
      AgentEvent.$match(event, {
        TextDelta: ({ text }) => ({ ...reply, text: reply.text + text }),
        Usage: ({ usage }) => ({ ...reply, usage }),
        Finish: ({ reason }) => ({ ...reply, finishReason: reason })
      })
  )

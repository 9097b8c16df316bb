/**
 * What a model provider gives the agent runner: one model, asked for an answer in the run's own
 * words (./ModelRequest below) and answering with the run's events, as a pull per read of the
 * provider's answer, or as one reply. The runner is written once against this; each `api` of
 * `models.providers` has a module here, and the built-in `echo` model is one too.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ProviderEntry } from "../config/ConfigFile.js"
import type { AgentEvent, AgentReply, ToolCall } from "../domain/AgentEvent.js"
import type { AgentError, ProviderTimeout } from "../domain/Errors.js"
import type { Pull } from "../domain/Pull.js"
import type { AnswerFormat, RunTools, Sampling, UserPart } from "../domain/Run.js"

/**
 * A message as a model gets it. Every tool result answers a call of the conversation (a result
 * that answers none reaches the model as user text; see agent/Conversation.ts).
 */
export type ModelMessage =
  | {
    readonly role: "user"
    readonly content: string
    /** Its text and images in the client's order, when it has images. */
    readonly parts?: ReadonlyArray<UserPart> | undefined
  }
  | { readonly role: "assistant"; readonly content: string; readonly toolCalls?: ReadonlyArray<ToolCall> | undefined }
  | { readonly role: "tool"; readonly toolCallId: string; readonly name: string; readonly content: string }

/** What a model is asked for one answer. */
export interface ModelRequest {
  /** The agent's system prompt and the request's own system text, joined (absent: none). */
  readonly system: string | undefined
  /** The conversation, oldest first, ending with what to answer. */
  readonly messages: ReadonlyArray<ModelMessage>
  /** The client's tools, if it offered any; the model's calls of them go back to the client. */
  readonly tools: RunTools | undefined
  /** The run's sampling, over the agent's defaults and within its caps. */
  readonly sampling: Sampling
  /** A JSON answer, when the client asked for one (only to models that can honour it). */
  readonly answerFormat: AnswerFormat | undefined
  /**
   * How long the answer may take to start (a stream: its first events; `complete`: the whole
   * answer); past it the call is cancelled and fails with `error()`. A model keeps it with a
   * timer of its call's own, not a race per call.
   */
  readonly timeLimit: { readonly ms: number; readonly error: () => ProviderTimeout }
}

export interface Model {
  /** The provider's name in `models.providers`, for errors and logs. */
  readonly provider: string
  /** The model id sent to the provider. */
  readonly model: string
  /**
   * Starts an answer: the pull of its events, one pull per read of the provider's answer. The call
   * lasts as long as the scope; closing the scope cancels it.
   */
  readonly open: (request: ModelRequest) => Effect.Effect<Pull<AgentEvent, AgentError>, AgentError, Scope.Scope>
  /** The whole answer (for requests that do not stream). */
  readonly complete: (request: ModelRequest) => Effect.Effect<AgentReply, AgentError>
}

export interface ModelOptions {
  readonly provider: string
  readonly entry: ProviderEntry
  readonly model: string
}

/**
 * Builds a Model; what it holds (connections, clients) lasts as long as the scope. The HttpClient
 * is the gateway's, for providers built on a library that calls out through one.
 */
export type MakeModel = (options: ModelOptions) => Effect.Effect<Model, never, HttpClient.HttpClient | Scope.Scope>

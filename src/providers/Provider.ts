/**
 * What a model provider gives the agent runner: an @effect/ai LanguageModel for one model, and the
 * provider's own request settings for a run's sampling options (temperature, max tokens, ...).
 * The runner is written once against this; each `api` of `models.providers` has a module here.
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ProviderEntry } from "../config/ConfigFile.js"
import type { AnswerFormat, RunTools, Sampling } from "../domain/Run.js"

export interface Model {
  /** The provider's name in `models.providers`, for errors and logs. */
  readonly provider: string
  /** The model id sent to the provider. */
  readonly model: string
  readonly languageModel: LanguageModel.Service
  /**
   * The calls a provider of our own gave `LanguageModel.make`, which the runner makes directly: a
   * call through `languageModel` builds a response Schema anew and decodes every part with it,
   * which costs more than the rest of a run (bench/README.md). Absent for the library providers.
   */
  readonly calls?: LanguageModel.ConstructorParams | undefined
  /**
   * The provider's request settings for a run's sampling options, when the client offered tools,
   * its tool options (parallel calls, strictness), and when it asked for JSON, the response format,
   * as services to provide around the LanguageModel call (for example `OpenAiLanguageModel.Config`).
   * The tools themselves reach the provider through the LanguageModel's toolkit. A provider that
   * cannot honour a response format is never given one: the endpoint answers 400 first (see
   * `http/chat/AnswerFormat.ts`).
   */
  readonly settings: (
    sampling: Sampling,
    tools?: RunTools | undefined,
    answerFormat?: AnswerFormat | undefined
  ) => Context.Context<never>
}

export interface ModelOptions {
  readonly provider: string
  readonly entry: ProviderEntry
  readonly model: string
}

/** Builds a Model; the HttpClient is the gateway's, so a cancelled run aborts its request. */
export type MakeModel = (options: ModelOptions) => Effect.Effect<Model, never, HttpClient.HttpClient | Scope.Scope>

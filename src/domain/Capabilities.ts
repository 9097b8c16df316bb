/**
 * What each kind of model can do, in one table: the built-in `echo` model and each `api` of
 * `models.providers`. The endpoint checks requests against it (a temperature, a JSON answer, images)
 * and the config checks an agent's defaults against it, so that a run never fails upstream for
 * something the gateway could have said first.
 */

/** The `api`s of `models.providers.<name>.api`. */
export const PROVIDER_APIS = ["openai-completions", "anthropic-messages", "openai-responses"] as const
export type ProviderApi = typeof PROVIDER_APIS[number]

/** The kind of model behind an agent: `echo`, or its provider's api. */
export type ModelKind = ProviderApi | "echo"

export interface Capabilities {
  /** How an error message names it. */
  readonly title: string
  /** The highest sampling temperature it takes (OpenAI's APIs take up to 2, Anthropic's up to 1). */
  readonly maxTemperature: number
  /** What it does with a JSON answer format: honours it, ignores it, or cannot give one. */
  readonly answerFormat: "native" | "ignored" | "unsupported"
  /** Whether images of the current turn reach it. */
  readonly images: boolean
}

export const capabilities: Readonly<Record<ModelKind, Capabilities>> = {
  echo: { title: "the built-in echo model", maxTemperature: 2, answerFormat: "ignored", images: false },
  "openai-completions": { title: "the Chat Completions API", maxTemperature: 2, answerFormat: "native", images: true },
  "openai-responses": { title: "OpenAI's Responses API", maxTemperature: 2, answerFormat: "native", images: true },
  "anthropic-messages": {
    title: "Anthropic's Messages API",
    maxTemperature: 1,
    answerFormat: "unsupported",
    images: true
  }
}

/**
 * An agent as the gateway runs it: its model, its system prompt and the defaults and caps of its
 * runs, resolved from `agents.defaults` and `agents.list` (see config/Settings.ts).
 */
import type { ModelKind } from "./Capabilities.js"
import type { Sampling } from "./Sampling.js"

export interface Agent {
  readonly id: string
  readonly name: string | undefined
  /** `echo` or `<provider>/<model>`. */
  readonly model: string
  /** The kind of model that is: `echo`, or the api of its provider. */
  readonly kind: ModelKind
  readonly systemPrompt: string | undefined
  readonly firstTokenTimeoutMs: number
  /** Defaults for its runs; a request's own values win. */
  readonly sampling: Sampling
  /** Caps on what a request may ask for. */
  readonly limits: { readonly maxTokens?: number | undefined }
}

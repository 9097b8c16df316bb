/**
 * Models: the LanguageModel behind each agent, built once at start-up from `models.providers`.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { type Agent, Config, type ProviderEntry, splitModel } from "./Config.js"
import * as AnthropicMessages from "./providers/AnthropicMessages.js"
import * as Echo from "./providers/Echo.js"
import * as OpenAiCompletions from "./providers/OpenAiCompletions.js"
import * as OpenAiResponses from "./providers/OpenAiResponses.js"
import type { MakeModel, Model } from "./providers/Provider.js"

/** One module per `api` of `models.providers`. */
const makers: Record<ProviderEntry["api"], MakeModel> = {
  "openai-completions": OpenAiCompletions.make,
  "anthropic-messages": AnthropicMessages.make,
  "openai-responses": OpenAiResponses.make
}

export class Models extends Context.Tag("clawgate/Models")<Models, {
  /** The agent's model; none when it names a provider the gateway was not configured with. */
  readonly forAgent: (agent: Agent) => Option.Option<Model>
}>() {
  static readonly layer: Layer.Layer<Models, never, Config | HttpClient.HttpClient> = Layer.scoped(
    Models,
    Effect.gen(function*() {
      const settings = yield* Config
      const byName = new Map<string, Model>([["echo", yield* Echo.make]])
      for (const agent of settings.agents) {
        if (byName.has(agent.model)) continue
        const [provider, model] = splitModel(agent.model)
        const entry = settings.providers[provider]
        if (entry !== undefined) byName.set(agent.model, yield* makers[entry.api]({ provider, entry, model }))
      }
      return Models.of({ forAgent: (agent) => Option.fromNullable(byName.get(agent.model)) })
    })
  )
}

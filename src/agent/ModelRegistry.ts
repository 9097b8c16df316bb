/**
 * ModelRegistry: the model behind each agent, built once at start-up from `models.providers`.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type { HttpClientError } from "@effect/platform/HttpClientError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Config } from "../config/Config.js"
import { type ProviderEntry } from "../config/ConfigFile.js"
import { splitModel } from "../config/Settings.js"
import { type Agent } from "../domain/Agent.js"
import * as Echo from "../providers/Echo.js"
import type { MakeModel, Model } from "../providers/Provider.js"

/**
 * One module per `api` of `models.providers`, loaded only when the config names it: the provider
 * libraries are large (@effect/ai-openai alone adds ~0.3 s and ~70 MB to start-up).
 */
const makers: Record<ProviderEntry["api"], () => Promise<MakeModel>> = {
  "openai-completions": () => import("../providers/openai-completions/Model.js").then((module) => module.make),
  "anthropic-messages": () => import("../providers/anthropic-messages/Model.js").then((module) => module.make),
  "openai-responses": () => import("../providers/OpenAiResponses.js").then((module) => module.make)
}

export class ModelRegistry extends Context.Tag("clawgate/ModelRegistry")<ModelRegistry, {
  /** The agent's model; none when it names a provider the gateway was not configured with. */
  readonly forAgent: (agent: Agent) => Option.Option<Model>
}>() {
  static readonly layer: Layer.Layer<ModelRegistry, never, Config | HttpClient.HttpClient> = Layer.scoped(
    ModelRegistry,
    Effect.gen(function*() {
      const settings = yield* Config
      const byName = new Map<string, Model>([["echo", Echo.model]])
      for (const agent of settings.agents) {
        if (byName.has(agent.model)) continue
        const [provider, model] = splitModel(agent.model)
        const entry = settings.providers[provider]
        if (entry === undefined) continue
        const make = yield* Effect.promise(makers[entry.api])
        byName.set(agent.model, yield* make({ provider, entry, model }))
      }
      return ModelRegistry.of({ forAgent: (agent) => Option.fromNullable(byName.get(agent.model)) })
    })
  )
}

/**
 * The HttpClient the library providers call out on (the platform's client on undici). It sends no
 * trace headers: the gateway's trace ids are its own business, not the provider's. The client is
 * made on its first request: undici is a megabyte of code that a gateway whose providers are all
 * `openai-completions` (on node:http) or `echo` never loads.
 */
export const providerHttpClient: Layer.Layer<HttpClient.HttpClient> = Layer.scoped(
  HttpClient.HttpClient,
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const undici = yield* Effect.cached(
      Effect.promise(() => import("@effect/platform-node/NodeHttpClient")).pipe(
        Effect.flatMap((NodeHttpClient) => Layer.buildWithScope(NodeHttpClient.layerUndici, scope)),
        Effect.map(Context.get(HttpClient.HttpClient))
      )
    )
    return HttpClient.makeWith<never, never, HttpClientError, never>(
      (request) => Effect.flatMap(undici, (client) => Effect.flatMap(request, client.execute)),
      Effect.succeed
    ).pipe(HttpClient.withTracerPropagation(false))
  })
)

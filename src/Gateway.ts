/**
 * The whole gateway as one layer: the routes, their services and the graceful drain, on the
 * HttpServer in context. Embedding apps (and tests) give the config and, if they like, their own
 * AgentRunner; `clawgate serve` adds a Node server.
 */
import * as Layer from "effect/Layer"
import { AgentRunner } from "./AgentRunner.js"
import { Auth } from "./Auth.js"
import type { Config } from "./Config.js"
import { Drain } from "./Drain.js"
import * as Http from "./Http.js"
import { SessionKeys } from "./SessionKeys.js"
import { SessionStore } from "./SessionStore.js"

export const layer = <E, R, RE = never, RR = never>(
  config: Layer.Layer<Config, E, R>,
  options: {
    /** Replaces the live runner (the configured models). */
    readonly runner?: Layer.Layer<AgentRunner, RE, RR>
    /** Replaces the bearer-secret check. */
    readonly auth?: Layer.Layer<Auth, never, Config>
  } = {}
) =>
  Layer.mergeAll(Http.layer, Drain.onShutdown).pipe(
    Layer.provide(Layer.mergeAll(
      options.auth ?? Auth.layer,
      SessionKeys.layer,
      options.runner ?? AgentRunner.layer,
      Drain.layer
    )),
    Layer.provideMerge(SessionStore.layer),
    Layer.provideMerge(config)
  )

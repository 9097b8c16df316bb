/**
 * The whole gateway as one layer, on the HttpServer in context. Embedding apps (and tests) give
 * the config and, if they like, their own AgentRunner; `clawgate serve` adds a Node server and
 * config reloads.
 *
 * What a config decides (the settings, auth, agents and their models, the routes) is a generation,
 * built in a scope of its own. A reload builds the next generation and sends new requests to it;
 * the previous one is closed once its answers in flight have finished, so they end on the config
 * they started with. The session store, the run queue and the drain outlive reloads.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Auth } from "./access/Auth.js"
import { SessionKeys } from "./access/SessionKeys.js"
import type { AgentRunner } from "./agent/AgentRunner.js"
import * as LiveRunner from "./agent/LiveRunner.js"
import { ModelRegistry, providerHttpClient } from "./agent/ModelRegistry.js"
import { RunQueue } from "./agent/RunQueue.js"
import { Config } from "./config/Config.js"
import { type Settings } from "./config/Settings.js"
import * as NodeServer from "./http/NodeServer.js"
import * as Router from "./http/Router.js"
import { Drain } from "./ops/Drain.js"
import * as Telemetry from "./ops/Telemetry.js"
import { ResponseStore } from "./store/ResponseStore.js"
import { SessionStore } from "./store/SessionStore.js"

export interface Options<RE> {
  /** Replaces the live runner (the configured models); it may use the config, queue and store. */
  readonly runner?: Layer.Layer<AgentRunner, RE, Config | RunQueue | SessionStore>
  /** Replaces the bearer-secret check. */
  readonly auth?: Layer.Layer<Auth, never, Config>
  /** Replaces the session store of `session.store` (for example one on your own SQL client). */
  readonly store?: Layer.Layer<SessionStore, never, Config>
  /** New, already validated settings to switch to (see `Cli` for SIGHUP and file changes). */
  readonly reloads?: Stream.Stream<Settings>
}

/** The live runner on the shared run queue and store, with this generation's models. */
const liveRunner = LiveRunner.layerFromServices.pipe(
  Layer.provide(ModelRegistry.layer),
  Layer.provide(providerHttpClient)
)

interface Generation {
  readonly app: Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    unknown,
    HttpServerRequest.HttpServerRequest | Scope.Scope
  >
  readonly scope: Scope.CloseableScope
  /** Requests (with their response bodies) still being answered. */
  inFlight: number
  retired: boolean
  /** Completed once the generation is retired, idle and closed. */
  readonly closed: Deferred.Deferred<void>
}

export const layer = <E, R, RE = never>(
  config: Layer.Layer<Config, E, R>,
  options: Options<RE> = {}
) =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const shared = yield* Effect.context<SessionStore | ResponseStore | RunQueue | Drain>()
    const services = Layer.mergeAll(options.auth ?? Auth.layer, SessionKeys.layer, options.runner ?? liveRunner)

    /**
     * A generation's routes and services. The first is built like any layer (sharing what the app
     * shares); reloads use a fresh memo map, so that the new config's models are built anew.
     */
    const build = (settings: Settings, memoMap: Layer.MemoMap) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const routes = Router.routes.pipe(
          Layer.provide(services),
          Layer.provide(Layer.succeed(Config, settings)),
          Layer.provide(Layer.succeedContext(shared))
        )
        const app = yield* HttpLayerRouter.toHttpEffect(routes).pipe(
          Scope.extend(scope),
          Effect.provideService(Layer.CurrentMemoMap, memoMap),
          Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
        )
        const generation: Generation = {
          app,
          scope,
          inFlight: 0,
          retired: false,
          closed: yield* Deferred.make<void>()
        }
        return generation
      })

    const close = (generation: Generation) =>
      Effect.zipRight(Scope.close(generation.scope, Exit.void), Deferred.succeed(generation.closed, undefined))

    const closeIfDone = (generation: Generation) =>
      generation.retired && generation.inFlight === 0 ? close(generation) : Effect.void

    /** The generation new requests go to (read on every request, so a variable and not a Ref). */
    let current = yield* build(yield* Config, yield* Layer.CurrentMemoMap)

    // Each request holds its generation until the request scope closes: after the response body.
    yield* HttpServer.serveEffect()(Effect.flatMap(Effect.scope, (scope) => {
      const generation = current
      generation.inFlight += 1
      return Effect.zipRight(
        Scope.addFinalizer(
          scope,
          Effect.suspend(() => {
            generation.inFlight -= 1
            return closeIfDone(generation)
          })
        ),
        generation.app
      )
    }))

    // Shutdown, registered after the serving so that it runs first (finalizers run in reverse):
    // drain, and keep the last generation until its answers are done, or until the drain's cutoff.
    // The server keeps listening meanwhile (/readyz answers 503, new requests are turned away);
    // it stops once the gateway is released. At the cutoff, what is left is abandoned, and the
    // server's connections are cut so that its close does not wait on them either.
    const drain = yield* Drain
    const listener = yield* Effect.serviceOption(NodeServer.Listener)
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* Effect.logInfo("Shutting down: draining the answers in flight")
        yield* drain.start
        if (listener._tag === "Some") yield* Effect.forkDaemon(Effect.zipRight(drain.cutoff, listener.value.closeAll))
        const last = current
        last.retired = true
        yield* closeIfDone(last)
        // Finalizers run uninterruptibly: the race's loser must be interruptible, or it would be waited for.
        yield* Effect.raceFirst(Effect.interruptible(Deferred.await(last.closed)), Effect.interruptible(drain.cutoff))
        yield* close(last)
      })
    )

    if (options.reloads !== undefined) {
      yield* options.reloads.pipe(
        Stream.runForEach((settings) =>
          Effect.flatMap(Layer.makeMemoMap, (memoMap) => build(settings, memoMap)).pipe(
            Effect.flatMap((next) => {
              const previous = current
              current = next
              previous.retired = true
              return Effect.zipRight(Effect.logInfo("Config reloaded"), closeIfDone(previous))
            }),
            Effect.catchAllCause((cause) => Effect.logError("Config reload failed; keeping the current config", cause))
          )
        ),
        Effect.forkScoped
      )
    }
  })).pipe(
    Layer.provide(Layer.mergeAll(RunQueue.layer, Drain.layer)),
    // Traces when `telemetry.otlp.endpoint` is set: the tracer is in place before the serving starts.
    Layer.provide(Telemetry.layerFromConfig),
    Layer.provide(ResponseStore.layer),
    Layer.provideMerge(options.store ?? SessionStore.layer),
    Layer.provideMerge(config)
  )

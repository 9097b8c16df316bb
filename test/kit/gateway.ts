/**
 * The gateway under test, in this process: the app's own `Gateway.layer` from an in-memory config,
 * served on a free loopback port. Every in-process test builds its gateway with `testGateway`.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as Stream from "effect/Stream"
import type { Auth } from "../../src/access/Auth.js"
import type { AgentRunner } from "../../src/agent/AgentRunner.js"
import type { RunQueue } from "../../src/agent/RunQueue.js"
import { Config } from "../../src/config/Config.js"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import type { Settings } from "../../src/config/Settings.js"
import * as Gateway from "../../src/Gateway.js"
import * as NodeServer from "../../src/http/NodeServer.js"
import { Drain } from "../../src/ops/Drain.js"
import type { SessionStore } from "../../src/store/SessionStore.js"

export const TOKEN = "test-token"

/**
 * An enabled endpoint with token auth and agents `main` (default) and `beta`, all on `echo`, with
 * an in-memory session store.
 */
export const baseConfig = {
  gateway: {
    http: { endpoints: { chatCompletions: { enabled: true } } },
    auth: { mode: "token", token: TOKEN }
  },
  agents: { list: [{ id: "main", default: true, model: "echo" }, { id: "beta", model: "echo" }] },
  session: { store: { path: ":memory:" } }
} satisfies ConfigInput

/** `baseConfig` with some top-level sections replaced. */
export const configWith = (overrides: Partial<ConfigInput>): ConfigInput => ({ ...baseConfig, ...overrides })

/** `baseConfig` with `gateway` settings merged over its own. */
export const gatewayWith = (gateway: NonNullable<ConfigInput["gateway"]>): ConfigInput =>
  configWith({ gateway: { ...baseConfig.gateway, ...gateway } })

/** `baseConfig` with the endpoint's settings (maxBodyBytes, keepAliveMs, images, ...) changed. */
export const endpointWith = (
  endpoint: Omit<
    NonNullable<NonNullable<NonNullable<ConfigInput["gateway"]>["http"]>["endpoints"]>["chatCompletions"],
    "enabled"
  >
): ConfigInput => gatewayWith({ http: { endpoints: { chatCompletions: { enabled: true, ...endpoint } } } })

/**
 * The HTTP server the gateway under test is served on: the gateway's own, on a free loopback port.
 * It is chosen here and nowhere else.
 */
const testServer = NodeServer.layerServer({ port: 0, host: "127.0.0.1" })

/**
 * Effect's HttpClient aimed at the gateway under test, whatever its server, for the tests that
 * speak it. No keep-alive: an idle connection would hold up the server's close.
 */
const testClient = HttpServer.layerTestClient.pipe(
  Layer.provide(NodeHttpClient.layerWithoutAgent),
  Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: false }))
)

export interface GatewayOptions<E> {
  /** Default: `baseConfig`. */
  readonly config?: ConfigInput
  /** Replaces the live runner; it may use the config, the run queue and the session store. */
  readonly runner?: Layer.Layer<AgentRunner, E, Config | RunQueue | SessionStore>
  readonly auth?: Layer.Layer<Auth, never, Config>
  /** Replaces the session store of `session.store`. */
  readonly store?: Layer.Layer<SessionStore, never, Config>
  /** Configs to switch to, as a reload would (validated settings). */
  readonly reloads?: Stream.Stream<Settings>
  /** Where the gateway's log goes, e.g. `capturingLogs`'s layer. Default: nowhere. */
  readonly logs?: Layer.Layer<never>
  /**
   * Another HTTP server than the test server, for the tests of that server itself (the Node server
   * `clawgate serve` runs, `NodeServer.layer`).
   */
  readonly server?: Layer.Layer<HttpServer.HttpServer, ServeError, Config>
}

/**
 * The gateway for the enclosing scope. It provides what the test may need of it: `HttpServer`
 * (its address), an `HttpClient` aimed at it, its `Config`, `SessionStore` and `Drain` (to start
 * draining as a shutdown would).
 */
export const testGateway = <E = never>(options: GatewayOptions<E> = {}) => {
  const config = Config.layerFrom(options.config ?? baseConfig)
  return Layer.merge(
    Gateway.layer(config, {
      ...(options.runner !== undefined && { runner: options.runner }),
      ...(options.auth !== undefined && { auth: options.auth }),
      ...(options.store !== undefined && { store: options.store }),
      ...(options.reloads !== undefined && { reloads: options.reloads })
    }),
    // The same layer values as inside the gateway: built once, so this is the gateway's own Drain.
    Drain.layer.pipe(Layer.provideMerge(config))
  ).pipe(
    Layer.provideMerge(testClient.pipe(Layer.provideMerge(options.server ?? testServer))),
    Layer.provide(config),
    Layer.provide(NodeContext.layer),
    Layer.provide(options.logs ?? Logger.minimumLogLevel(LogLevel.None))
  )
}

/** `http://127.0.0.1:<port>` of the gateway under test. */
export const baseUrl = HttpServer.addressWith((address) =>
  Effect.succeed(address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "http://invalid")
)

/**
 * The test harness: a real gateway on a loopback port (NodeServer.layerTest), from an
 * in-memory config and any AgentRunner layer.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeServer from "../src/http/NodeServer.js"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Auth } from "../src/access/Auth.js"
import type { AgentRunner } from "../src/agent/AgentRunner.js"
import type { RunQueue } from "../src/agent/RunQueue.js"
import { Config } from "../src/config/Config.js"
import { type ConfigInput } from "../src/config/ConfigFile.js"
import * as Gateway from "../src/Gateway.js"
import type { SessionStore } from "../src/store/SessionStore.js"

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

/**
 * The gateway served on a free loopback port. Provides the platform `HttpClient` aimed at it
 * (from `layerTest`), `HttpServer` (for its address) and the `Config` in force.
 */
export const gateway = <E = never>(
  options: {
    readonly config?: ConfigInput
    /** It may use the config, the run queue and the session store of the gateway. */
    readonly runner?: Layer.Layer<AgentRunner, E, Config | RunQueue | SessionStore>
    readonly auth?: Layer.Layer<Auth, never, Config>
  } = {}
) =>
  Gateway.layer(Config.layerFrom(options.config ?? baseConfig), {
    ...(options.runner && { runner: options.runner }),
    ...(options.auth && { auth: options.auth })
  }).pipe(
    Layer.provideMerge(NodeServer.layerTest),
    Layer.provide(NodeContext.layer)
  )

/** `http://127.0.0.1:<port>` of the gateway under test. */
export const baseUrl = HttpServer.addressWith((address) =>
  Effect.succeed(address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "http://invalid")
)

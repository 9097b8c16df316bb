/**
 * The operations tests' gateway: test/support.ts's loopback gateway, with the `Drain` shared with
 * the test (so it can start draining as a shutdown would) and a session store of the test's choice.
 * Plus small request helpers: `fetch` for plain answers, node:http with an SSE reader for streams.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeServer from "../../src/http/NodeServer.js"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Ref from "effect/Ref"
import type { Auth } from "../../src/access/Auth.js"
import type { AgentRunner } from "../../src/agent/AgentRunner.js"
import type { RunQueue } from "../../src/agent/RunQueue.js"
import { Config } from "../../src/config/Config.js"
import { type ConfigError } from "../../src/config/ConfigError.js"
import { type ConfigInput } from "../../src/config/ConfigFile.js"
import { SessionStoreUnavailable } from "../../src/domain/Errors.js"
import * as Gateway from "../../src/Gateway.js"
import { Drain } from "../../src/ops/Drain.js"
import { SessionStore } from "../../src/store/SessionStore.js"
import { FakeAgentRunner } from "../../src/testing.js"
import { controlledRuns } from "../controlledRuns.js"
import { postTo } from "../rawHttp.js"
import { baseConfig, TOKEN } from "../support.js"

export const PATH = "/v1/chat/completions"

/** `baseConfig` with `gateway.shutdownGraceMs` set. */
export const withGrace = (shutdownGraceMs: number, config: ConfigInput = baseConfig): ConfigInput => ({
  ...config,
  gateway: { ...config.gateway, shutdownGraceMs }
})

/**
 * The gateway (request log silenced) on `runner`, giving the test its `Drain`, `Config` and
 * `HttpServer`. It is the app's own `Gateway.layer`; the test's `Drain.layer` is the same layer
 * value on the same config layer value as the gateway's, so it is built once and shared.
 *
 * With `store`, a gateway on that session store instead: the same routes and services, composed
 * here (Gateway.layer always opens the configured store).
 */
export const opsGateway = <E = never>(
  options: {
    readonly config?: ConfigInput
    readonly runner?: Layer.Layer<AgentRunner, E, Config | RunQueue | SessionStore>
    readonly auth?: Layer.Layer<Auth, never, Config>
    readonly store?: Layer.Layer<SessionStore>
  } = {}
): Layer.Layer<Drain | Config | HttpServer.HttpServer, ConfigError | ServeError | E> => {
  const config = Config.layerFrom(options.config ?? baseConfig)
  const served = <A, E1, R1>(app: Layer.Layer<A, E1, R1>) =>
    app.pipe(
      Layer.provideMerge(NodeServer.layerTest),
      Layer.provide(NodeContext.layer),
      Layer.provide(Logger.minimumLogLevel(LogLevel.None))
    )
  return served(Layer.merge(
    Gateway.layer(config, {
      ...(options.runner && { runner: options.runner }),
      ...(options.auth && { auth: options.auth }),
      ...(options.store && { store: options.store })
    }),
    Drain.layer.pipe(Layer.provideMerge(config))
  ))
}

// ---------------------------------------------------------------------------------------------
// A session store that can be taken down
// ---------------------------------------------------------------------------------------------

/** A session store whose every call fails while `up` is false. */
export const switchableStore = (up: Ref.Ref<boolean>): Layer.Layer<SessionStore> =>
  Layer.succeed(
    SessionStore,
    SessionStore.of({
      load: () =>
        Effect.flatMap(Ref.get(up), (ok) =>
          ok ? Effect.succeed([]) : Effect.fail(new SessionStoreUnavailable({ cause: "down" }))),
      commit: () =>
        Effect.flatMap(Ref.get(up), (ok) =>
          ok ? Effect.void : Effect.fail(new SessionStoreUnavailable({ cause: "down" })))
    })
  )

// ---------------------------------------------------------------------------------------------
// A runner the test drives
// ---------------------------------------------------------------------------------------------

export type { ControlledRun, Ending } from "../controlledRuns.js"

/** A runner whose runs say and finish only when the test tells them to (see controlledRuns). */
export const controlledRunner = Effect.map(
  controlledRuns,
  ({ next, script }) => ({ layer: FakeAgentRunner.layer(script), next })
)

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/** `http://127.0.0.1:<port>` of the gateway under test. */
export const baseUrl = HttpServer.addressWith((address) =>
  Effect.succeed(address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "http://invalid")
)

export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

/** A request read to its end; `token: null` sends no Authorization header. */
export const request = (
  path: string,
  options: { readonly method?: string; readonly token?: string | null; readonly body?: unknown } = {}
) =>
  Effect.gen(function*() {
    const url = yield* baseUrl
    const headers: Record<string, string> = {}
    const token = options.token === undefined ? TOKEN : options.token
    if (token !== null) headers.authorization = `Bearer ${token}`
    if (options.body !== undefined) headers["content-type"] = "application/json"
    return yield* Effect.promise(async (): Promise<Reply> => {
      const response = await fetch(`${url}${path}`, {
        method: options.method ?? "GET",
        headers,
        ...(options.body !== undefined && { body: JSON.stringify(options.body) })
      })
      return { status: response.status, headers: response.headers, text: await response.text() }
    })
  })

/** A chat request body for agent `main`. */
export const hello = (extra: Record<string, unknown> = {}) => ({
  model: "clawdbot:main",
  messages: [{ role: "user", content: "hello there" }],
  ...extra
})

/** `postTo` the gateway under test. */
export const post = (payload: unknown) => Effect.flatMap(baseUrl, (url) => postTo(url, payload, TOKEN))

// ---------------------------------------------------------------------------------------------
// SSE events
// ---------------------------------------------------------------------------------------------

const dataOf = (event: string): unknown => event.startsWith("data: {") ? JSON.parse(event.slice(6)) : undefined

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

/** The first choice of a chunk event, if the event is a chunk. */
const choiceOf = (event: string): Record<string, unknown> | undefined => {
  const data = dataOf(event)
  if (!isRecord(data) || !Array.isArray(data.choices)) return undefined
  const [choice]: ReadonlyArray<unknown> = data.choices
  return isRecord(choice) ? choice : undefined
}

/** The content of a content chunk (not the empty role chunk). */
export const contentOf = (event: string): string | undefined => {
  const delta = choiceOf(event)?.delta
  return isRecord(delta) && typeof delta.content === "string" && delta.content !== "" ? delta.content : undefined
}

export const isContent = (event: string) => contentOf(event) !== undefined

/** The text of all content chunks. */
export const textOf = (events: ReadonlyArray<string>) => events.flatMap((event) => contentOf(event) ?? []).join("")

/** The finish reasons the chunks carry. */
export const finishReasons = (events: ReadonlyArray<string>) =>
  events.flatMap((event) => {
    const reason = choiceOf(event)?.finish_reason
    return typeof reason === "string" ? [reason] : []
  })

/** The `error` of an in-band error event. */
export const inBandError = (event: string): Record<string, unknown> | undefined => {
  const data = dataOf(event)
  return isRecord(data) && isRecord(data.error) ? data.error : undefined
}

export const isError = (event: string) => inBandError(event) !== undefined

export const DONE = "data: [DONE]"

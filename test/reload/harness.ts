/**
 * The reload tests' gateway: `Gateway.layer` on a loopback port (NodeServer.layerTest) whose
 * `reloads` stream the test drives, with the gateway's log captured so a test can wait for a reload
 * to be applied (or refused) rather than for time. Plus request helpers over real HTTP (a URL, so
 * the process tests use them too), an SSE reader, and a runner whose runs the test drives.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeServer from "../../src/http/NodeServer.js"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { AgentRunner } from "../../src/agent/AgentRunner.js"
import * as LiveRunner from "../../src/agent/LiveRunner.js"
import { ModelRegistry } from "../../src/agent/ModelRegistry.js"
import type { RunQueue } from "../../src/agent/RunQueue.js"
import { Config } from "../../src/config/Config.js"
import { type ConfigInput } from "../../src/config/ConfigFile.js"
import { decode } from "../../src/config/Load.js"
import { type Settings } from "../../src/config/Settings.js"
import { AgentEvent } from "../../src/domain/AgentEvent.js"
import * as Gateway from "../../src/Gateway.js"
import type { SessionStore } from "../../src/store/SessionStore.js"
import { FakeAgentRunner } from "../../src/testing.js"
import { controlledRuns } from "../controlledRuns.js"

// The same SSE readers as the drain tests use.
export { contentOf, DONE, finishReasons, isContent, textOf } from "../ops/harness.js"

export const PATH = "/v1/chat/completions"

/**
 * A config with the endpoint on, token auth with `token` (failures answered at once: no loopback
 * delay), agents `main` (default) and `beta` on echo, an in-memory session store.
 */
export const configWith = (
  options: {
    readonly token?: string
    readonly enabled?: boolean
    readonly agents?: ReadonlyArray<NonNullable<NonNullable<ConfigInput["agents"]>["list"]>[number]>
    readonly providers?: NonNullable<ConfigInput["models"]>["providers"]
  } = {}
): ConfigInput => ({
  gateway: {
    http: { endpoints: { chatCompletions: { enabled: options.enabled ?? true } } },
    auth: {
      mode: "token",
      token: options.token ?? "token-one",
      rateLimit: { exemptLoopback: false, maxAttempts: 1_000 }
    }
  },
  agents: { list: options.agents ?? [{ id: "main", default: true, model: "echo" }, { id: "beta", model: "echo" }] },
  ...(options.providers !== undefined && { models: { providers: options.providers } }),
  session: { store: { path: ":memory:" } }
})

/** A config document as the settings a reload carries (validated, as `Config.reloads` gives them). */
export const settingsOf = (input: ConfigInput): Settings =>
  Either.getOrThrowWith(
    decode(input, { token: Option.none(), password: Option.none() }),
    (problems) => new Error(`invalid test config: ${problems.join("; ")}`)
  ).settings

/** The live runner (the configured models over a Node HttpClient), as the gateway builds it. */
export const liveRunner = LiveRunner.layerFromServices.pipe(
  Layer.provide(ModelRegistry.layer),
  Layer.provide(NodeHttpClient.layerUndici)
)

export interface ReloadableGateway {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  /**
   * Sends the config as the next reload and waits for the gateway's word on it: `Config reloaded`,
   * or the log line of a generation that failed to build.
   */
  readonly reload: (input: ConfigInput) => Effect.Effect<string>
}

/** The log lines about reloads: what the gateway logs once a reload is applied or refused. */
const RELOAD_LINE = /^Config reload/

/** A logger that hands the reload lines to `lines` and drops the rest (the request log). */
const reloadLogger = (lines: Queue.Queue<string>) =>
  Logger.make(({ message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    if (RELOAD_LINE.test(text)) Queue.unsafeOffer(lines, text)
  })

/**
 * The gateway on a free loopback port for the enclosing scope, starting on `config`, switching to
 * each config the test reloads. `runner` replaces the live one (it is built anew per generation).
 */
export const reloadableGateway = <RE = never>(
  config: ConfigInput,
  options: { readonly runner?: Layer.Layer<AgentRunner, RE, Config | RunQueue | SessionStore> } = {}
): Effect.Effect<ReloadableGateway, never, Scope.Scope> =>
  Effect.gen(function*() {
    const reloads = yield* Queue.unbounded<Settings>()
    const lines = yield* Queue.unbounded<string>()
    const layer = Gateway.layer(Config.layerFrom(config), {
      reloads: Stream.fromQueue(reloads),
      ...(options.runner !== undefined && { runner: options.runner })
    }).pipe(
      Layer.provideMerge(NodeServer.layerTest),
      Layer.provide(NodeContext.layer),
      Layer.provide(Logger.replace(Logger.defaultLogger, reloadLogger(lines)))
    )
    const context = yield* Effect.orDie(Layer.build(layer))
    const address = yield* Effect.provide(HttpServer.HttpServer, context).pipe(Effect.map((server) => server.address))
    const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "http://invalid"
    return {
      url,
      reload: (input) =>
        Effect.zipRight(Queue.offer(reloads, settingsOf(input)), Queue.take(lines)).pipe(
          Effect.timeoutFail({
            duration: "10 seconds",
            onTimeout: () => new Error("the gateway logged nothing of the reload")
          }),
          Effect.orDie
        )
    }
  })

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

export interface Reply {
  readonly status: number
  readonly body: unknown
}

/** A request read to its end (JSON body, else its text); `token: null` sends no Authorization. */
export const request = (
  url: string,
  path: string,
  options: {
    readonly token: string | null
    readonly body?: unknown
    readonly headers?: Readonly<Record<string, string>>
  }
) =>
  Effect.promise(async (): Promise<Reply> => {
    const headers: Record<string, string> = { ...options.headers }
    if (options.token !== null) headers.authorization = `Bearer ${options.token}`
    if (options.body !== undefined) headers["content-type"] = "application/json"
    const response = await fetch(`${url}${path}`, {
      method: options.body === undefined ? "GET" : "POST",
      headers,
      ...(options.body !== undefined && { body: JSON.stringify(options.body) })
    })
    const text = await response.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // Not JSON: the text as it is.
    }
    return { status: response.status, body }
  })

/** A chat request body for `agent` (by its `model` name). */
export const chat = (content: string, options: { readonly agent?: string; readonly stream?: boolean } = {}) => ({
  model: options.agent === undefined ? "clawgate" : `clawdbot:${options.agent}`,
  messages: [{ role: "user", content }],
  ...(options.stream === true && { stream: true })
})

/** POSTs a chat request and gives its status and body. */
export const postChat = (url: string, token: string | null, payload: unknown) =>
  request(url, PATH, { token, body: payload })

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

/** The text of a plain answer's first choice. */
export const answerText = (body: unknown): string | undefined => {
  const choices = isRecord(body) && Array.isArray(body.choices) ? body.choices : []
  const [choice]: ReadonlyArray<unknown> = choices
  const message = isRecord(choice) ? choice.message : undefined
  return isRecord(message) && typeof message.content === "string" ? message.content : undefined
}

/** The `error.code` of an error answer. */
export const errorCode = (body: unknown): unknown =>
  isRecord(body) && isRecord(body.error) ? body.error.code : undefined

/** The ids `GET /v1/models` lists. */
export const modelIds = (body: unknown): ReadonlyArray<string> =>
  isRecord(body) && Array.isArray(body.data)
    ? body.data.flatMap((entry: unknown) => isRecord(entry) && typeof entry.id === "string" ? [entry.id] : [])
    : []

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

const dataOf = (event: string): unknown => event.startsWith("data: {") ? JSON.parse(event.slice(6)) : undefined

export const errorsOf = (events: ReadonlyArray<string>) =>
  events.filter((event) => {
    const data = dataOf(event)
    return isRecord(data) && isRecord(data.error)
  })

// ---------------------------------------------------------------------------------------------
// A runner the test drives
// ---------------------------------------------------------------------------------------------

/** A runner generation: built for a config (named by its default agent's `name`), then released. */
export interface RunnerGeneration {
  readonly name: string | undefined
  /** Completes when the generation's runner is released (its gateway generation closed). */
  readonly released: Effect.Effect<void>
  readonly isReleased: Effect.Effect<boolean>
}

/**
 * A runner whose runs say and finish only when the test tells them to: each run is handed to the
 * test through `nextRun` as it starts, and each time a gateway generation builds the runner, the
 * test gets it through `nextGeneration`.
 */
export const controlledRunner = Effect.gen(function*() {
  const { next, script } = yield* controlledRuns
  const generations = yield* Queue.unbounded<RunnerGeneration>()
  const layer = Layer.scoped(
    AgentRunner,
    Effect.gen(function*() {
      const settings = yield* Config
      const released = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(released, undefined))
      const name = settings.agents.find((agent) => agent.id === settings.defaultAgentId)?.name
      yield* Queue.offer(generations, {
        name,
        released: Deferred.await(released),
        isReleased: Deferred.isDone(released)
      })
      return AgentRunner.fromStream(script)
    })
  )
  return { layer, nextRun: next, nextGeneration: Queue.take(generations) }
})

/** A runner that answers every run with `I am <agent id>`: which agent a request reached. */
export const whoAmI = FakeAgentRunner.layer((request) =>
  Stream.fromIterable([
    AgentEvent.TextDelta({ text: `I am ${request.agent.id}` }),
    AgentEvent.Finish({ reason: "stop" })
  ])
)

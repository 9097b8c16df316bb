/**
 * The reload tests' gateway: the kit's gateway whose `reloads` stream the test drives, with the
 * gateway's log captured so a test can wait for a reload to be applied (or refused) rather than
 * for time. Plus the configs they switch between (as documents, so the process tests write them
 * to files too).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { AgentRunner } from "../../src/agent/AgentRunner.js"
import * as LiveRunner from "../../src/agent/LiveRunner.js"
import { ModelRegistry } from "../../src/agent/ModelRegistry.js"
import type { RunQueue } from "../../src/agent/RunQueue.js"
import type { Config } from "../../src/config/Config.js"
import { type ConfigInput } from "../../src/config/ConfigFile.js"
import { decode } from "../../src/config/Load.js"
import { type Settings } from "../../src/config/Settings.js"
import { AgentEvent } from "../../src/domain/AgentEvent.js"
import type { SessionStore } from "../../src/store/SessionStore.js"
import { FakeAgentRunner } from "../../src/testing.js"
import { baseUrl, testGateway } from "../kit/gateway.js"
import { field, records } from "../kit/json.js"

/**
 * A config with the endpoint on, token auth with `token` (failures answered at once: no loopback
 * delay), agents `main` (default) and `beta` on echo, an in-memory session store.
 */
export const reloadConfig = (
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
    const layer = testGateway({
      config,
      reloads: Stream.fromQueue(reloads),
      logs: Logger.replace(Logger.defaultLogger, reloadLogger(lines)),
      ...(options.runner !== undefined && { runner: options.runner })
    })
    const url = yield* Effect.provide(baseUrl, yield* Effect.orDie(Layer.build(layer)))
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

/** The ids `GET /v1/models` lists. */
export const modelIds = (body: unknown): ReadonlyArray<string> =>
  records(field(body, "data")).flatMap((entry) => typeof entry.id === "string" ? [entry.id] : [])

/** A runner that answers every run with `I am <agent id>`: which agent a request reached. */
export const whoAmI = FakeAgentRunner.layer((request) =>
  Stream.fromIterable([
    AgentEvent.TextDelta({ text: `I am ${request.agent.id}` }),
    AgentEvent.Finish({ reason: "stop" })
  ])
)

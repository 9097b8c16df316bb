/**
 * The `clawgate` command: `serve` (the default) runs the gateway; `agent` runs one turn through the
 * same SessionKeys and AgentRunner as the endpoint and streams the reply to stdout (and its server
 * tools' activity to stderr).
 */
import * as Command from "@effect/cli/Command"
import * as Args from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Crypto from "node:crypto"
import { resolveAgent } from "./access/AgentRouting.js"
import { SessionKeys } from "./access/SessionKeys.js"
import { AgentRunner } from "./agent/AgentRunner.js"
import * as LiveRunner from "./agent/LiveRunner.js"
import { Config, type Overrides } from "./config/Config.js"
import { type ConfigError } from "./config/ConfigError.js"
import { findFile } from "./config/Load.js"
import { reloads } from "./config/Reload.js"
import { type Settings } from "./config/Settings.js"
import type { ToolActivity } from "./domain/AgentEvent.js"
import type { GatewayError } from "./domain/Errors.js"
import * as Gateway from "./Gateway.js"
import * as ErrorResponse from "./http/ErrorResponse.js"
import * as NodeServer from "./http/NodeServer.js"
import * as Telemetry from "./ops/Telemetry.js"
import { SessionStore } from "./store/SessionStore.js"

const config = Args.text("config").pipe(
  Args.withDescription("Path of the JSON5 config file (default: $CLAWGATE_CONFIG, else ./clawgate.json5)"),
  Args.optional
)

const serveOptions = {
  config,
  logFormat: Args.choice("log-format", ["logfmt", "json"]).pipe(
    Args.withDescription("Format of the log lines on stderr"),
    Args.withDefault("logfmt" as const)
  ),
  port: Args.integer("port").pipe(Args.withDescription("Port to listen on (0 picks a free one)"), Args.optional),
  bind: Args.text("bind").pipe(Args.withDescription("\"loopback\", \"lan\" or an IP address"), Args.optional)
}

/** The whole gateway on a Node HTTP server, from a config layer, switching to each reloaded config. */
export const gateway = <E, R>(
  configLayer: Layer.Layer<Config, E, R>,
  reloads: Stream.Stream<Settings> = Stream.empty
) =>
  // The listening line only once the gateway serves (its session store opened): a request sent on
  // seeing it must not meet the stand-in handler that answers 503 `shutting_down`.
  NodeServer.announce.pipe(
    Layer.provideMerge(Gateway.layer(configLayer, { reloads })),
    Layer.provide(NodeServer.layer),
    Layer.provide(Telemetry.layerOffWithoutEndpoint),
    // The same layer value as the gateway's: built once.
    Layer.provide(configLayer)
  )

/** One line on stderr for a failure that stops the command (the exit code is then 1). */
const explain = (error: ConfigError | ServeError | GatewayError) =>
  Console.error(
    `clawgate: ${
      error._tag === "ConfigError"
        ? error.message
        : error._tag === "ServeError"
        ? `cannot listen: ${error.cause instanceof Error ? error.cause.message : String(error.cause)}`
        : ErrorResponse.describe(error, "-").body.error.message
    }`
  )

/**
 * Log lines go to stderr, so stdout carries only the command's own output. They are written to the
 * stream as they are: `console.error` would format each line again (a request's log line is on
 * every request's path).
 */
export const logger = (format: "logfmt" | "json") =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.map(
      format === "json" ? Logger.jsonLogger : Logger.logfmtLogger,
      (line) => void process.stderr.write(`${line}\n`)
    )
  )

const serve = (
  options: { readonly config: Option.Option<string>; readonly logFormat: "logfmt" | "json" } & Overrides
) =>
  Effect.gen(function*() {
    const file = yield* findFile(options.config)
    // Before the config is loaded, so that a change while the gateway starts is not missed.
    const changes = yield* reloads(file)
    const configLayer = Config.layer({ file, port: options.port, bind: options.bind })
    const fs = yield* FileSystem.FileSystem
    // SIGHUP's default is to end the process, and the reload stream takes it only once running:
    // until then, one is ignored (the config was just read) rather than fatal.
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const ignore = () => {}
        process.on("SIGHUP", ignore)
        return ignore
      }),
      (ignore) => Effect.sync(() => process.off("SIGHUP", ignore))
    )
    return yield* Layer.launch(
      gateway(configLayer, changes.pipe(Stream.provideService(FileSystem.FileSystem, fs)))
    )
  }).pipe(Effect.scoped, Effect.tapError(explain), Effect.provide(logger(options.logFormat)))

const agentOptions = {
  config,
  message: Args.text("message").pipe(Args.withAlias("m"), Args.withDescription("The user message to send")),
  agent: Args.text("agent").pipe(Args.withDescription("Agent id (default: the default agent)"), Args.optional),
  sessionKey: Args.text("session-key").pipe(Args.withDescription("Session key to continue"), Args.optional),
  user: Args.text("user").pipe(Args.withDescription("OpenAI-style user, for a stable session"), Args.optional)
}

/** A server tool's activity as the `agent` command shows it on stderr (the reply is on stdout). */
const toolLine = (activity: ToolActivity) =>
  activity.status === "running"
    ? `[tool] ${activity.name} ${activity.arguments}`
    : `[tool] ${activity.name} ${activity.status}: ${activity.result ?? ""}`

const runAgent = (options: Command.Command.ParseConfig<typeof agentOptions>) =>
  Effect.gen(function*() {
    const settings = yield* Config
    const agent = yield* resolveAgent(settings, { header: options.agent, model: Option.none() })
    const sessionKey = yield* (yield* SessionKeys).resolve({
      agentId: agent.id,
      header: options.sessionKey,
      user: options.user
    })
    const runner = yield* AgentRunner
    yield* runner.stream({
      runId: Crypto.randomUUID(),
      agent,
      sessionKey,
      messages: [{ role: "user", content: options.message }],
      extraSystemPrompt: undefined,
      sampling: {}
    }).pipe(
      Stream.runForEach((event) =>
        event._tag === "TextDelta"
          ? Effect.sync(() => process.stdout.write(event.text))
          : event._tag === "ToolActivity"
          ? Console.error(toolLine(event.activity))
          : Effect.void
      )
    )
    yield* Console.log("")
    yield* Console.error(`session: ${sessionKey.value}`)
  }).pipe(
    Effect.provide(
      Layer.mergeAll(SessionKeys.layer, LiveRunner.layer).pipe(
        Layer.provide(SessionStore.layer),
        Layer.provideMerge(Config.layer({ file: options.config }))
      )
    ),
    Effect.tapError(explain),
    Effect.provide(logger("logfmt"))
  )

const serveCommand = Command.make("serve", serveOptions, serve).pipe(
  Command.withDescription("Run the gateway (the default command)")
)

const agentCommand = Command.make("agent", agentOptions, runAgent).pipe(
  Command.withDescription("Send one message to an agent and stream its reply to stdout")
)

export const command = Command.make("clawgate", serveOptions, serve).pipe(
  Command.withDescription("An OpenAI Chat Completions gateway in front of agents"),
  Command.withSubcommands([serveCommand, agentCommand])
)

/**
 * Runs the command on `process.argv`. Its failures are explained by each command; a defect (a bug,
 * or a module that cannot be loaded) is written out here, since `main` turns off runMain's report.
 */
export const run = (argv: ReadonlyArray<string>) =>
  Command.run(command, { name: "clawgate", version: "0.1.0" })(argv).pipe(
    Effect.tapDefect((cause) => Console.error(`clawgate: unexpected failure\n${Cause.pretty(cause)}`))
  )

/**
 * `clawgate serve`: the gateway on a Node HTTP server, its config reloaded on SIGHUP and on edits.
 * Apart from the command line's other parts (`Command`): a plain `serve` command line is read here
 * (`plainServeArgs`), so that serving neither loads nor runs @effect/cli.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { Config, type Overrides } from "./config/Config.js"
import { type ConfigError } from "./config/ConfigError.js"
import { findFile } from "./config/Load.js"
import { reloads } from "./config/Reload.js"
import { type Settings } from "./config/Settings.js"
import type { GatewayError } from "./domain/Errors.js"
import * as Gateway from "./Gateway.js"
import * as ErrorResponse from "./http/ErrorResponse.js"
import * as NodeServer from "./http/NodeServer.js"
import * as Telemetry from "./ops/Telemetry.js"

export type LogFormat = "logfmt" | "json"

export type ServeOptions = { readonly config: Option.Option<string>; readonly logFormat: LogFormat } & Overrides

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

/**
 * Lines for stderr, written once per turn of the event loop: a log line is on every request's path,
 * and a write each would cost each request a system call. What is pending when the process exits
 * is written then.
 */
const stderrLines = (() => {
  let pending: Array<string> = []
  const flush = () => {
    if (pending.length === 0) return
    const text = pending.join("")
    pending = []
    process.stderr.write(text)
  }
  let registered = false
  return (line: string) => {
    if (!registered) {
      registered = true
      process.on("exit", flush)
    }
    if (pending.push(`${line}\n`) === 1) setImmediate(flush)
  }
})()

/** One line on stderr for a failure that stops the command (the exit code is then 1). */
export const explain = (error: ConfigError | ServeError | GatewayError) =>
  Effect.sync(() =>
    stderrLines(
      `clawgate: ${
        error._tag === "ConfigError"
          ? error.message
          : error._tag === "ServeError"
          ? `cannot listen: ${error.cause instanceof Error ? error.cause.message : String(error.cause)}`
          : ErrorResponse.describe(error, "-").body.error.message
      }`
    )
  )

/**
 * Log lines go to stderr, so stdout carries only the command's own output. They are written to the
 * stream as they are (`console.error` would format each line again), gathered by `stderrLines`.
 */
export const logger = (format: LogFormat) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.map(format === "json" ? Logger.jsonLogger : Logger.logfmtLogger, stderrLines)
  )

export const serve = (options: ServeOptions) =>
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

const FLAGS = ["--config", "--port", "--bind", "--log-format"] as const

/**
 * The options of `clawgate [serve] [--config <path>] [--port <n>] [--bind <bind>] [--log-format
 * logfmt|json]`, each flag at most once and followed by its value; none for any other command line
 * (help, `agent`, `--flag=value`, a value @effect/cli would refuse or read otherwise), which the
 * full command then parses. Where this gives options, they are the ones `Command` would give.
 */
export const plainServeArgs = (args: ReadonlyArray<string>): Option.Option<ServeOptions> => {
  const values = new Map<string, string>()
  for (let i = args[0] === "serve" ? 1 : 0; i < args.length; i += 2) {
    const flag = FLAGS.find((known) => known === args[i])
    const value = args[i + 1]
    if (flag === undefined || values.has(flag) || value === undefined || value === "" || value.startsWith("-")) {
      return Option.none()
    }
    values.set(flag, value)
  }
  const port = values.get("--port")
  const logFormat = values.get("--log-format") ?? "logfmt"
  if ((port !== undefined && !/^[0-9]+$/.test(port)) || (logFormat !== "logfmt" && logFormat !== "json")) {
    return Option.none()
  }
  return Option.some({
    config: Option.fromNullable(values.get("--config")),
    logFormat,
    port: Option.map(Option.fromNullable(port), Number),
    bind: Option.fromNullable(values.get("--bind"))
  })
}

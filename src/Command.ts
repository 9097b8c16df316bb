/**
 * The `clawgate` command line on @effect/cli: `serve` (the default) runs the gateway (`Serve`);
 * `agent` runs one turn through the same SessionKeys and AgentRunner as the endpoint and streams
 * the reply to stdout (and its server tools' activity to stderr); and the help, version and
 * completions @effect/cli gives. Loaded only for a command line `Serve.plainServeArgs` does not read.
 */
import * as Command from "@effect/cli/Command"
import * as Args from "@effect/cli/Options"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Crypto from "node:crypto"
import { resolveAgent } from "./access/AgentRouting.js"
import { SessionKeys } from "./access/SessionKeys.js"
import { AgentRunner } from "./agent/AgentRunner.js"
import * as LiveRunner from "./agent/LiveRunner.js"
import { Config } from "./config/Config.js"
import type { ToolActivity } from "./domain/AgentEvent.js"
import { explain, logger, serve } from "./Serve.js"
import { SessionStore } from "./store/SessionStore.js"

const config = Args.text("config").pipe(
  Args.withDescription("Path of the JSON5 config file (default: $CLAWGATE_CONFIG, else ./clawgate.json5)"),
  Args.optional
)

export const serveOptions = {
  config,
  logFormat: Args.choice("log-format", ["logfmt", "json"]).pipe(
    Args.withDescription("Format of the log lines on stderr"),
    Args.withDefault("logfmt" as const)
  ),
  port: Args.integer("port").pipe(Args.withDescription("Port to listen on (0 picks a free one)"), Args.optional),
  bind: Args.text("bind").pipe(Args.withDescription("\"loopback\", \"lan\" or an IP address"), Args.optional)
}

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

/** Runs the command on `argv` (with node's two first arguments), as `about` names it. */
export const run = (about: { readonly name: string; readonly version: string }) => (argv: ReadonlyArray<string>) =>
  Effect.provide(Command.run(command, about)(argv), NodeContext.layer)

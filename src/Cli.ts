/**
 * The `clawgate` command: `serve` (the default) runs the gateway (`Serve`); `agent` runs one turn
 * and streams the reply to stdout; `--help`, `--version` (`Command`). A plain `serve` command line
 * is read without @effect/cli, whose loading and parsing (and terminal on stdin) cost start-up
 * tens of milliseconds.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { plainServeArgs, serve } from "./Serve.js"

export { gateway, logger } from "./Serve.js"

/**
 * Runs the command on `process.argv`, on Node's file system (and, for @effect/cli, the rest of
 * Node's platform: serving does not need a terminal on stdin). Its failures are explained by each
 * command; a defect (a bug, or a module that cannot be loaded) is written out here, since `main`
 * turns off runMain's report.
 */
export const run = (argv: ReadonlyArray<string>) =>
  Option.match(plainServeArgs(argv.slice(2)), {
    onSome: (options) => Effect.provide(serve(options), NodeFileSystem.layer),
    onNone: () =>
      Effect.flatMap(
        Effect.promise(() => import("./Command.js")),
        (Command) => Command.run({ name: "clawgate", version: "0.1.0" })(argv)
      )
  }).pipe(
    Effect.tapDefect((cause) => Console.error(`clawgate: unexpected failure\n${Cause.pretty(cause)}`))
  )

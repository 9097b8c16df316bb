// `clawgate` from tsc's output (dist/*.js) instead of the esbuild bundle (dist/bin/), as src/main.ts
// runs it: for profiles whose frames name clawgate's and its libraries' own files
// (`node bench/run.mjs --unbundled --profile cpu`).
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Cli from "../dist/Cli.js"

Cli.run(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)

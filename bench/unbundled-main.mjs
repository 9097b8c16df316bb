// `clawgate` from tsc's output (dist/*.js) instead of the esbuild bundle (dist/bin/), as src/main.ts
// runs it: for profiles whose frames name clawgate's and its libraries' own files
// (`node bench/run.mjs --unbundled --profile cpu`).
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cli from "../dist/Cli.js"

NodeRuntime.runMain(Cli.run(process.argv), { disableErrorReporting: true, disablePrettyLogger: true })

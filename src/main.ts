#!/usr/bin/env node
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cli from "./Cli.js"

// Each command installs its logger (on stderr); runMain's own pretty one would write to stdout.
NodeRuntime.runMain(Cli.run(process.argv), { disableErrorReporting: true, disablePrettyLogger: true })

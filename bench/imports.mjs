// What loading each of clawgate's heavier modules costs at start-up: for each, a fresh node process
// imports it alone and reports the time and the RSS it added (over an empty node process).
//
//   node bench/imports.mjs
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const MODULES = [
  "effect",
  "@effect/platform-node/NodeHttpServer",
  "@effect/platform-node/NodeHttpClient",
  "@effect/cli/Command",
  "@effect/sql-sqlite-node/SqliteClient",
  "@effect/experimental/Sse",
  "@effect/ai/LanguageModel",
  "@effect/ai-openai/OpenAiClient",
  "@effect/ai-openai/OpenAiLanguageModel",
  "./dist/providers/openai-completions/Model.js",
  "./dist/providers/OpenAiResponses.js",
  "./dist/providers/anthropic-messages/Model.js",
  "./dist/store/SessionStore.js",
  "./dist/Cli.js",
  "./dist/Command.js"
]

const probe = (specifier, first = []) => {
  const script = `
    ${first.map((m) => `await import(${JSON.stringify(m)})`).join("\n")}
    globalThis.gc?.()
    const rss0 = process.memoryUsage().rss
    const t0 = performance.now()
    ${specifier === "" ? "" : `await import(${JSON.stringify(specifier)})`}
    const ms = performance.now() - t0
    globalThis.gc?.()
    const m = process.memoryUsage()
    console.log(JSON.stringify({ ms, rss: m.rss, rss0, heap: m.heapUsed }))
  `
  const out = ChildProcess.execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
    cwd: ROOT
  })
  return JSON.parse(out.toString())
}

const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]
const runs = 3
const base = probe("")
console.log(`empty node: RSS ${(base.rss / 1048576).toFixed(1)} MB, heap ${(base.heap / 1048576).toFixed(1)} MB`)
console.log("import (alone, in a fresh process; median of 3)        time     RSS added   heap used")
for (const specifier of MODULES) {
  const samples = Array.from({ length: runs }, () => probe(specifier))
  const ms = median(samples.map((s) => s.ms))
  const rss = median(samples.map((s) => s.rss - base.rss)) / 1048576
  const heap = median(samples.map((s) => s.heap)) / 1048576
  console.log(
    `${specifier.padEnd(52)} ${ms.toFixed(0).padStart(6)} ms ${rss.toFixed(1).padStart(8)} MB ${
      heap.toFixed(1).padStart(8)
    } MB`
  )
}

// What the providers clawgate loads whatever its config cost on top of everything else it loads.
const REST = [
  "./dist/providers/openai-completions/Model.js",
  "./dist/store/SessionStore.js",
  "@effect/cli/Command",
  "@effect/platform-node/NodeHttpServer",
  "@effect/platform-node/NodeHttpClient",
  "@effect/platform-node/NodeRuntime",
  "@effect/platform/HttpLayerRouter"
]
console.log(`\non top of ${REST.join(", ")} (already imported):`)
for (
  const specifier of ["./dist/providers/OpenAiResponses.js", "./dist/providers/AnthropicMessages.js", "./dist/Cli.js"]
) {
  const samples = Array.from({ length: runs }, () => probe(specifier, REST))
  const ms = median(samples.map((s) => s.ms))
  const rss = median(samples.map((s) => s.rss - s.rss0)) / 1048576
  console.log(`${specifier.padEnd(52)} ${ms.toFixed(0).padStart(6)} ms ${rss.toFixed(1).padStart(8)} MB`)
}

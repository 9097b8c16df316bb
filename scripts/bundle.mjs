// Bundles the `clawgate` command (src/main.ts) into dist/bin/: one file for what every start-up
// loads, and a chunk for each part loaded on demand (a provider library, a SQL driver, the
// OpenTelemetry exporters). Node then reads and compiles only the code the gateway uses: start-up
// and idle memory fall by about a third and two thirds of a second (bench/README.md). The library
// (`clawgate`, `clawgate/testing`) stays as tsc emits it, on the app's own copy of effect.
import * as esbuild from "esbuild"

await esbuild.build({
  entryPoints: { main: "src/main.ts" },
  outdir: "dist/bin",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  // Native addons are loaded from node_modules as they are.
  external: ["better-sqlite3", "pg-native"],
  // Some dependencies are CommonJS and `require` node's modules, which an ES module must provide.
  banner: { js: `import { createRequire } from "node:module"; const require = createRequire(import.meta.url);` },
  logLevel: "warning"
})

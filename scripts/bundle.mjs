// Bundles the `clawgate` command (src/main.ts) into dist/bin/: one file for what every start-up
// loads, and a chunk for each part loaded on demand (a provider library, a SQL driver, the
// OpenTelemetry exporters). Node then reads and compiles only the code the gateway uses: start-up
// and idle memory fall by about a third and two thirds of a second (bench/README.md). The library
// (`clawgate`, `clawgate/testing`) stays as tsc emits it, on the app's own copy of effect.
//
// `node scripts/bundle.mjs --if-stale` (what `npm start` runs) bundles only when dist/bin/main.js
// is missing or older than something it is made from.
import * as esbuild from "esbuild"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"

const OUTPUT = "dist/bin/main.js"

/** What the bundle is made from: the sources, the build's settings, and the installed packages. */
const inputs = () => [
  ...Fs.readdirSync("src", { recursive: true, encoding: "utf8" }).map((file) => Path.join("src", file)),
  "scripts/bundle.mjs",
  "package.json",
  "tsconfig.json",
  // npm rewrites it on every install that changes node_modules.
  "node_modules/.package-lock.json"
]

const modifiedMs = (file) => Fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs

const isStale = () => {
  const built = modifiedMs(OUTPUT)
  return built === undefined || inputs().some((file) => (modifiedMs(file) ?? 0) > built)
}

/** Node's rule: `.cjs` is CommonJS, `.mjs` is not, a `.js` file is unless its package says `"type": "module"`. */
const isCommonJs = (file) => {
  if (file.endsWith(".cjs")) return true
  if (!file.endsWith(".js")) return false
  for (let dir = Path.dirname(file);; dir = Path.dirname(dir)) {
    const manifest = Path.join(dir, "package.json")
    if (Fs.existsSync(manifest)) return JSON.parse(Fs.readFileSync(manifest, "utf8")).type !== "module"
    if (Path.dirname(dir) === dir) return true
  }
}

/**
 * With splitting, esbuild makes a CommonJS module that is `import()`ed into a chunk whose only
 * export is `default` (evanw/esbuild#3245): `const { PrometheusExporter } = await import(...)` gets
 * undefined, where Node gives the module's named exports too. This routes each such import through
 * an ES module that re-exports, by name, what Node's own import of the module gives. The module is
 * named `.mjs` so that esbuild's `default` is, as Node's, the whole `module.exports`.
 */
const commonJsImportedOnDemand = {
  name: "commonjs-imported-on-demand",
  setup(build) {
    const namespace = "commonjs-imported-on-demand"
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.kind !== "dynamic-import" || args.pluginData === namespace) return undefined
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: namespace
      })
      if (resolved.errors.length > 0 || resolved.external || !isCommonJs(resolved.path)) return undefined
      return { path: resolved.path.replace(/\.c?js$/, ".mjs"), namespace, pluginData: resolved.path }
    })
    build.onLoad({ filter: /.*/, namespace }, async ({ pluginData: file }) => {
      const names = Object.keys(await import(pathToFileURL(file).href))
      return {
        contents: `export { ${names.map((name) => JSON.stringify(name)).join(", ")} } from ${JSON.stringify(file)}`,
        resolveDir: Path.dirname(file),
        loader: "js"
      }
    })
  }
}

if (!process.argv.includes("--if-stale") || isStale()) {
  await esbuild.build({
    entryPoints: { main: "src/main.ts" },
    outdir: Path.dirname(OUTPUT),
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    // Node parses and compiles all of it at every start: minified, that is ~0.05 s and ~6 MB less
    // (bench/README.md). Stack traces name the sources under `node --enable-source-maps`.
    minify: true,
    sourcemap: true,
    // Native addons are loaded from node_modules as they are.
    external: ["better-sqlite3", "pg-native"],
    // Some dependencies are CommonJS and `require` node's modules, which an ES module must provide.
    banner: { js: `import { createRequire } from "node:module"; const require = createRequire(import.meta.url);` },
    plugins: [commonJsImportedOnDemand],
    logLevel: "warning"
  })
}

/**
 * `npm start`, the README's one command, on a copy of the checkout (its sources, scripts and
 * settings, and a link to node_modules) in a temporary folder: it must work where nothing is built
 * yet, and bundle the command again only when a source has changed.
 */
import { describe, expect, it, vi } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Util from "node:util"
import { childEnv, tempDir } from "../gatewayProcess.js"

const ROOT = fileURLToPath(new URL("../..", import.meta.url))

// Bundling takes seconds on a busy machine; the test bundles twice.
vi.setConfig({ testTimeout: 120_000 })

/** A checkout as a fresh clone has it: nothing built. */
const freshCheckout = Effect.gen(function*() {
  const dir = yield* tempDir
  for (const entry of ["src", "scripts", "package.json", "tsconfig.json", "tsconfig.build.json"]) {
    Fs.cpSync(Path.join(ROOT, entry), Path.join(dir, entry), { recursive: true })
  }
  Fs.symlinkSync(Path.join(ROOT, "node_modules"), Path.join(dir, "node_modules"))
  return dir
})

const execFile = Util.promisify(ChildProcess.execFile)

/** What `npm start -- --version` prints in `dir`. */
const startVersion = (dir: string) =>
  Effect.promise(() =>
    execFile(process.platform === "win32" ? "npm.cmd" : "npm", ["start", "--silent", "--", "--version"], {
      cwd: dir,
      env: childEnv(dir)
    })
  ).pipe(Effect.map(({ stdout }) => stdout.trim()))

const bundledAt = (dir: string) => Fs.statSync(Path.join(dir, "dist/bin/main.js")).mtimeMs

describe("npm start", () => {
  it.scopedLive("on a checkout with nothing built, it bundles the command alone (not the library); it bundles again only once a source has changed", () =>
    Effect.gen(function*() {
      const dir = yield* freshCheckout
      expect(yield* startVersion(dir)).toBe("0.1.0")
      expect(Fs.existsSync(Path.join(dir, "dist/index.js"))).toBe(false)
      const bundled = bundledAt(dir)

      expect(yield* startVersion(dir)).toBe("0.1.0")
      expect(bundledAt(dir)).toBe(bundled)

      const cli = Path.join(dir, "src/Cli.ts")
      const source = Fs.readFileSync(cli, "utf8")
      const edited = source.replace(`version: "0.1.0"`, `version: "0.1.0-edited"`)
      expect(edited).not.toBe(source)
      Fs.writeFileSync(cli, edited)
      expect(yield* startVersion(dir)).toBe("0.1.0-edited")
    }))
})

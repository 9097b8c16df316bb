/**
 * `npm start`, the README's one command, on a copy of the checkout (its sources, scripts and
 * settings, and a link to node_modules) in a temporary folder: it must work where nothing is built
 * yet, and bundle the command again only when a source has changed.
 */
import { describe, expect, it, vi } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { ROOT, spawn, tempDir } from "../kit/process.js"

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

/** What `npm start -- --version` prints in `dir` (it bundles first when it must: a minute at most). */
const startVersion = (dir: string) =>
  Effect.scoped(Effect.gen(function*() {
    const npm = yield* spawn(
      process.platform === "win32" ? "npm.cmd" : "npm",
      ["start", "--silent", "--", "--version"],
      {
        cwd: dir,
        bound: "60 seconds"
      }
    )
    expect((yield* npm.exited).code).toBe(0)
    return npm.output.stdout.trim()
  }))

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

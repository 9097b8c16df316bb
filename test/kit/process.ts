/**
 * The gateway as an operator runs it: the built command (`node dist/bin/main.js ...`, bundled by
 * `npm run build`; `npm test` builds it first) in a child process, in a temporary folder that is
 * its HOME. Every wait is on an event (a line of output, the child's exit) and bounded; the
 * scope's finalizer kills a child still running.
 */
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import type { ConfigInput } from "../../src/config/ConfigFile.js"

/** The checkout's root. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url))

const MAIN = Path.join(ROOT, "dist/bin/main.js")

/** Fails the test file at once when dist/ has not been built. */
export const requireBuild = () => {
  if (!Fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does).`)
}

/** A temporary folder for the test's scope (config, session store, HOME). */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "clawgate-process-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** Writes a config file in `dir` (a document as JSON, or text as it is) and gives its path. */
export const writeConfig = (dir: string, config: ConfigInput | string, name = "clawgate.json5") => {
  const file = Path.join(dir, name)
  Fs.writeFileSync(file, typeof config === "string" ? config : JSON.stringify(config))
  return file
}

/**
 * The machine's environment without clawgate / openclaw / clawdbot variables, with HOME in `home`
 * so that nothing (a session store under ~/.clawgate) lands in the real home directory.
 */
export const childEnv = (home: string): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(OPENCLAW_|CLAWDBOT_|CLAWGATE_)/.test(name)) env[name] = value
  }
  return { ...env, HOME: home }
}

export interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

type Output = "stdout" | "stderr"

export interface Child {
  /** What the child has written so far. */
  readonly output: { readonly stdout: string; readonly stderr: string }
  /** How many complete lines of `from` (default stderr) match `pattern` so far. */
  readonly count: (pattern: RegExp, from?: Output) => number
  /**
   * The complete line of `from` (default stderr) matching `pattern` that comes after the first
   * `seen` ones, as it arrives; the test fails if the child exits first or nothing comes in time.
   */
  readonly line: (
    pattern: RegExp,
    options?: { readonly seen?: number; readonly from?: Output }
  ) => Effect.Effect<string>
  /** The child's exit; the test fails if it does not come in time. */
  readonly exited: Effect.Effect<Exited>
  readonly running: () => boolean
  /** Sends `signal` to the child (to its whole group with `group`), if it still runs. */
  readonly kill: (signal: NodeJS.Signals) => void
}

export interface SpawnOptions {
  /** The working directory; also HOME unless `home` says otherwise. */
  readonly cwd: string
  readonly home?: string
  /** Variables added to the child's environment. */
  readonly env?: Readonly<Record<string, string>>
  /** Starts the child in a group of its own, so that a kill reaches what it starts (npm's script). */
  readonly group?: boolean
  /** How long a line and the exit may each take (default 15 s: the machine may be busy). */
  readonly bound?: Duration.DurationInput
}

/** The end of a long output, for failure messages. */
const tail = (text: string) => text.length > 2000 ? `...${text.slice(-2000)}` : text

/** `command args` in a child process, for the scope. */
export const spawn = (
  command: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions
): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.gen(function*() {
    const bound = options.bound ?? "15 seconds"
    const exited = yield* Deferred.make<Exited>()
    const output = { stdout: "", stderr: "" }
    let closed = false
    const running = () => !closed
    const child = ChildProcess.spawn(command, [...args], {
      cwd: options.cwd,
      env: { ...childEnv(options.home ?? options.cwd), ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: options.group === true
    })
    const kill = (signal: NodeJS.Signals) => {
      if (child.pid === undefined || !running()) return
      try {
        if (options.group === true) process.kill(-child.pid, signal)
        else child.kill(signal)
      } catch {
        // Already gone.
      }
    }
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        if (yield* Deferred.isDone(exited)) return
        kill("SIGKILL")
        yield* Deferred.await(exited)
      })
    )
    child.stdout.setEncoding("utf8")
    child.stderr.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => output.stdout += chunk)
    child.stderr.on("data", (chunk: string) => output.stderr += chunk)
    child.on("close", (code, signal) => {
      closed = true
      Deferred.unsafeDone(exited, Exit.succeed({ code, signal }))
    })
    child.on("error", (error) => {
      output.stderr += String(error)
      closed = true
      Deferred.unsafeDone(exited, Exit.succeed({ code: null, signal: null }))
    })

    const linesOf = (from: Output, pattern: RegExp) =>
      output[from].split("\n").slice(0, -1).filter((line) => pattern.test(line))

    const line = (
      pattern: RegExp,
      { from = "stderr", seen = 0 }: { readonly seen?: number; readonly from?: Output } = {}
    ) =>
      Effect.async<string, Error>((resume) => {
        const found = () => linesOf(from, pattern)[seen]
        const onData = () => {
          const line = found()
          if (line !== undefined) resume(Effect.succeed(line))
        }
        const onClose = () =>
          resume(Effect.fail(
            new Error(
              `exited before a line matching ${pattern}; stdout:\n${tail(output.stdout)}\nstderr:\n${
                tail(output.stderr)
              }`
            )
          ))
        // Added after the listeners above: `output` already holds the chunk when these run.
        child[from].on("data", onData)
        child.on("close", onClose)
        const line = found()
        if (line !== undefined) resume(Effect.succeed(line))
        else if (!running()) onClose()
        return Effect.sync(() => {
          child[from].off("data", onData)
          child.off("close", onClose)
        })
      }).pipe(
        Effect.timeoutFail({
          duration: bound,
          onTimeout: () => new Error(`no ${from} line matching ${pattern}; stderr:\n${tail(output.stderr)}`)
        }),
        Effect.orDie
      )

    return {
      output,
      count: (pattern, from = "stderr") => linesOf(from, pattern).length,
      line,
      exited: Deferred.await(exited).pipe(
        Effect.timeoutFail({
          duration: bound,
          onTimeout: () => new Error(`the child did not exit; stderr:\n${tail(output.stderr)}`)
        }),
        Effect.orDie
      ),
      running,
      kill
    }
  })

/** `clawgate <args>` in `cwd`, for the scope. */
export const clawgate = (args: ReadonlyArray<string>, options: SpawnOptions) =>
  spawn(process.execPath, [MAIN, ...args], options)

/** `clawgate <args>` run to its end: its exit and output. */
export const runClawgate = (args: ReadonlyArray<string>, options: SpawnOptions) =>
  Effect.gen(function*() {
    const child = yield* clawgate(args, options)
    const exit = yield* child.exited
    return { ...exit, stdout: child.output.stdout, stderr: child.output.stderr }
  })

/** The line `clawgate serve` prints on stdout once it listens, with the host and port it names. */
export const LISTENING = /^clawgate listening on http:\/\/([^/\s]+):(\d+)$/

export interface GatewayProcess extends Child {
  /** `http://<host>:<port>` it listens on. */
  readonly url: string
}

/** `clawgate serve --config <config> --port 0` in `home`, for the scope; given once it listens. */
export const startGateway = (
  config: string,
  home: string,
  options: Omit<SpawnOptions, "cwd" | "home"> = {}
): Effect.Effect<GatewayProcess, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* clawgate(["serve", "--config", config, "--port", "0"], { ...options, cwd: home })
    const listening = LISTENING.exec(yield* child.line(LISTENING, { from: "stdout" }))
    return { ...child, url: `http://${listening?.[1]}:${listening?.[2]}` }
  })

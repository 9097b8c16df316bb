/**
 * The gateway as an operator runs it, for the process tests: `node dist/bin/main.js serve --config
 * <file> --port 0` in a child process, in a temporary folder that is its HOME. `npm test` builds
 * dist/ first; alone, run `npm run build`. Every wait is on an event (a line of output, the
 * child's exit) and bounded; the scope's finalizer SIGKILLs a child still running.
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

const MAIN = fileURLToPath(new URL("../dist/bin/main.js", import.meta.url))

/** Fails the test file at once when dist/ has not been built. */
export const requireBuild = () => {
  if (!Fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does).`)
}

/** A temporary folder for the test's scope (config, session store, HOME). */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "clawgate-process-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** The machine's environment without clawgate / openclaw / clawdbot variables, HOME in `home`. */
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

export interface GatewayProcess {
  readonly url: string
  /** What the child has written so far. */
  readonly output: { readonly stdout: string; readonly stderr: string }
  /** How many complete stderr lines match `pattern` so far. */
  readonly count: (pattern: RegExp) => number
  /**
   * The complete stderr line matching `pattern` that comes after the first `seen` ones, as it
   * arrives; the test fails if the child exits first or nothing comes within the bound.
   */
  readonly line: (pattern: RegExp, seen?: number) => Effect.Effect<string>
  /** The child's exit; the test fails if it does not come within the bound. */
  readonly exited: Effect.Effect<Exited>
  readonly running: () => boolean
  /** Sends `signal` to the child, if it still runs. */
  readonly kill: (signal: NodeJS.Signals) => void
}

export interface Options {
  /** Variables added to the child's environment. */
  readonly env?: Readonly<Record<string, string>>
  /** How long starting, a line and the exit may each take (default 15 s: the machine may be busy). */
  readonly bound?: Duration.DurationInput
}

const LISTENING = /^clawgate listening on http:\/\/[^/\s]+:(\d+)$/m

/** The end of a long output, for failure messages. */
const tail = (text: string) => text.length > 2000 ? `...${text.slice(-2000)}` : text

/** `clawgate serve --config <config> --port 0` in `home`, for the scope; given once it listens. */
export const startGateway = (
  config: string,
  home: string,
  options: Options = {}
): Effect.Effect<GatewayProcess, never, Scope.Scope> =>
  Effect.gen(function*() {
    const bound = options.bound ?? "15 seconds"
    const exited = yield* Deferred.make<Exited>()
    const output = { stdout: "", stderr: "" }
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn(process.execPath, [MAIN, "serve", "--config", config, "--port", "0"], {
          cwd: home,
          env: { ...childEnv(home), ...options.env },
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) =>
        Effect.gen(function*() {
          if (yield* Deferred.isDone(exited)) return
          child.kill("SIGKILL")
          yield* Deferred.await(exited)
        })
    )
    child.stdout.setEncoding("utf8")
    child.stderr.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => output.stdout += chunk)
    child.stderr.on("data", (chunk: string) => output.stderr += chunk)
    child.on("close", (code, signal) => Deferred.unsafeDone(exited, Exit.succeed({ code, signal })))

    const linesOf = (stream: "stdout" | "stderr", pattern: RegExp) =>
      output[stream].split("\n").slice(0, -1).filter((line) => pattern.test(line))

    /** The matching complete line of `stream` after the first `seen` ones, as it arrives. */
    const lineOf = (stream: "stdout" | "stderr", pattern: RegExp, seen: number) =>
      Effect.async<string, Error>((resume) => {
        const found = () => linesOf(stream, pattern)[seen]
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
        child[stream].on("data", onData)
        child.on("close", onClose)
        const line = found()
        if (line !== undefined) resume(Effect.succeed(line))
        else if (child.exitCode !== null || child.signalCode !== null) onClose()
        return Effect.sync(() => {
          child[stream].off("data", onData)
          child.off("close", onClose)
        })
      }).pipe(
        Effect.timeoutFail({
          duration: bound,
          onTimeout: () => new Error(`no ${stream} line matching ${pattern}; stderr:\n${tail(output.stderr)}`)
        }),
        Effect.orDie
      )

    const listening = yield* lineOf("stdout", LISTENING, 0)
    const running = () => child.exitCode === null && child.signalCode === null
    return {
      url: `http://127.0.0.1:${LISTENING.exec(listening)?.[1]}`,
      output,
      count: (pattern) => linesOf("stderr", pattern).length,
      line: (pattern, seen = 0) => lineOf("stderr", pattern, seen),
      exited: Deferred.await(exited).pipe(
        Effect.timeoutFail({
          duration: bound,
          onTimeout: () => new Error(`the gateway did not exit; stderr:\n${tail(output.stderr)}`)
        }),
        Effect.orDie
      ),
      running,
      kill: (signal) => {
        if (running()) child.kill(signal)
      }
    }
  })

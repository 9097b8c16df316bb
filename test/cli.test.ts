/**
 * The `clawgate` command as a user runs it: `node dist/bin/main.js ...` in a child process
 * (serve, refusing to start, agent). `npm test` builds dist/ first; alone, run `npm run build`.
 * Every wait is on the child's own events (a line on stdout, its exit); finalizers kill what is left.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import { fileURLToPath } from "node:url"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
const MAIN = fileURLToPath(new URL("../dist/bin/main.js", import.meta.url))
const TOKEN = "cli-token"

if (!Fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does).`)

/**
 * A child's environment: the machine's, without its clawgate / openclaw / clawdbot variables, and
 * with HOME in the test's temp directory so nothing (a session store under ~/.clawgate) lands in
 * the real home directory.
 */
const childEnv = (home: string, extra: Record<string, string> = {}): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(OPENCLAW_|CLAWDBOT_|CLAWGATE_)/.test(name)) env[name] = value
  }
  return { ...env, HOME: home, ...extra }
}

interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

interface Running {
  readonly output: { stdout: string; stderr: string }
  /** Completes when the process has exited and its output is closed. */
  readonly exited: Deferred.Deferred<Exited>
  /** The first complete stdout line that passes `test`; fails if the process exits before one. */
  readonly waitForLine: (test: (line: string) => boolean) => Effect.Effect<string, Error>
  readonly kill: (signal: NodeJS.Signals) => void
}

/**
 * Starts a process for the test's scope; the finalizer kills it (and, with `group`, every process
 * it started) and waits for it to be gone.
 */
const start = (
  command: string,
  args: ReadonlyArray<string>,
  options: {
    readonly cwd: string
    readonly home?: string
    readonly env?: Record<string, string>
    readonly group?: boolean
  }
): Effect.Effect<Running, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const exited = yield* Deferred.make<Exited>()
      const output = { stdout: "", stderr: "" }
      const child = ChildProcess.spawn(command, [...args], {
        cwd: options.cwd,
        env: childEnv(options.home ?? options.cwd, options.env),
        stdio: ["ignore", "pipe", "pipe"],
        detached: options.group === true
      })
      child.stdout.setEncoding("utf8")
      child.stderr.setEncoding("utf8")
      child.stdout.on("data", (chunk: string) => {
        output.stdout += chunk
      })
      child.stderr.on("data", (chunk: string) => {
        output.stderr += chunk
      })
      let closed = false
      child.on("close", (code, signal) => {
        closed = true
        Deferred.unsafeDone(exited, Exit.succeed({ code, signal }))
      })
      child.on("error", (error) => {
        output.stderr += String(error)
        closed = true
        Deferred.unsafeDone(exited, Exit.succeed({ code: null, signal: null }))
      })
      const found = (test: (line: string) => boolean) => output.stdout.split("\n").slice(0, -1).find(test)
      const waitForLine = (test: (line: string) => boolean) =>
        Effect.async<string, Error>((resume) => {
          const onData = () => {
            const line = found(test)
            if (line !== undefined) resume(Effect.succeed(line))
          }
          const onClose = () =>
            resume(
              Effect.fail(
                new Error(`exited before printing the line; stdout:\n${output.stdout}\nstderr:\n${output.stderr}`)
              )
            )
          // The listeners run after the ones above, so `output` already holds the chunk.
          child.stdout.on("data", onData)
          child.on("close", onClose)
          const line = found(test)
          if (line !== undefined) resume(Effect.succeed(line))
          else if (closed) onClose()
          return Effect.sync(() => {
            child.stdout.off("data", onData)
            child.off("close", onClose)
          })
        })
      const kill = (signal: NodeJS.Signals) => {
        if (child.pid === undefined || closed) return
        try {
          if (options.group === true) process.kill(-child.pid, signal)
          else child.kill(signal)
        } catch {
          // Already gone.
        }
      }
      return { output, exited, waitForLine, kill }
    }),
    ({ exited, kill }) =>
      Effect.gen(function*() {
        if (yield* Deferred.isDone(exited)) return
        kill("SIGKILL")
        yield* Deferred.await(exited)
      })
  )

/** `clawgate <args>` run to its end. */
const runClawgate = (
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: Record<string, string> }
) =>
  Effect.gen(function*() {
    const running = yield* start(process.execPath, [MAIN, ...args], options)
    const exit = yield* Deferred.await(running.exited)
    return { ...exit, stdout: running.output.stdout, stderr: running.output.stderr }
  })

const LISTENING = /^clawgate listening on http:\/\/([^/]+):(\d+)$/

/** `clawgate <args>` started as a server: waits for its one line and gives the address it names. */
const serveClawgate = (
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: Record<string, string> }
) =>
  Effect.gen(function*() {
    const running = yield* start(process.execPath, [MAIN, ...args], options)
    const line = yield* running.waitForLine(() => true).pipe(Effect.orDie)
    const match = LISTENING.exec(line)
    if (match === null) return yield* Effect.dieMessage(`unexpected first line: ${line}`)
    return { ...running, line, host: match[1] ?? "", port: Number(match[2]) }
  })

/** POST /v1/chat/completions as a client would. */
const chat = (url: string, token: string | undefined, content = "hello big world") =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` })
      },
      body: JSON.stringify({ model: "clawdbot:main", messages: [{ role: "user", content }] })
    })
    const body: unknown = await response.json()
    return { status: response.status, body, sessionKey: response.headers.get("x-clawdbot-session-key") }
  })

/** A temp directory holding `name` with `text`; the directory is also a clean cwd for the child. */
const tempConfig = (text: string, name = "config.json5") =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "clawgate-cli-" })
    const path = `${dir}/${name}`
    yield* fs.writeFileString(path, text)
    return { dir, path }
  }).pipe(Effect.provide(NodeContext.layer))

const TOKEN_CONFIG = `// a test config
{
  gateway: {
    port: 18789,
    http: { endpoints: { chatCompletions: { enabled: true } } },
    auth: { mode: "token", token: "${TOKEN}" },
  },
  agents: { list: [{ id: "main", default: true, model: "echo" }, { id: "beta", model: "echo" }] },
}`

describe("clawgate serve", () => {
  it.scopedLive("with --port 0 prints exactly one line on stdout, and that port answers", () =>
    Effect.gen(function*() {
      const { dir, path } = yield* tempConfig(TOKEN_CONFIG)
      const server = yield* serveClawgate(["serve", "--config", path, "--port", "0"], { cwd: dir })
      expect(server.line).toBe(`clawgate listening on http://127.0.0.1:${server.port}`)
      expect(server.port).toBeGreaterThan(0)
      expect(server.port).not.toBe(18789)

      const answer = yield* chat(`http://127.0.0.1:${server.port}`, TOKEN)
      expect(answer.status).toBe(200)
      expect(answer.body).toMatchObject({
        object: "chat.completion",
        choices: [{ message: { content: "hello big world" } }]
      })
      expect(answer.sessionKey).toMatch(/^agent:main:openai:/)
      const refused = yield* chat(`http://127.0.0.1:${server.port}`, "wrong")
      expect(refused.status).toBe(401)

      server.kill("SIGTERM")
      const exit = yield* Deferred.await(server.exited)
      expect(exit.code === 0 || exit.signal === "SIGTERM").toBe(true)
      // Only the one line on stdout; the request log lines went to stderr.
      expect(server.output.stdout).toBe(`${server.line}\n`)
      expect(server.output.stderr).toContain("/v1/chat/completions")
      expect(server.output.stderr).not.toContain(TOKEN)
    }))

  it.scopedLive("--bind wins over the file's bind", () =>
    Effect.gen(function*() {
      const { dir, path } = yield* tempConfig(TOKEN_CONFIG)
      const server = yield* serveClawgate(["serve", "--config", path, "--port", "0", "--bind", "127.0.0.2"], {
        cwd: dir
      })
      expect(server.line).toBe(`clawgate listening on http://127.0.0.2:${server.port}`)
      const answer = yield* chat(`http://127.0.0.2:${server.port}`, TOKEN)
      expect(answer.status).toBe(200)
    }))

  it.scopedLive("the default command (no subcommand) serves", () =>
    Effect.gen(function*() {
      const { dir, path } = yield* tempConfig(TOKEN_CONFIG)
      const server = yield* serveClawgate(["--config", path, "--port", "0"], { cwd: dir })
      expect(server.line).toBe(`clawgate listening on http://127.0.0.1:${server.port}`)
      const answer = yield* chat(`http://127.0.0.1:${server.port}`, TOKEN, "default command")
      expect(answer.status).toBe(200)
      expect(answer.body).toMatchObject({ choices: [{ message: { content: "default command" } }] })
    }))

  it.scopedLive("OPENCLAW_GATEWAY_TOKEN in the environment is the token when the file has none", () =>
    Effect.gen(function*() {
      const { dir, path } = yield* tempConfig(`{
  gateway: { http: { endpoints: { chatCompletions: { enabled: true } } } },
}`)
      const server = yield* serveClawgate(["--config", path, "--port", "0"], {
        cwd: dir,
        env: { OPENCLAW_GATEWAY_TOKEN: "env-secret" }
      })
      const url = `http://127.0.0.1:${server.port}`
      expect((yield* chat(url, "env-secret")).status).toBe(200)
      expect((yield* chat(url, undefined)).status).toBe(401)
      expect((yield* chat(url, TOKEN)).status).toBe(401)
    }))

  it.scopedLive("the README's command: npm start -- serve --config examples/clawgate.json5 --port 0", () =>
    Effect.gen(function*() {
      // --ignore-scripts skips only `prestart` (the build `npm test` has just done); `start` itself runs.
      const npm = process.platform === "win32" ? "npm.cmd" : "npm"
      const { dir } = yield* tempConfig("{}")
      const server = yield* start(
        npm,
        ["start", "--ignore-scripts", "--", "serve", "--config", "examples/clawgate.json5", "--port", "0"],
        { cwd: ROOT, home: dir, group: true }
      )
      // npm echoes the script before it runs; wait for the gateway's own line.
      const line = yield* server.waitForLine((text) => LISTENING.test(text))
      const port = Number(LISTENING.exec(line)?.[2])
      const answer = yield* chat(`http://127.0.0.1:${port}`, "change-me")
      expect(answer.status).toBe(200)
      expect(answer.body).toMatchObject({ choices: [{ message: { content: "hello big world" } }] })
    }))
})

describe("clawgate refuses to start", () => {
  it.scopedLive("a bad config file: non-zero exit, stderr names the file, the key path and the problem", () =>
    Effect.gen(function*() {
      const { dir, path } = yield* tempConfig(`{ gateway: { port: 70000, bind: "moon" } }`)
      const result = yield* runClawgate(["serve", "--config", path, "--port", "0"], { cwd: dir })
      expect(result.code).not.toBe(0)
      expect(result.code).not.toBeNull()
      expect(result.stdout).toBe("")
      expect(result.stderr).toContain(path)
      expect(result.stderr).toContain("gateway.port: expected a port number (0-65535)")
      expect(result.stderr).toContain("gateway.bind: expected \"loopback\", \"lan\" or an IP address")
    }))

  it.scopedLive("an enabled endpoint with no secret: non-zero exit with a clear message", () =>
    Effect.gen(function*() {
      const { dir, path } = yield* tempConfig(
        `{ gateway: { http: { endpoints: { chatCompletions: { enabled: true } } } } }`
      )
      const result = yield* runClawgate(["serve", "--config", path, "--port", "0"], { cwd: dir })
      expect(result.code).not.toBe(0)
      expect(result.stdout).toBe("")
      expect(result.stderr).toContain(path)
      expect(result.stderr).toContain("the chatCompletions endpoint is enabled but no secret is set")
      expect(result.stderr).toContain("OPENCLAW_GATEWAY_TOKEN")
    }))

  it.scopedLive("--port 70000 is refused", () =>
    Effect.gen(function*() {
      const { dir, path } = yield* tempConfig(TOKEN_CONFIG)
      const result = yield* runClawgate(["serve", "--config", path, "--port", "70000"], { cwd: dir })
      expect(result.code).not.toBe(0)
      expect(result.stdout).toBe("")
      expect(result.stderr).toContain("--port: expected a port number (0-65535)")
    }))
})

describe("clawgate agent", () => {
  const SESSION = /^session: (.+)$/m

  it.scopedLive("prints the echo reply on stdout and the session key on stderr", () =>
    Effect.gen(function*() {
      const { dir, path } = yield* tempConfig(TOKEN_CONFIG)
      const result = yield* runClawgate(["agent", "--message", "hello big world", "--config", path], { cwd: dir })
      expect(result.code).toBe(0)
      expect(result.stdout).toBe("hello big world\n")
      expect(SESSION.exec(result.stderr)?.[1]).toMatch(/^agent:main:openai:[0-9a-f-]{36}$/)
    }))

  it.scopedLive("--user alice gives the session key agent:main:openai-user:alice", () =>
    Effect.gen(function*() {
      const { dir, path } = yield* tempConfig(TOKEN_CONFIG)
      const user = yield* runClawgate(["agent", "--message", "hi", "--user", "alice", "--config", path], { cwd: dir })
      expect(user.code).toBe(0)
      expect(user.stdout).toBe("hi\n")
      expect(SESSION.exec(user.stderr)?.[1]).toBe("agent:main:openai-user:alice")
    }))

  it.scopedLive("--agent nope fails, listing the known agents", () =>
    Effect.gen(function*() {
      const { dir, path } = yield* tempConfig(TOKEN_CONFIG)
      const nope = yield* runClawgate(["agent", "--message", "hi", "--agent", "nope", "--config", path], { cwd: dir })
      expect(nope.code).not.toBe(0)
      expect(nope.code).not.toBeNull()
      expect(nope.stdout).toBe("")
      expect(nope.stderr).toContain("The agent 'nope' does not exist. Known agents: main, beta.")
    }))

  it.scopedLive("finds ./clawgate.json5 in its working directory, and CLAWGATE_CONFIG", () =>
    Effect.gen(function*() {
      const local = yield* tempConfig(`{ agents: { list: [{ id: "from-cwd", model: "echo" }] } }`, "clawgate.json5")
      const inCwd = yield* runClawgate(["agent", "--message", "hi"], { cwd: local.dir })
      expect(inCwd.code).toBe(0)
      expect(SESSION.exec(inCwd.stderr)?.[1]).toMatch(/^agent:from-cwd:openai:/)

      const named = yield* tempConfig(`{ agents: { list: [{ id: "from-env", model: "echo" }] } }`)
      const viaEnv = yield* runClawgate(["agent", "--message", "hi"], {
        cwd: local.dir,
        env: { CLAWGATE_CONFIG: named.path }
      })
      expect(viaEnv.code).toBe(0)
      expect(SESSION.exec(viaEnv.stderr)?.[1]).toMatch(/^agent:from-env:openai:/)
    }))
})

/**
 * The `clawgate` command as a user runs it: `node dist/bin/main.js ...` in a child process
 * (serve, refusing to start, agent). `npm test` builds dist/ first; alone, run `npm run build`.
 * Every wait is on the child's own events (a line on stdout, its exit); finalizers kill what is left.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { fetchJson, PATH, userSays } from "./kit/http.js"
import {
  clawgate,
  LISTENING,
  requireBuild,
  ROOT,
  runClawgate,
  spawn,
  type SpawnOptions,
  tempDir,
  writeConfig
} from "./kit/process.js"

const TOKEN = "cli-token"

requireBuild()

/** `clawgate <args>` started as a server: its first line on stdout, and the address that line names. */
const serveClawgate = (args: ReadonlyArray<string>, options: SpawnOptions) =>
  Effect.gen(function*() {
    const server = yield* clawgate(args, options)
    const line = yield* server.line(/^/, { from: "stdout" })
    const match = LISTENING.exec(line)
    if (match === null) return yield* Effect.dieMessage(`unexpected first line: ${line}`)
    return { ...server, line, host: match[1] ?? "", port: Number(match[2]) }
  })

/** POST /v1/chat/completions as a client would, with `token` (none: no Authorization). */
const ask = (url: string, token: string | undefined, content = "hello big world") =>
  fetchJson(url, PATH, { token: token ?? null, body: userSays(content) })

/** A temporary folder holding `name` with `text`; the folder is also a clean cwd for the child. */
const tempConfig = (text: string, name = "config.json5") =>
  Effect.map(tempDir, (dir) => ({ dir, path: writeConfig(dir, text, name) }))

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

      const answer = yield* ask(`http://127.0.0.1:${server.port}`, TOKEN)
      expect(answer.status).toBe(200)
      expect(answer.json).toMatchObject({
        object: "chat.completion",
        choices: [{ message: { content: "hello big world" } }]
      })
      expect(answer.header("x-clawdbot-session-key")).toMatch(/^agent:main:openai:/)
      const refused = yield* ask(`http://127.0.0.1:${server.port}`, "wrong")
      expect(refused.status).toBe(401)

      server.kill("SIGTERM")
      const exit = yield* server.exited
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
      const answer = yield* ask(`http://127.0.0.2:${server.port}`, TOKEN)
      expect(answer.status).toBe(200)
    }))

  it.scopedLive("the default command (no subcommand) serves", () =>
    Effect.gen(function*() {
      const { dir, path } = yield* tempConfig(TOKEN_CONFIG)
      const server = yield* serveClawgate(["--config", path, "--port", "0"], { cwd: dir })
      expect(server.line).toBe(`clawgate listening on http://127.0.0.1:${server.port}`)
      const answer = yield* ask(`http://127.0.0.1:${server.port}`, TOKEN, "default command")
      expect(answer.status).toBe(200)
      expect(answer.json).toMatchObject({ choices: [{ message: { content: "default command" } }] })
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
      expect((yield* ask(url, "env-secret")).status).toBe(200)
      expect((yield* ask(url, undefined)).status).toBe(401)
      expect((yield* ask(url, TOKEN)).status).toBe(401)
    }))

  it.scopedLive("the README's command: npm start -- serve --config examples/clawgate.json5 --port 0", () =>
    Effect.gen(function*() {
      // --ignore-scripts skips only `prestart` (the build `npm test` has just done); `start` itself runs.
      const npm = process.platform === "win32" ? "npm.cmd" : "npm"
      const { dir } = yield* tempConfig("{}")
      const server = yield* spawn(
        npm,
        ["start", "--ignore-scripts", "--", "serve", "--config", "examples/clawgate.json5", "--port", "0"],
        { cwd: ROOT, home: dir, group: true }
      )
      // npm echoes the script before it runs; wait for the gateway's own line.
      const line = yield* server.line(LISTENING, { from: "stdout" })
      const port = Number(LISTENING.exec(line)?.[2])
      const answer = yield* ask(`http://127.0.0.1:${port}`, "change-me")
      expect(answer.status).toBe(200)
      expect(answer.json).toMatchObject({ choices: [{ message: { content: "hello big world" } }] })
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

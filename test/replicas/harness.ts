/**
 * Replicas as an operator runs them: `node dist/bin/main.js serve --config <file> --port 0` child
 * processes on one PostgreSQL store, a fake OpenAI-compatible provider whose every answer the
 * test releases, and chat requests over raw node:http. `npm test` builds dist/ first; alone, run
 * `npm run build`. Every wait is on an event (a line of output, a provider call, an answer, the
 * child's exit), bounded; finalizers kill what is left.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as NodeHttp from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { BOUND } from "./pg.js"

const MAIN = fileURLToPath(new URL("../../dist/bin/main.js", import.meta.url))
const TOKEN = "replica-token"
/** The config names the store's URL through this variable, as an operator hides its password. */
const STORE_URL_VARIABLE = "REPLICA_TEST_STORE_URL"

/** Fails the test file at once when dist/ has not been built. */
export const requireBuild = () => {
  if (!Fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does).`)
}

/** How long a process may take to start: loading it is slow on a busy machine. */
const STARTUP_BOUND = Duration.seconds(30)

const bounded = <A, E>(what: string, bound: Duration.DurationInput = BOUND) => (effect: Effect.Effect<A, E>) =>
  effect.pipe(
    Effect.timeoutFail({ duration: bound, onTimeout: () => new Error(`timed out: ${what}`) }),
    Effect.orDie
  )

// ---------------------------------------------------------------------------------------------
// The provider
// ---------------------------------------------------------------------------------------------

export interface Message {
  readonly role: string
  readonly content: string
}

/** One upstream request, held until the test answers it. */
export interface Call {
  /** The conversation the model was given, system messages left out. */
  readonly messages: ReadonlyArray<Message>
  /** The last user message. */
  readonly said: string
  /** Answers with `text` (JSON or SSE, as asked) and ends the response. */
  readonly answer: (text: string) => Effect.Effect<void>
}

export interface Provider {
  /** `http://127.0.0.1:<port>/v1` */
  readonly baseUrl: string
  /** The next call, in arrival order. */
  readonly nextCall: Effect.Effect<Call>
  /** Calls received and not yet taken with `nextCall`. */
  readonly waiting: Effect.Effect<number>
  /** What happened, in order: `start <said>` when a call arrives, `end <said>` once answered. */
  readonly events: () => ReadonlyArray<string>
  /** The most calls ever open at once. */
  readonly mostOpenAtOnce: () => number
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
    ? content.map((part) => isRecord(part) && typeof part.text === "string" ? part.text : "").join("")
    : ""

const messagesOf = (body: unknown): ReadonlyArray<Message> =>
  (isRecord(body) && Array.isArray(body.messages) ? body.messages : []).flatMap((message: unknown) =>
    isRecord(message) && typeof message.role === "string" && message.role !== "system"
      ? [{ role: message.role, content: textOf(message.content) }]
      : []
  )

/** A fake OpenAI-compatible Chat Completions server for the scope. */
export const provider: Effect.Effect<Provider, never, Scope.Scope> = Effect.gen(function*() {
  const calls = yield* Queue.unbounded<Call>()
  const events: Array<string> = []
  let open = 0
  let mostOpen = 0

  const server = NodeHttp.createServer((req, res) => {
    let text = ""
    req.setEncoding("utf8")
    req.on("data", (part: string) => text += part)
    req.on("end", () => {
      const body: unknown = JSON.parse(text)
      const messages = messagesOf(body)
      const said = messages.findLast((message) => message.role === "user")?.content ?? ""
      const stream = isRecord(body) && body.stream === true
      events.push(`start ${said}`)
      open += 1
      mostOpen = Math.max(mostOpen, open)
      let answered = false
      // A caller that goes away (its process killed) ends the call too.
      res.on("close", () => {
        if (!answered) open -= 1
        answered = true
      })
      const answer = (reply: string) =>
        Effect.sync(() => {
          if (answered) return
          answered = true
          open -= 1
          events.push(`end ${said}`)
          const id = "chatcmpl-replica"
          const created = Math.floor(Date.now() / 1000)
          const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }
          if (!stream) {
            res.writeHead(200, { "content-type": "application/json" })
            res.end(JSON.stringify({
              id,
              object: "chat.completion",
              created,
              model: "slow",
              choices: [{ index: 0, message: { role: "assistant", content: reply }, finish_reason: "stop" }],
              usage
            }))
            return
          }
          const chunk = (choices: ReadonlyArray<unknown>, extra: Record<string, unknown> = {}) =>
            `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: "slow", choices, ...extra })}\n\n`
          res.writeHead(200, { "content-type": "text/event-stream" })
          res.write(chunk([{ index: 0, delta: { role: "assistant", content: reply }, finish_reason: null }]))
          res.write(chunk([{ index: 0, delta: {}, finish_reason: "stop" }]))
          res.write(chunk([], { usage }))
          res.end("data: [DONE]\n\n")
        })
      Queue.unsafeOffer(calls, { messages, said, answer })
    })
  })
  const port = yield* Effect.acquireRelease(
    Effect.async<number>((resume) => {
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
      })
    }),
    () =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    nextCall: Queue.take(calls).pipe(bounded("the next provider call")),
    waiting: Queue.size(calls),
    events: () => [...events],
    mostOpenAtOnce: () => mostOpen
  }
})

// ---------------------------------------------------------------------------------------------
// The gateway processes
// ---------------------------------------------------------------------------------------------

/** A folder for the scope: the config file, and each process's HOME. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "clawgate-replicas-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** The replicas' config: agent `main` on the provider, the store on PostgreSQL by `${variable}`. */
export const writeConfig = (dir: string, providerUrl: string) => {
  const file = Path.join(dir, "clawgate.json5")
  Fs.writeFileSync(
    file,
    JSON.stringify({
      gateway: {
        auth: { mode: "token", token: TOKEN },
        http: { endpoints: { chatCompletions: { enabled: true } } }
      },
      agents: { list: [{ id: "main", default: true, model: "fake/slow" }] },
      models: {
        providers: {
          fake: { api: "openai-completions", baseUrl: providerUrl, apiKey: "sk-fake", retry: { attempts: 0 } }
        }
      },
      session: { store: { kind: "postgres", url: `\${${STORE_URL_VARIABLE}}` } }
    })
  )
  return file
}

export interface Gateway {
  readonly url: string
  /** What the process wrote to stderr so far (its log). */
  readonly stderr: () => string
  /** Kills the process with `signal` and waits for it to be gone. */
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
}

const LISTENING = /^clawgate listening on http:\/\/[^/\s]+:(\d+)$/m

const tail = (text: string) => text.length > 2000 ? `...${text.slice(-2000)}` : text

/** `clawgate serve --config <file> --port 0` with the store URL in its environment, once it listens. */
export const startGateway = (config: string, home: string, storeUrl: string): Effect.Effect<Gateway, never, Scope.Scope> =>
  Effect.gen(function*() {
    Fs.mkdirSync(home, { recursive: true })
    const exited = yield* Deferred.make<void>()
    const listening = yield* Deferred.make<number, Error>()
    let stderr = ""
    let stdout = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const env: Record<string, string> = {}
        for (const [name, value] of Object.entries(process.env)) {
          if (value !== undefined && !/^(OPENCLAW_|CLAWDBOT_|CLAWGATE_)/.test(name)) env[name] = value
        }
        return ChildProcess.spawn(process.execPath, [MAIN, "serve", "--config", config, "--port", "0"], {
          cwd: home,
          env: { ...env, HOME: home, [STORE_URL_VARIABLE]: storeUrl },
          stdio: ["ignore", "pipe", "pipe"]
        })
      }),
      (child) =>
        Effect.gen(function*() {
          if (yield* Deferred.isDone(exited)) return
          child.kill("SIGKILL")
          yield* Deferred.await(exited)
        })
    )
    child.stdout.setEncoding("utf8")
    child.stderr.setEncoding("utf8")
    child.stdout.on("data", (part: string) => {
      stdout += part
      const port = LISTENING.exec(stdout)?.[1]
      if (port !== undefined) Deferred.unsafeDone(listening, Exit.succeed(Number(port)))
    })
    child.stderr.on("data", (part: string) => stderr += part)
    child.on("close", () => {
      Deferred.unsafeDone(exited, Exit.void)
      Deferred.unsafeDone(listening, Exit.fail(new Error(`the gateway exited before listening; stderr:\n${tail(stderr)}`)))
    })
    const port = yield* Deferred.await(listening).pipe(bounded("the gateway's listening line", STARTUP_BOUND))
    return {
      url: `http://127.0.0.1:${port}`,
      stderr: () => stderr,
      kill: (signal) =>
        Effect.suspend(() => {
          child.kill(signal)
          return Deferred.await(exited)
        }).pipe(bounded("the gateway's exit"))
    }
  })

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

export interface Answer {
  readonly status: number
  /** The reply's text (JSON answers), or the body as it came. */
  readonly text: string
}

/**
 * Sends `content` on `sessionKey` (the session-key header) and reads the answer whole; fails
 * when the connection is lost first.
 */
export const chat = (gateway: Gateway, sessionKey: string, content: string): Effect.Effect<Answer, Error> =>
  Effect.async<Answer, Error>((resume) => {
    const request = NodeHttp.request(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      agent: false,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        "content-type": "application/json",
        "x-clawdbot-session-key": sessionKey
      }
    }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (part: string) => body += part)
      response.on("end", () => {
        let text = body
        try {
          const parsed: unknown = JSON.parse(body)
          const choices = isRecord(parsed) && Array.isArray(parsed.choices) ? parsed.choices : []
          const first: unknown = choices[0]
          if (isRecord(first) && isRecord(first.message)) text = textOf(first.message.content)
        } catch {
          // not JSON: the body as it came
        }
        resume(Effect.succeed({ status: response.statusCode ?? 0, text }))
      })
      response.on("error", (error) => resume(Effect.fail(error)))
    })
    request.on("error", (error) => resume(Effect.fail(error)))
    request.end(JSON.stringify({ model: "clawdbot:main", messages: [{ role: "user", content }] }))
    return Effect.sync(() => request.destroy())
  })

/** Transcript rows as `role: content` lines, for comparisons. */
export const lines = (messages: ReadonlyArray<Message>) => messages.map(({ content, role }) => `${role}: ${content}`)

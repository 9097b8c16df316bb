/**
 * Replicas as an operator runs them: `node dist/bin/main.js serve --config <file> --port 0` child
 * processes on one PostgreSQL store, a fake OpenAI-compatible provider whose every answer the
 * test releases, and chat requests over raw node:http. `npm test` builds dist/ first; alone, run
 * `npm run build`. Every wait is on an event (a line of output, a provider call, an answer, the
 * child's exit), bounded; finalizers kill what is left.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as NodeHttp from "node:http"
import * as Path from "node:path"
import { listenOnLoopback } from "../fakes/listen.js"
import { type GatewayProcess, startGateway as startGatewayProcess } from "../gatewayProcess.js"
import { BOUND } from "./pg.js"

const TOKEN = "replica-token"
/** The config names the store's URL through this variable, as an operator hides its password. */
const STORE_URL_VARIABLE = "REPLICA_TEST_STORE_URL"

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
            `data: ${
              JSON.stringify({ id, object: "chat.completion.chunk", created, model: "slow", choices, ...extra })
            }\n\n`
          res.writeHead(200, { "content-type": "text/event-stream" })
          res.write(chunk([{ index: 0, delta: { role: "assistant", content: reply }, finish_reason: null }]))
          res.write(chunk([{ index: 0, delta: {}, finish_reason: "stop" }]))
          res.write(chunk([], { usage }))
          res.end("data: [DONE]\n\n")
        })
      Queue.unsafeOffer(calls, { messages, said, answer })
    })
  })
  const port = yield* listenOnLoopback(server)
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

/** `clawgate serve --config <file> --port 0` in `home`, with the store URL in its environment. */
export const startGateway = (config: string, home: string, storeUrl: string) =>
  Effect.suspend(() => {
    Fs.mkdirSync(home, { recursive: true })
    // Loading a process is slow on a busy machine.
    return startGatewayProcess(config, home, { env: { [STORE_URL_VARIABLE]: storeUrl }, bound: "30 seconds" })
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
export const chat = (gateway: GatewayProcess, sessionKey: string, content: string): Effect.Effect<Answer, Error> =>
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

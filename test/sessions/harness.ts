/**
 * The session tests' gateway: the real gateway over loopback (test/support.ts) with the live
 * AgentRunner on the scripted model (test/fakes/ScriptedModel.ts), an in-memory SQLite session
 * store the test can read, and the real RunQueue with a tap that tells the test when a run arrives
 * at it. Plus small request helpers (node:http, SSE reading) and the store read back with SQL.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import * as NodeHttp from "node:http"
import * as LiveRunner from "../../src/agent/LiveRunner.js"
import { RunQueue } from "../../src/agent/RunQueue.js"
import { Config } from "../../src/config/Config.js"
import { type ConfigInput } from "../../src/config/ConfigFile.js"
import { SessionStore } from "../../src/store/SessionStore.js"
import { type Call, ScriptedModel } from "../fakes/ScriptedModel.js"
import { sseEvents } from "../rawHttp.js"
import { baseConfig, baseUrl, gateway, TOKEN } from "../support.js"

export const PATH = "/v1/chat/completions"

/** A run reaching the RunQueue, or giving up while it waited there. */
export interface QueueEvent {
  readonly event: "arrived" | "gave up"
  /** The session key (`(stateless)` for the others). */
  readonly key: string
}

/** What happened at the RunQueue, in order. */
export class Arrivals extends Context.Tag("test/sessions/Arrivals")<Arrivals, Queue.Queue<QueueEvent>>() {}

/** The real RunQueue from the config's limits, telling `Arrivals` of each run as it enters. */
const tappedRunQueue = Layer.effect(
  RunQueue,
  Effect.gen(function*() {
    const settings = yield* Config
    const arrivals = yield* Arrivals
    const queue = RunQueue.make({
      maxConcurrentRuns: settings.maxConcurrentRuns,
      maxQueuedPerSession: settings.session.maxQueuedPerSession
    })
    return RunQueue.of({
      enter: (sessionKey) => {
        const key = sessionKey ?? "(stateless)"
        return Effect.zipRight(
          Queue.offer(arrivals, { event: "arrived", key }),
          queue.enter(sessionKey).pipe(Effect.onInterrupt(() => Queue.offer(arrivals, { event: "gave up", key })))
        )
      }
    })
  })
)

/** `baseConfig` with these top-level sections replaced. */
export const configWith = (overrides: Partial<ConfigInput>): ConfigInput => ({ ...baseConfig, ...overrides })

/** `baseConfig` whose agents `main` and `beta` have these settings (model stays `echo`, replaced anyway). */
export const agentsWith = (settings: Record<string, unknown>, extra: Partial<ConfigInput> = {}): ConfigInput =>
  configWith({
    agents: {
      list: [
        { id: "main", default: true, model: "echo", ...settings },
        { id: "beta", model: "echo", ...settings }
      ]
    },
    ...extra
  })

/**
 * The gateway with the live runner on the scripted model (answering with `answer` when given,
 * else waiting for the test's script), an in-memory store shared with the test (`SessionStore`,
 * `SqlClient`) and `Arrivals`. Its request log is silenced.
 */
export const sessionGateway = (
  options: { readonly config?: ConfigInput; readonly answer?: (call: Call) => string } = {}
) => {
  const sql = SqliteClient.layer({ filename: ":memory:" })
  const store = SessionStore.layerSql.pipe(Layer.provide(sql))
  const model = ScriptedModel.layer(options.answer === undefined ? {} : { answer: options.answer })
  const arrivals = Layer.effect(Arrivals, Queue.unbounded<QueueEvent>())
  const runQueue = tappedRunQueue.pipe(Layer.provide(arrivals))
  const runner = LiveRunner.layerFromServices.pipe(Layer.provide(Layer.mergeAll(model, store, runQueue)))
  // The layers named twice (store, sql, model, arrivals) are built once: the test sees the runner's.
  return Layer.mergeAll(gateway({ config: options.config ?? baseConfig, runner }), store, sql, model, arrivals).pipe(
    Layer.provide(Logger.minimumLogLevel(LogLevel.None))
  )
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

export interface Message {
  readonly role: string
  readonly content: string
}

export const user = (content: string): Message => ({ role: "user", content })
export const assistant = (content: string): Message => ({ role: "assistant", content })
export const system = (content: string): Message => ({ role: "system", content })

/** A chat request body for agent `main`. */
export const body = (messages: ReadonlyArray<Message>, extra: Record<string, unknown> = {}) => ({
  model: "clawdbot:main",
  messages,
  ...extra
})

/** An answer as it arrives: its status and headers, and its body read on demand. */
export interface Answer {
  readonly status: number
  /** A response header (lower-case name). */
  readonly header: (name: string) => string | undefined
  readonly chunks: AsyncIterator<string>
  /** Disconnects, as a client that goes away does. */
  readonly disconnect: () => void
}

/**
 * POSTs a chat request on a connection of its own (node:http without an agent: no keep-alive
 * sockets left behind to hold up the server's shutdown). Gives the answer once its head arrives;
 * disconnects when the enclosing scope closes.
 */
export const post = (payload: unknown, headers: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const url = yield* baseUrl
    const request = NodeHttp.request(`${url}${PATH}`, {
      method: "POST",
      agent: false,
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...headers }
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => request.destroy()))
    return yield* Effect.async<Answer>((resume) => {
      request.on("response", (response) => {
        response.setEncoding("utf8")
        resume(Effect.succeed({
          status: response.statusCode ?? 0,
          header: (name) => {
            const value = response.headers[name]
            return Array.isArray(value) ? value.join(", ") : value
          },
          chunks: response[Symbol.asyncIterator](),
          disconnect: () => request.destroy()
        }))
      })
      request.on("error", (error) => resume(Effect.die(error)))
      request.end(JSON.stringify(payload))
      // Given up before the head arrived: the client goes away.
      return Effect.sync(() => request.destroy())
    })
  })

/** The whole body as text. */
export const readAll = (answer: Answer) =>
  Effect.promise(async () => {
    let text = ""
    for (let chunk = await answer.chunks.next(); chunk.done !== true; chunk = await answer.chunks.next()) {
      text += String(chunk.value)
    }
    return text
  })

export interface JsonAnswer {
  readonly status: number
  readonly header: (name: string) => string | undefined
  readonly json: unknown
}

/** A non-streamed request, read to its end. */
export const complete = (payload: unknown, headers: Readonly<Record<string, string>> = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const answer = yield* post(payload, headers)
    const json: unknown = JSON.parse(yield* readAll(answer))
    return { status: answer.status, header: answer.header, json } satisfies JsonAnswer
  }))

/** The answer's text, from a non-streamed completion body (fails the test on another shape). */
export const contentOf = (json: unknown): string => {
  if (typeof json === "object" && json !== null && "choices" in json && Array.isArray(json.choices)) {
    const [choice]: ReadonlyArray<unknown> = json.choices
    if (typeof choice === "object" && choice !== null && "message" in choice) {
      const message = choice.message
      if (
        typeof message === "object" && message !== null && "content" in message && typeof message.content === "string"
      ) {
        return message.content
      }
    }
  }
  throw new Error(`not a completion: ${JSON.stringify(json)}`)
}

/** The `error` of an error body. */
export const errorOf = (json: unknown): Record<string, unknown> => {
  if (
    typeof json === "object" && json !== null && "error" in json && typeof json.error === "object" &&
    json.error !== null
  ) {
    return { ...json.error }
  }
  throw new Error(`not an error body: ${JSON.stringify(json)}`)
}

/** Reads an SSE body event by event (each event's text, without the blank line). */
export const sse = (answer: Answer) => sseEvents(answer.chunks)

/** A streamed request read to its end: its events. */
export const streamAll = (payload: unknown, headers: Readonly<Record<string, string>> = {}) =>
  Effect.scoped(Effect.flatMap(post(payload, headers), (answer) => sse(answer).rest))

/** The content of a content chunk event, if it is one. */
export const contentDelta = (event: string): string | undefined => {
  if (!event.startsWith("data: {")) return undefined
  const data: unknown = JSON.parse(event.slice("data: ".length))
  if (typeof data !== "object" || data === null || !("choices" in data) || !Array.isArray(data.choices)) {
    return undefined
  }
  const [choice]: ReadonlyArray<unknown> = data.choices
  if (typeof choice !== "object" || choice === null || !("delta" in choice)) return undefined
  const delta = choice.delta
  return typeof delta === "object" && delta !== null && "content" in delta && typeof delta.content === "string" &&
      delta.content.length > 0
    ? delta.content
    : undefined
}

/** The text of all content chunks. */
export const streamedText = (events: ReadonlyArray<string>) =>
  events.map(contentDelta).filter((text) => text !== undefined).join("")

export const isInBandError = (event: string) => event.startsWith("data: {\"error\"")

// ---------------------------------------------------------------------------------------------
// The store, read back
// ---------------------------------------------------------------------------------------------

export interface StoredRow {
  readonly role: string
  readonly content: string
  readonly run_id: string
  readonly prompt_tokens: number | null
  readonly completion_tokens: number | null
}

/** A session's stored messages, oldest first, as rows. */
export const storedRows = (sessionKey: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<StoredRow>`SELECT role, content, run_id, prompt_tokens, completion_tokens FROM session_messages
      WHERE session_key = ${sessionKey} ORDER BY seq`
  ).pipe(Effect.orDie)

/** A session's stored messages as `role: content`, oldest first. */
export const transcript = (sessionKey: string) =>
  Effect.map(storedRows(sessionKey), (rows) => rows.map((row) => `${row.role}: ${row.content}`))

/** How many messages the store holds, over all sessions. */
export const storedCount = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ readonly n: number }>`SELECT COUNT(*) AS n FROM session_messages`
).pipe(
  Effect.map(([row]) => Number(row?.n ?? -1)),
  Effect.orDie
)

/** A prompt as `role: text` lines, for comparing with a transcript. */
export const lines = (prompt: ReadonlyArray<{ readonly role: string; readonly text: string }>) =>
  prompt.map((message) => `${message.role}: ${message.text}`)

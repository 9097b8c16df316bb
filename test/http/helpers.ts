/**
 * Request helpers for the HTTP surface tests: `fetch` against the loopback gateway of
 * test/support.ts, raw SSE reading, log capture and the wire shapes as Schemas (so a test reads
 * typed fields, and a wrong shape fails the test).
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as NodeHttp from "node:http"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import type { RunRequest } from "../../src/domain/Run.js"
import { FakeAgentRunner, RecordedRuns, replyEvents } from "../../src/testing.js"
import { baseConfig, baseUrl, gateway, TOKEN } from "../support.js"

export const PATH = "/v1/chat/completions"

/** How long a test waits for something that should happen at once before it fails. */
export const BOUND = "5 seconds"

// ---------------------------------------------------------------------------------------------
// The gateway under test
// ---------------------------------------------------------------------------------------------

/** The harness gateway with its request log silenced. */
export const quietGateway = <E = never>(options: Parameters<typeof gateway<E>>[0] = {}) =>
  gateway(options).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.None)))

/** `baseConfig` with some top-level sections replaced. */
export const configWith = (overrides: Partial<ConfigInput>): ConfigInput => ({ ...baseConfig, ...overrides })

/** `baseConfig` with the endpoint's settings (maxBodyBytes, keepAliveMs) changed. */
export const endpointConfig = (endpoint: { readonly maxBodyBytes?: number; readonly keepAliveMs?: number }) =>
  configWith({
    gateway: { ...baseConfig.gateway, http: { endpoints: { chatCompletions: { enabled: true, ...endpoint } } } }
  })

/**
 * A stand-in for the echo agent that needs no services: answers with the last user message's
 * words, counting words as tokens. Routing tests record what the runner is given with it.
 */
export const echoLike = FakeAgentRunner.layer((request) => {
  const last = request.messages.findLast((message) => message.role === "user")
  return Stream.fromIterable(replyEvents(last?.content ?? ""))
})

/**
 * The harness gateway (silenced) on `echoLike`, recording every run; the recorder is shared with
 * the test, which reads the runs from `RecordedRuns`.
 */
export const recordingGateway = (config: ConfigInput = baseConfig) => {
  const runner = FakeAgentRunner.layerRecording(echoLike)
  return Layer.merge(quietGateway({ config, runner }), runner)
}

/** The runs recorded so far, oldest first. */
export const recordedRuns = Effect.flatMap(RecordedRuns, (recorded) => recorded.all)

/** The run the last request started. */
export const lastRun = Effect.map(recordedRuns, (runs): RunRequest => {
  const run = runs.at(-1)
  if (run === undefined) throw new Error("no run was recorded")
  return run
})

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

export interface RequestOptions {
  readonly method?: string
  /** A value is sent as JSON; a string or bytes are sent as they are. */
  readonly body?: unknown
  /** The bearer secret to send; `null` sends no Authorization header. Default: the harness token. */
  readonly token?: string | null
  readonly headers?: Readonly<Record<string, string>>
  readonly signal?: AbortSignal
}

/** A `fetch` to the gateway under test. */
export const send = (path: string, options: RequestOptions = {}) =>
  Effect.gen(function*() {
    const url = yield* baseUrl
    const headers: Record<string, string> = { ...options.headers }
    const token = options.token === undefined ? TOKEN : options.token
    if (token !== null && headers.authorization === undefined) headers.authorization = `Bearer ${token}`
    let body: string | Uint8Array | undefined
    if (options.body !== undefined) {
      body = typeof options.body === "string" || options.body instanceof Uint8Array
        ? options.body
        : JSON.stringify(options.body)
      headers["content-type"] ??= "application/json"
    }
    return yield* Effect.promise(() =>
      fetch(`${url}${path}`, {
        method: options.method ?? "POST",
        headers,
        ...(body !== undefined && { body }),
        ...(options.signal !== undefined && { signal: options.signal })
      })
    )
  })

/** `POST /v1/chat/completions` with a JSON body. */
export const chat = (body: unknown, options: Omit<RequestOptions, "body" | "method"> = {}) =>
  send(PATH, { ...options, body })

/** A minimal valid request body. */
export const hello = (extra: Record<string, unknown> = {}) => ({
  model: "clawdbot:main",
  messages: [{ role: "user", content: "hello there" }],
  ...extra
})

export const text = (response: Response) => Effect.promise(() => response.text())

/** The body as JSON, decoded with `schema`. */
export const bodyAs = <A, I>(schema: Schema.Schema<A, I>) => (response: Response) =>
  Effect.flatMap(text(response), (raw) => Effect.orDie(Schema.decodeUnknown(Schema.parseJson(schema))(raw)))

// ---------------------------------------------------------------------------------------------
// Wire shapes
// ---------------------------------------------------------------------------------------------

export const ErrorBody = Schema.Struct({
  error: Schema.Struct({
    message: Schema.String,
    type: Schema.String,
    param: Schema.NullOr(Schema.String),
    code: Schema.NullOr(Schema.String)
  })
})
export type ErrorBody = typeof ErrorBody.Type

export const errorBody = bodyAs(ErrorBody)

const WireUsage = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  total_tokens: Schema.Number
})

export const Completion = Schema.Struct({
  id: Schema.String,
  object: Schema.String,
  created: Schema.Number,
  model: Schema.String,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Number,
    message: Schema.Struct({ role: Schema.String, content: Schema.NullOr(Schema.String) }),
    logprobs: Schema.optional(Schema.Unknown),
    finish_reason: Schema.NullOr(Schema.String)
  })),
  usage: Schema.optional(WireUsage)
})
export type Completion = typeof Completion.Type

export const completionBody = bodyAs(Completion)

export const Chunk = Schema.Struct({
  id: Schema.String,
  object: Schema.String,
  created: Schema.Number,
  model: Schema.String,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Number,
    delta: Schema.Struct({ role: Schema.optional(Schema.String), content: Schema.optional(Schema.String) }),
    logprobs: Schema.optional(Schema.Unknown),
    finish_reason: Schema.NullOr(Schema.String)
  })),
  usage: Schema.optional(WireUsage)
})
export type Chunk = typeof Chunk.Type

// ---------------------------------------------------------------------------------------------
// Server-Sent Events, read raw
// ---------------------------------------------------------------------------------------------

/** A raw event: its text without the blank line that ends it. */
export type RawEvent = string

/** The raw events of a whole SSE body, split on the blank lines; checks the body ends with one. */
export const splitEvents = (body: string): ReadonlyArray<RawEvent> => {
  const parts = body.split("\n\n")
  // A body framed right ends with "\n\n", so the last part is empty.
  if (parts.at(-1) !== "") throw new Error(`SSE body does not end with a blank line: ${JSON.stringify(body)}`)
  return parts.slice(0, -1)
}

/** The JSON of a `data:` event (not `[DONE]`). */
export const dataOf = (event: RawEvent): unknown => {
  if (!event.startsWith("data: ")) throw new Error(`not a data event: ${JSON.stringify(event)}`)
  return JSON.parse(event.slice("data: ".length))
}

export const chunkOf = (event: RawEvent): Chunk => Schema.decodeUnknownSync(Chunk)(dataOf(event))

/** A `data:` event with a chunk (not `[DONE]`, not an in-band error, not a comment). */
export const isChunk = (event: RawEvent) => {
  if (!event.startsWith("data: {")) return false
  const data = dataOf(event)
  return typeof data === "object" && data !== null && !("error" in data)
}

/** An in-band `data: {"error": ...}` event. */
export const isError = (event: RawEvent) => event.startsWith("data: {") && !isChunk(event)

/** A chunk with content and no role: what the agent said. */
export const isContent = (event: RawEvent) => {
  if (!isChunk(event)) return false
  const delta = chunkOf(event).choices[0]?.delta
  return delta?.content !== undefined && delta.role === undefined
}

/** Reads a streamed body event by event, as it arrives. */
export interface SseReader {
  /** The next event, or `undefined` when the body has ended. */
  readonly next: Effect.Effect<RawEvent | undefined>
  /** Every event up to the end. */
  readonly rest: Effect.Effect<ReadonlyArray<RawEvent>>
  /** Reads until an event matching `predicate`; returns the events read, that one last. */
  readonly until: (predicate: (event: RawEvent) => boolean) => Effect.Effect<ReadonlyArray<RawEvent>>
}

export const sseReader = (response: Response): SseReader => {
  const body = response.body
  if (body === null) throw new Error("the response has no body")
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ""
  let ended = false
  const nextEvent = async (): Promise<RawEvent | undefined> => {
    while (true) {
      const end = buffer.indexOf("\n\n")
      if (end >= 0) {
        const event = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        return event
      }
      if (ended) {
        if (buffer.length > 0) throw new Error(`SSE body ended inside an event: ${JSON.stringify(buffer)}`)
        return undefined
      }
      const read = await reader.read()
      if (read.done) ended = true
      else buffer += decoder.decode(read.value, { stream: true })
    }
  }
  const next = Effect.promise(nextEvent)
  const rest = Effect.promise(async () => {
    const events: Array<RawEvent> = []
    for (let event = await nextEvent(); event !== undefined; event = await nextEvent()) events.push(event)
    return events
  })
  const until = (predicate: (event: RawEvent) => boolean) =>
    Effect.promise(async () => {
      const events: Array<RawEvent> = []
      while (true) {
        const event = await nextEvent()
        if (event === undefined) throw new Error(`the stream ended before the awaited event: ${events.join(" | ")}`)
        events.push(event)
        if (predicate(event)) return events
      }
    })
  return { next, rest, until }
}

/**
 * Starts a request whose answer is read as it comes. The request is aborted when the scope
 * closes, so a test that fails half-way does not leave a stream open (which would hold up the
 * server's shutdown): run it in an `Effect.scoped` inside the gateway's `Effect.provide`.
 */
export const openChat = (body: unknown, options: Omit<RequestOptions, "body" | "method" | "signal"> = {}) =>
  Effect.gen(function*() {
    const controller = new AbortController()
    yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
    const response = yield* chat(body, { ...options, signal: controller.signal })
    return { response, abort: () => controller.abort() }
  })

// ---------------------------------------------------------------------------------------------
// Raw node:http, for what fetch cannot send (a chunked body)
// ---------------------------------------------------------------------------------------------

export interface RawAnswer {
  readonly status: number
  readonly headers: NodeHttp.IncomingHttpHeaders
  readonly body: string
  /** Bytes of body written before the answer arrived. */
  readonly writtenBeforeAnswer: number
}

/**
 * POSTs a chunked body (no Content-Length) that keeps coming in `chunkSize` pieces until the
 * gateway answers (at most `maxBytes`), then ends it. Fails on a connection error (a reset).
 */
export const postChunkedUntilAnswered = (options: {
  readonly chunkSize: number
  readonly maxBytes: number
  readonly headers?: Readonly<Record<string, string>>
}) =>
  Effect.flatMap(baseUrl, (url) =>
    Effect.tryPromise({
      try: () =>
        new Promise<RawAnswer>((resolve, reject) => {
          const request = NodeHttp.request(`${url}${PATH}`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${TOKEN}`,
              "content-type": "application/json",
              "transfer-encoding": "chunked",
              ...options.headers
            },
            agent: false
          })
          let written = 0
          let answered: number | undefined
          request.on("error", reject)
          request.on("response", (response) => {
            answered = written
            let body = ""
            response.setEncoding("utf8")
            response.on("data", (part: string) => body += part)
            response.on("error", reject)
            response.on("end", () =>
              resolve({
                status: response.statusCode ?? 0,
                headers: response.headers,
                body,
                writtenBeforeAnswer: written
              }))
          })
          // A JSON prefix, then padding: the body is never complete JSON, only too large.
          const piece = Buffer.alloc(options.chunkSize, "a")
          // One piece at a time, the next when the last has been handed to the socket and the event
          // loop has had a turn (the gateway runs in this process), so the answer is seen as it comes.
          const pump = () => {
            if (answered !== undefined || written >= options.maxBytes) {
              return void request.end()
            }
            const data = written === 0 ? Buffer.concat([Buffer.from("{\"x\":\""), piece]) : piece
            written += piece.length
            request.write(data, (error) => error === undefined || error === null ? setImmediate(pump) : reject(error))
          }
          pump()
        }),
      catch: (error) => new Error(`the chunked request failed: ${String(error)}`)
    }))

// ---------------------------------------------------------------------------------------------
// Log capture
// ---------------------------------------------------------------------------------------------

export interface LogEntry {
  readonly level: string
  readonly message: ReadonlyArray<unknown>
  readonly annotations: Readonly<Record<string, unknown>>
  /** Everything in the entry as text, cause included, to look for secrets in. */
  readonly text: string
}

/**
 * A gateway whose log entries go to a queue instead of the console: provide the returned layer,
 * take entries from `entries`.
 */
export const capturingLogs = Effect.map(Queue.unbounded<LogEntry>(), (entries) => {
  const logger = Logger.make(({ annotations, cause, logLevel, message }) => {
    const messages: ReadonlyArray<unknown> = Array.isArray(message) ? message : [message]
    const fields = Object.fromEntries(HashMap.toEntries(annotations))
    Queue.unsafeOffer(entries, {
      level: logLevel.label,
      message: messages,
      annotations: fields,
      text: `${JSON.stringify(messages)} ${JSON.stringify(fields)} ${Cause.isEmpty(cause) ? "" : Cause.pretty(cause)}`
    })
  })
  return { entries, layer: Logger.replace(Logger.defaultLogger, logger) }
})

/** The next `request` log line (the one per request), skipping other entries. */
export const nextRequestLine = (entries: Queue.Dequeue<LogEntry>): Effect.Effect<LogEntry> =>
  Effect.flatMap(
    Queue.take(entries),
    (entry) => entry.message[0] === "request" ? Effect.succeed(entry) : nextRequestLine(entries)
  )

/**
 * Requests to a gateway: with `fetch` (the gateway under test, or any URL), and over raw node:http
 * for what fetch cannot do (read an answer's head before its body on a connection of its own, send
 * a chunked body that keeps coming).
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import * as NodeHttp from "node:http"
import { baseUrl, TOKEN } from "./gateway.js"
import { type SseEvents, sseEvents } from "./sse.js"
import { Completion, decodeAs, ErrorBody } from "./wire.js"

export const PATH = "/v1/chat/completions"

/** How long a test waits for something that should happen at once before it fails. */
export const BOUND = "5 seconds"

/** A chat request body in which the user says `content` to agent `main` (`extra` may name another model). */
export const userSays = (content: string, extra: Record<string, unknown> = {}) => ({
  model: "clawdbot:main",
  messages: [{ role: "user", content }],
  ...extra
})

/** A minimal chat request body: `hello there` to agent `main`. */
export const hello = (extra: Record<string, unknown> = {}) => userSays("hello there", extra)

// ---------------------------------------------------------------------------------------------
// fetch
// ---------------------------------------------------------------------------------------------

export interface RequestOptions {
  /** Default: POST with a body, GET without. */
  readonly method?: string
  /** A value is sent as JSON; a string or bytes are sent as they are. */
  readonly body?: unknown
  /** The bearer secret to send; `null` sends no Authorization header. Default: the kit's `TOKEN`. */
  readonly token?: string | null
  readonly headers?: Readonly<Record<string, string>>
  readonly signal?: AbortSignal
}

/** A `fetch` to the gateway at `url`. */
export const sendTo = (url: string, path: string, options: RequestOptions = {}) =>
  Effect.promise(() => {
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
    return fetch(`${url}${path}`, {
      method: options.method ?? (body === undefined ? "GET" : "POST"),
      headers,
      ...(body !== undefined && { body }),
      ...(options.signal !== undefined && { signal: options.signal })
    })
  })

/** A `fetch` to the gateway under test. */
export const send = (path: string, options: RequestOptions = {}) =>
  Effect.flatMap(baseUrl, (url) => sendTo(url, path, options))

/** `POST /v1/chat/completions` to the gateway under test with a JSON body. */
export const chat = (body: unknown, options: Omit<RequestOptions, "body" | "method"> = {}) =>
  send(PATH, { ...options, body })

/**
 * Starts a chat request whose answer is read as it comes. The request is aborted when the scope
 * closes, so a test that fails half-way leaves no stream open to hold up the server's shutdown.
 */
export const openChat = (body: unknown, options: Omit<RequestOptions, "body" | "method" | "signal"> = {}) =>
  Effect.gen(function*() {
    const controller = new AbortController()
    yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
    const response = yield* chat(body, { ...options, signal: controller.signal })
    return { response, abort: () => controller.abort() }
  })

export const text = (response: Response) => Effect.promise(() => response.text())

/** The body as JSON. */
export const json = (response: Response) => Effect.map(text(response), (raw): unknown => JSON.parse(raw))

/** An answer read whole: its status, headers and JSON body. */
export interface JsonAnswer {
  readonly status: number
  readonly header: (name: string) => string | undefined
  readonly json: unknown
}

/** A fetch answer read whole, its body as JSON. */
export const jsonAnswer = (response: Response) =>
  Effect.map(json(response), (body): JsonAnswer => ({
    status: response.status,
    header: (name) => response.headers.get(name) ?? undefined,
    json: body
  }))

/** A `fetch` to the gateway at `url`, its JSON answer read whole. */
export const fetchJson = (url: string, path: string, options: RequestOptions = {}) =>
  Effect.flatMap(sendTo(url, path, options), jsonAnswer)

/** The body as JSON, decoded with `schema` (fails the test on another shape). */
export const bodyAs = <A, I>(schema: Schema.Schema<A, I>) => (response: Response) =>
  Effect.map(json(response), decodeAs(schema))

export const errorBody = bodyAs(ErrorBody)

/**
 * A chat request the gateway refuses with 400 `invalid_request_error` naming `param`; the error,
 * for the test to read its message.
 */
export const invalidRequest = (body: unknown, param: string | null) =>
  Effect.gen(function*() {
    const response = yield* chat(body)
    const { error } = yield* errorBody(response)
    expect({ body, status: response.status, type: error.type, param: error.param }).toEqual({
      body,
      status: 400,
      type: "invalid_request_error",
      param
    })
    expect(error.message.length).toBeGreaterThan(0)
    return error
  })

export const completionBody = bodyAs(Completion)

// ---------------------------------------------------------------------------------------------
// Raw node:http
// ---------------------------------------------------------------------------------------------

/** An answer as it arrives: its head, then its body on demand (as SSE events or as text). */
export interface OpenAnswer extends SseEvents {
  readonly status: number
  /** A response header (lower-case name). */
  readonly header: (name: string) => string | undefined
  /** Goes away, as a client that disconnects does. */
  readonly disconnect: () => void
}

/**
 * POSTs a chat request to the gateway at `url` on a connection of its own (no agent, so no idle
 * keep-alive socket holds up a server's close) and gives the answer once its head arrives; fails
 * when the connection fails first. The request is destroyed when the scope closes, or when the
 * test gives up waiting for the head.
 */
export const postTo = (
  url: string,
  payload: unknown,
  options: { readonly token?: string | null; readonly headers?: Readonly<Record<string, string>> } = {}
) =>
  Effect.gen(function*() {
    const token = options.token === undefined ? TOKEN : options.token
    const request = NodeHttp.request(`${url}${PATH}`, {
      method: "POST",
      agent: false,
      headers: {
        ...(token !== null && { authorization: `Bearer ${token}` }),
        "content-type": "application/json",
        ...options.headers
      }
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => request.destroy()))
    const response = yield* Effect.async<NodeHttp.IncomingMessage, Error>((resume) => {
      request.on("response", (response) => resume(Effect.succeed(response)))
      request.on("error", (error) => resume(Effect.fail(error)))
      request.end(JSON.stringify(payload))
      return Effect.sync(() => request.destroy())
    })
    response.setEncoding("utf8")
    const answer: OpenAnswer = {
      status: response.statusCode ?? 0,
      header: (name) => {
        const value = response.headers[name]
        return Array.isArray(value) ? value.join(", ") : value
      },
      disconnect: () => request.destroy(),
      ...sseEvents(response[Symbol.asyncIterator]())
    }
    return answer
  })

/** `postTo` the gateway under test. */
export const post = (payload: unknown, options: { readonly headers?: Readonly<Record<string, string>> } = {}) =>
  Effect.flatMap(baseUrl, (url) => postTo(url, payload, options))

/** A request to the gateway at `url` whose JSON answer is read to its end. */
export const askTo = (url: string, payload: unknown, options: Parameters<typeof postTo>[2] = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const answer = yield* postTo(url, payload, options)
    const body: unknown = JSON.parse(yield* answer.text)
    return { status: answer.status, header: answer.header, json: body } satisfies JsonAnswer
  }))

/** `askTo` the gateway under test. */
export const ask = (payload: unknown, options: { readonly headers?: Readonly<Record<string, string>> } = {}) =>
  Effect.flatMap(baseUrl, (url) => askTo(url, payload, options))

/** A streamed request to the gateway under test read to its end: its events. */
export const streamAll = (payload: unknown, options: { readonly headers?: Readonly<Record<string, string>> } = {}) =>
  Effect.scoped(Effect.flatMap(post(payload, options), (answer) => answer.rest))

export interface ChunkedAnswer {
  readonly status: number
  readonly headers: NodeHttp.IncomingHttpHeaders
  readonly body: string
  /** Bytes of body written before the answer arrived. */
  readonly writtenBeforeAnswer: number
}

/**
 * POSTs a chunked body (no Content-Length) to the gateway under test that keeps coming in
 * `chunkSize` pieces until the gateway answers (at most `maxBytes`), then ends it. Fails on a
 * connection error (a reset).
 */
export const postChunkedUntilAnswered = (options: {
  readonly chunkSize: number
  readonly maxBytes: number
  readonly headers?: Readonly<Record<string, string>>
}) =>
  Effect.flatMap(baseUrl, (url) =>
    Effect.tryPromise({
      try: () =>
        new Promise<ChunkedAnswer>((resolve, reject) => {
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

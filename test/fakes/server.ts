/**
 * The scripted HTTP server under every fake provider API (./ChatCompletionsServer.ts,
 * ./AnthropicServer.ts, ./ResponsesServer.ts), on a free loopback port: it records each request,
 * answers it with the next queued reply (else the fallback), and tells when a request's connection
 * has closed. Each API's fake adds its replies (text, tool calls, errors, ...) as `Reply` functions.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import { field } from "../kit/json.js"
import { listenOnLoopback } from "./listen.js"

export interface RecordedRequest {
  /** 0 for the first request the server received, then 1, ... */
  readonly index: number
  readonly method: string
  /** The path with its query, e.g. `/v1/messages?beta=true`. */
  readonly path: string
  /** Header names in lower case; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>
  /** The JSON body, or the raw text when it is not JSON. */
  readonly body: unknown
}

/** The raw answer to one request. */
export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /**
   * Written one per turn of the event loop (a client reads them one by one, as it reads a model's
   * tokens); nothing (not even the status line) is sent when empty and `hang`.
   */
  readonly chunks: ReadonlyArray<string>
  /** Keep the response open after the chunks, until the client goes away. */
  readonly hang: boolean
  /** Destroy the connection after the status line and the chunks, mid-answer. */
  readonly cut?: boolean
}

/** How to answer one request. */
export type Reply = (request: RecordedRequest) => Answer

/** Whether the request's JSON body has `stream: true`. */
export const wantsStream = (request: RecordedRequest): boolean => field(request.body, "stream") === true

/** The `model` of the request's JSON body, else `otherwise`. */
export const requestedModel = (request: RecordedRequest, otherwise: string): string => {
  const model = field(request.body, "model")
  return typeof model === "string" ? model : otherwise
}

/** A server-sent event's JSON payload; its `type` is also the SSE `event:` name. */
export interface SseEvent {
  readonly type: string
  readonly [field: string]: unknown
}

/** One SSE frame as Anthropic and OpenAI's Responses API send it: `event: <type>` then `data: <json>`. */
export const sseFrame = (event: SseEvent): string => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`

/** A 200 event stream of these frames (`hang`: it stays open after them). */
export const sse = (
  frames: ReadonlyArray<string>,
  options: { readonly hang?: boolean; readonly headers?: Readonly<Record<string, string>> } = {}
): Answer => ({
  status: 200,
  headers: { "content-type": "text/event-stream", "cache-control": "no-cache", ...options.headers },
  chunks: frames,
  hang: options.hang ?? false
})

/** A JSON answer. */
export const json = (status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): Answer => ({
  status,
  headers: { "content-type": "application/json", ...headers },
  chunks: [JSON.stringify(body)],
  hang: false
})

/** An error status with a plain-text body, as a proxy in front of the API might send. */
export const plainText = (status: number, body: string): Answer => ({
  status,
  headers: { "content-type": "text/plain" },
  chunks: [body],
  hang: false
})

/** Nothing at all, not even a status line: the request waits until the client goes away. */
export const silence: Answer = { status: 200, headers: {}, chunks: [], hang: true }

/** A 200 status line (JSON or SSE, as the request asks), then the connection is destroyed. */
export const cutAfterHead: Reply = (request) => ({
  status: 200,
  headers: { "content-type": wantsStream(request) ? "text/event-stream" : "application/json" },
  chunks: [],
  hang: false,
  cut: true
})

export interface Service {
  /** The API root to give a provider as its `baseUrl`. */
  readonly baseUrl: string
  /** Queues replies for the next requests, in order. */
  readonly reply: (...replies: ReadonlyArray<Reply>) => Effect.Effect<void>
  /** Every request received so far, in arrival order. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Waits for the next request not yet taken (each request is taken once, in arrival order). */
  readonly nextRequest: Effect.Effect<RecordedRequest>
  /** Waits until the connection of `request` is closed (its answer ended or the client left). */
  readonly closed: (request: RecordedRequest) => Effect.Effect<void>
}

const headersOf = (headers: Http.IncomingHttpHeaders): Record<string, string> => {
  const result: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) result[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return result
}

const parseBody = (raw: string): unknown => {
  if (raw === "") return undefined
  try {
    return JSON.parse(raw)
  } catch {
    return raw
  }
}

/**
 * The server for the scope, its `baseUrl` the loopback root with `path` after it. It stops
 * (dropping open connections) when the scope closes.
 */
export const serve = (fallback: Reply, path = ""): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scripted: Array<Reply> = []
    const recorded: Array<RecordedRequest> = []
    const closes = new Map<number, Deferred.Deferred<void>>()
    const arrivals = yield* Queue.unbounded<RecordedRequest>()

    const server = Http.createServer((req, res) => {
      const index = closes.size
      const closed = Deferred.unsafeMake<void>(FiberId.none)
      closes.set(index, closed)
      res.on("close", () => Deferred.unsafeDone(closed, Effect.void))
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        const request: RecordedRequest = {
          index,
          method: req.method ?? "",
          path: req.url ?? "",
          headers: headersOf(req.headers),
          body: parseBody(Buffer.concat(chunks).toString("utf8"))
        }
        recorded.push(request)
        Queue.unsafeOffer(arrivals, request)
        const answer = (scripted.shift() ?? fallback)(request)
        if (answer.chunks.length === 0 && answer.hang) return
        res.writeHead(answer.status, answer.headers)
        // One chunk per turn of the event loop, as a model streams: the gateway reads them one by one.
        let written = 0
        const writeNext = () => {
          if (res.destroyed) return
          if (written < answer.chunks.length) {
            res.write(answer.chunks[written++])
            return void setImmediate(writeNext)
          }
          if (answer.cut === true) {
            // The status line and the chunks go out first, then the connection is dropped mid-answer.
            res.flushHeaders()
            res.write("", () => res.destroy())
          } else if (!answer.hang) res.end()
        }
        writeNext()
      })
    })

    const port = yield* listenOnLoopback(server)

    return {
      baseUrl: `http://127.0.0.1:${port}${path}`,
      reply: (...replies) => Effect.sync(() => void scripted.push(...replies)),
      requests: Effect.sync(() => [...recorded]),
      nextRequest: Queue.take(arrivals),
      closed: (request) =>
        Effect.suspend(() => {
          const closed = closes.get(request.index)
          return closed === undefined ? Effect.dieMessage(`no request ${request.index}`) : Deferred.await(closed)
        })
    }
  })

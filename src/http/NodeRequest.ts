/**
 * A request of the gateway's Node server as the platform's `HttpServerRequest` (over Node's
 * `IncomingMessage`, its body read only when asked for), and its answer written straight to Node's
 * `ServerResponse`. `NodeHttpServerRequest.toIncomingMessage` / `toServerResponse` work on it as on
 * the platform's own.
 */
import * as NodeMultipart from "@effect/platform-node/NodeMultipart"
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as Cookies from "@effect/platform/Cookies"
import type * as Headers from "@effect/platform/Headers"
import * as IncomingMessage from "@effect/platform/HttpIncomingMessage"
import type { HttpMethod } from "@effect/platform/HttpMethod"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Multipart from "@effect/platform/Multipart"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import * as NodeStream_ from "node:stream"
import * as Callback from "../domain/Callback.js"
import * as Pull from "../domain/Pull.js"

export class NodeRequest extends Inspectable.Class implements HttpServerRequest.HttpServerRequest {
  readonly [HttpServerRequest.TypeId]: HttpServerRequest.TypeId = HttpServerRequest.TypeId
  readonly [IncomingMessage.TypeId]: IncomingMessage.TypeId = IncomingMessage.TypeId

  constructor(
    readonly source: Http.IncomingMessage,
    readonly response: Http.ServerResponse,
    /** The WebSocket of an upgrade request (none for any other request). */
    private readonly upgradeEffect?: HttpServerRequest.HttpServerRequest["upgrade"],
    readonly url: string = source.url ?? "/",
    private readonly headersOverride?: Headers.Headers,
    private readonly remoteAddressOverride?: string
  ) {
    super()
  }

  get originalUrl(): string {
    return this.source.url ?? "/"
  }

  get method(): HttpMethod {
    return (this.source.method ?? "GET") as HttpMethod
  }

  get headers(): Headers.Headers {
    return this.headersOverride ?? (this.source.headers as Headers.Headers)
  }

  get remoteAddress(): Option.Option<string> {
    return Option.fromNullable(this.remoteAddressOverride ?? this.source.socket.remoteAddress)
  }

  get upgrade(): HttpServerRequest.HttpServerRequest["upgrade"] {
    return this.upgradeEffect ?? Effect.fail(
      new HttpServerError.RequestError({ request: this, reason: "Decode", description: "not an upgrade request" })
    )
  }

  get cookies() {
    return Cookies.parseHeader(this.headers.cookie ?? "")
  }

  private readError = (cause: unknown) => new HttpServerError.RequestError({ request: this, reason: "Decode", cause })

  private textOnce: Effect.Effect<string, HttpServerError.RequestError> | undefined
  get text(): Effect.Effect<string, HttpServerError.RequestError> {
    return this.textOnce ??= Effect.runSync(Effect.cached(Effect.flatMap(
      IncomingMessage.MaxBodySize,
      (max) =>
        NodeStream.toString(() => this.source, { onFailure: this.readError, maxBytes: Option.getOrUndefined(max) })
    )))
  }

  get json(): Effect.Effect<unknown, HttpServerError.RequestError> {
    return Effect.tryMap(this.text, {
      try: (text): unknown => text === "" ? null : JSON.parse(text),
      catch: this.readError
    })
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpServerError.RequestError> {
    return Effect.flatMap(
      this.text,
      (text) => Effect.try({ try: () => UrlParams.fromInput(new URLSearchParams(text)), catch: this.readError })
    )
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpServerError.RequestError> {
    return Effect.flatMap(
      IncomingMessage.MaxBodySize,
      (max) =>
        Effect.map(
          NodeStream.toUint8Array(() => this.source, {
            onFailure: this.readError,
            maxBytes: Option.getOrUndefined(max)
          }),
          (bytes) => bytes.slice().buffer
        )
    )
  }

  get stream(): Stream.Stream<Uint8Array, HttpServerError.RequestError> {
    return NodeStream.fromReadable(() => this.source, this.readError)
  }

  get multipart() {
    return NodeMultipart.persisted(this.source, this.source.headers)
  }

  get multipartStream(): Stream.Stream<Multipart.Part, Multipart.MultipartError> {
    return NodeMultipart.stream(this.source, this.source.headers)
  }

  modify(options: { readonly url?: string; readonly headers?: Headers.Headers; readonly remoteAddress?: string }) {
    return new NodeRequest(
      this.source,
      this.response,
      this.upgradeEffect,
      options.url ?? this.url,
      options.headers ?? this.headersOverride,
      options.remoteAddress ?? this.remoteAddressOverride
    )
  }

  toJSON(): unknown {
    return { _id: "@effect/platform/HttpServerRequest", method: this.method, url: this.originalUrl }
  }
}

/**
 * Node's request under a request of a Node server, this one's or the platform's `NodeHttpServer`
 * (what `NodeHttpServerRequest.toIncomingMessage` gives, without loading the platform's server
 * module and the `ws` library with it); none under any other server.
 */
export const incomingMessageOf = (request: HttpServerRequest.HttpServerRequest): Http.IncomingMessage | undefined =>
  "source" in request && request.source instanceof Http.IncomingMessage ? request.source : undefined

/** Node's answer under a request of a Node server, as `incomingMessageOf`. */
export const serverResponseOf = (request: HttpServerRequest.HttpServerRequest): Http.ServerResponse | undefined =>
  "response" in request && request.response instanceof Http.ServerResponse ? request.response : undefined

/** The defect of an endpoint served on another server than Node's. */
export const notOnNode = () =>
  Effect.dieMessage("clawgate's endpoints need a Node HTTP server (NodeServer, or the platform's NodeHttpServer)")

const headersOf = (response: HttpServerResponse.HttpServerResponse): Http.OutgoingHttpHeaders => {
  if (Cookies.isEmpty(response.cookies)) return response.headers
  const cookies = Cookies.toSetCookieHeaders(response.cookies)
  const existing = response.headers["set-cookie"]
  return { ...response.headers, "set-cookie": existing === undefined ? cookies : [existing, ...cookies] }
}

/**
 * Waits until Node's buffer for the answer has room again, or the connection is gone (at once if
 * it already has: its `drain` may have come before this wait started).
 */
const drained = (res: Http.ServerResponse) =>
  Effect.async<void>((resume) => {
    if (!res.writableNeedDrain) return resume(Effect.void)
    const done = () => {
      res.off("drain", done).off("close", done)
      resume(Effect.void)
    }
    res.on("drain", done).on("close", done)
    return Effect.sync(() => void res.off("drain", done).off("close", done))
  })

/**
 * Writes what a body's feed has, now and as it comes, with plain calls (in the provider's read
 * callbacks): until the body's next pieces must be pulled as the Effect, or the client's buffer is
 * full (then once it has drained). A throw in the feed is the answer's defect.
 */
const writeFed = (res: Http.ServerResponse, feed: Pull.Feed<Uint8Array>) =>
  Callback.cutOnExit<void, never>((resume) => {
    let fed = true
    const done = (then: Effect.Effect<void>) => {
      fed = false
      resume(then)
    }
    const write = () => {
      // The drain's deadline ended the answer, or the client went: the fiber is being interrupted.
      if (!fed || res.writableEnded || res.destroyed) return
      try {
        for (;;) {
          const taken = feed.take()
          if (taken === "later") return feed.whenReady(write)
          if (taken === "pull") return done(Effect.void)
          let full = false
          for (const piece of taken) full = !res.write(piece)
          if (full) return done(drained(res))
        }
      } catch (defect) {
        done(Effect.die(defect))
      }
    }
    write()
    return () => {
      fed = false
    }
  })

/**
 * Writes a stream body a pull at a time, each piece in one write: a client that stops reading holds
 * the stream back (its next pull waits for `drain`) instead of the answer piling up here. A body
 * made with `Pull.stream` is pulled directly, with no Stream machinery in between, and what its
 * feed has is written with no Effect at all (`writeFed`).
 */
const writeStream = (res: Http.ServerResponse, body: Stream.Stream<Uint8Array, unknown>) =>
  Effect.flatMap(Pull.open(body), (pull) => {
    const feed = Pull.feedOf(pull)
    const fed = feed === undefined ? undefined : writeFed(res, feed)
    const next: Effect.Effect<void, unknown> = Effect.matchEffect(pull, {
      onFailure: Option.match({ onNone: () => Effect.void, onSome: Effect.fail }),
      onSuccess: (chunk) => {
        let full = false
        for (const piece of chunk) full = !res.write(piece)
        if (full && !res.destroyed) return Effect.zipRight(drained(res), next)
        return fed === undefined ? next : Effect.zipRight(fed, next)
      }
    })
    return next
  })

/**
 * Ends the answer, and waits while what it wrote is still in Node's buffers (a slow client): until
 * then the answer is in flight, and a drain waits for it. What the kernel has taken needs no wait.
 */
const end = (res: Http.ServerResponse, body?: unknown): Effect.Effect<void> =>
  Effect.suspend(() => {
    res.end(body)
    if (
      res.writableFinished || res.destroyed || (res.writableLength === 0 && (res.socket?.writableLength ?? 0) === 0)
    ) {
      return Effect.void
    }
    return Effect.async<void>((resume) => {
      const done = () => {
        res.off("finish", done).off("close", done)
        resume(Effect.void)
      }
      res.on("finish", done).on("close", done)
      return Effect.sync(() => void res.off("finish", done).off("close", done))
    })
  })

/** Pipes a Node stream into the answer, until it ends or the connection is gone. */
const pipe = (from: NodeStream_.Readable, res: Http.ServerResponse) =>
  Effect.async<void>((resume) => {
    from.pipe(res)
    res.once("close", () => resume(Effect.void))
    return Effect.sync(() => void from.destroy())
  })

/**
 * Sends the answer; the effect ends once its body has been handed to Node. An answer already ended
 * (by the drain's deadline, which writes its own) is left as it is.
 */
export const send = (
  request: NodeRequest,
  response: HttpServerResponse.HttpServerResponse
): Effect.Effect<void, unknown, Scope.Scope> => {
  const res = request.response
  if (res.writableEnded || res.destroyed) return Effect.void
  const body = response.body
  const form = body._tag === "FormData" ? new Response(body.formData) : undefined
  // A streamed answer may have been started already (by its keep-alive): its head is sent.
  if (!res.headersSent) {
    const headers = headersOf(response)
    res.writeHead(
      response.status,
      form === undefined ? headers : { ...headers, "content-type": form.headers.get("content-type") ?? undefined }
    )
  }
  if (request.method === "HEAD") return end(res)
  switch (body._tag) {
    case "Uint8Array":
      return end(res, body.body)
    case "Raw":
      return body.body instanceof NodeStream_.Readable ? pipe(body.body, res) : end(res, body.body)
    case "FormData":
      return form?.body === null || form?.body === undefined
        ? end(res)
        : pipe(NodeStream_.Readable.fromWeb(form.body), res)
    case "Stream":
      return Effect.zipRight(
        Effect.onExit(
          writeStream(res, body.stream),
          (exit) => exit._tag === "Success" ? Effect.void : Effect.sync(() => void res.end())
        ),
        end(res)
      )
    case "Empty":
      return end(res)
  }
}

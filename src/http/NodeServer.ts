/**
 * The gateway's HTTP server on node:http: an `HttpServer` that runs each request as one fiber of
 * the app (the routes composed with `HttpLayerRouter`) and writes its answer straight to Node's
 * response. The platform's `NodeHttpServer` gives each request a Scope, a tracer middleware,
 * uninterruptible regions, a body read through Effect streams and an `Effect.async` per write,
 * which cost a request several times what the gateway's own work does (bench/README.md); here a
 * request has its fiber, its scope, a span when tracing is on, and nothing else.
 *
 * Two kinds of request never reach the app, and get their answers here:
 * - one that Node's parser refuses (bad framing, headers over the limit, too slow): the
 *   catalogue's JSON error, like every other answer, unless an answer has started on the
 *   connection (the bytes would land inside it). The connection is then closed, as Node does.
 * - one that comes once the app is no longer served (on shutdown): 503 `shutting_down`.
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as NodeHttp from "node:http"
import type * as Net from "node:net"
import type { Duplex } from "node:stream"
import { Config } from "../config/Config.js"
import {
  type GatewayError,
  GatewayShuttingDown,
  HeadersTooLarge,
  MalformedHttp,
  RequestTimeout
} from "../domain/Errors.js"
import { newRequestId } from "./CurrentRequest.js"
import * as ErrorResponse from "./ErrorResponse.js"
import { NodeRequest, send } from "./NodeRequest.js"
import * as WebSocketUpgrade from "./WebSocketUpgrade.js"

/** The host to listen on for a `gateway.bind` value. */
export const hostOf = (bind: string) => bind === "loopback" ? "127.0.0.1" : bind === "lan" ? "0.0.0.0" : bind

/** Connections that may wait to be accepted: a burst of thousands of clients is not turned away. */
const BACKLOG = 8192

/**
 * Requests started per turn of the event loop, at most; the others wait, in arrival order, for
 * the next turns. Starting a request (authentication, its body, its run up to the provider call)
 * costs ~1-2 ms of CPU, and a burst of new requests started all at once would hold up every
 * answer already streaming for as long; this way the reads of the streams already open come in
 * between (bench/README.md, the fan-out).
 */
export const STARTS_PER_TURN = 8

/** A request's start, waiting its turn, and its answer, whose client may leave meanwhile. */
interface Waiting {
  readonly answer: { readonly destroyed: boolean }
  readonly start: () => void
}

/** What a place in the queue holds once its request has left it. */
const dequeued: Waiting = { answer: { destroyed: true }, start: () => {} }

/**
 * Runs each `start` given it, at most STARTS_PER_TURN per turn of the event loop, in order. A
 * request whose client has gone by its turn is not started (there is no one to answer), and does
 * not count against the turn.
 */
export const admission = () => {
  const waiting: Array<Waiting> = []
  let next = 0
  let started = 0
  let turning = false
  const turn = () => {
    started = 0
    while (started < STARTS_PER_TURN && next < waiting.length) {
      const { answer, start } = waiting[next]!
      waiting[next++] = dequeued
      if (answer.destroyed) continue
      started += 1
      start()
    }
    if (next === waiting.length) {
      waiting.length = 0
      next = 0
    }
    // A turn that started nothing ends the turns until the next request.
    turning = started > 0
    if (turning) setImmediate(turn)
  }
  return (answer: Waiting["answer"], start: () => void) => {
    if (!turning) {
      turning = true
      setImmediate(turn)
    }
    if (started < STARTS_PER_TURN && next === waiting.length) {
      started += 1
      start()
    } else {
      waiting.push({ answer, start })
    }
  }
}

/** The Node server under the gateway, for the end of a drain. */
export class Listener extends Context.Tag("clawgate/Listener")<Listener, {
  /** Stops listening and closes every connection, busy or idle: the drain's cutoff. */
  readonly closeAll: Effect.Effect<void>
}>() {}

/** What Node's parser refused a request for, as a catalogue error. */
const framingError = (error: Error): GatewayError => {
  const code = "code" in error ? error.code : undefined
  return code === "HPE_HEADER_OVERFLOW"
    ? new HeadersTooLarge()
    : code === "ERR_HTTP_REQUEST_TIMEOUT"
    ? new RequestTimeout()
    : new MalformedHttp({ detail: error.message })
}

/** An answer of the server's own (outside the app), with a request id, closing the connection. */
const ownAnswer = (error: GatewayError) => {
  const id = newRequestId()
  return ErrorResponse.toNodeAnswer(ErrorResponse.describe(error, id), { "x-request-id": id, connection: "close" })
}

/** The answer to a request that comes once the app is no longer served. */
const shuttingDown = (res: NodeHttp.ServerResponse) => {
  const { headers, status, text } = ownAnswer(new GatewayShuttingDown())
  res.writeHead(status, headers).end(text)
}

/**
 * What is left to do when a request's fiber ends without its answer sent: a defect (logged) gets a
 * 500 if nothing went out yet, and an answer cut short is cut for the client to see.
 */
const unanswered = (res: NodeHttp.ServerResponse) => (cause: Cause.Cause<unknown>) =>
  Effect.suspend(() => {
    if (res.writableEnded) return Effect.void
    if (!res.headersSent && !res.destroyed) {
      const id = newRequestId()
      const { headers, status, text } = ErrorResponse.toNodeAnswer(ErrorResponse.internal(id), { "x-request-id": id })
      res.writeHead(status, headers).end(text)
    } else {
      res.destroy()
    }
    return Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError("The answer to a request failed", cause)
  })

/** The request's span, when tracing is on: its method and path, its trace parent from the headers. */
const traced = <R>(request: NodeRequest, answer: Effect.Effect<void, never, R>) =>
  Effect.withSpan(answer, `http.server ${request.method}`, {
    kind: "server",
    captureStackTrace: false,
    parent: Option.getOrUndefined(HttpTraceContext.fromHeaders(request.headers)),
    attributes: { "http.request.method": request.method, "url.path": request.url.split("?", 1)[0] }
  })

/** The answer's status and request id, on the request's span. */
const annotated = (response: HttpServerResponse.HttpServerResponse) =>
  Effect.annotateCurrentSpan({
    "http.response.status_code": response.status,
    ...(response.headers["x-request-id"] !== undefined &&
      { "http.response.header.x-request-id": response.headers["x-request-id"] })
  })

/** Runs a request of Node's (an upgrade request with its `upgrade`) as one fiber of the app. */
type Handler = (
  req: NodeHttp.IncomingMessage,
  res: NodeHttp.ServerResponse,
  upgrade?: HttpServerRequest.HttpServerRequest["upgrade"]
) => Fiber.RuntimeFiber<void>

/**
 * The handler of Node's requests for an app, running each request as one fiber. The fiber starts
 * with the request in its context: providing it around the app would cost each request a region
 * of its own (set, run, restore) that the fiber, which ends with the request, does not need.
 */
const handlerFor = (app: HttpApp.Default<unknown, Scope.Scope>, runtime: Runtime.Runtime<never>): Handler => {
  const tracing = FiberRefs.getOrDefault(runtime.fiberRefs, FiberRef.currentTracerEnabled)
  return (req, res, upgrade) => {
    const request = new NodeRequest(req, res, upgrade)
    const answer = Effect.flatMap(
      app,
      (response) => tracing ? Effect.zipRight(annotated(response), send(request, response)) : send(request, response)
    ).pipe(
      Effect.scoped,
      Effect.catchAllCause(unanswered(res))
    )
    const withRequest = Runtime.make({
      context: Context.add(runtime.context, HttpServerRequest.HttpServerRequest, request),
      fiberRefs: runtime.fiberRefs,
      runtimeFlags: runtime.runtimeFlags
    })
    return Runtime.runFork(withRequest, tracing ? traced(request, answer) : answer)
  }
}

/**
 * An HTTP answer on the connection of a request that asked for a WebSocket; the connection closes
 * after it (Node's parser has let go of it).
 */
const answerOnUpgrade = (req: NodeHttp.IncomingMessage) => {
  const res = new NodeHttp.ServerResponse(req)
  res.assignSocket(req.socket)
  res.on("finish", () => req.socket.end())
  return res
}

/**
 * A request that asks for a WebSocket: the app answers it like any other (its answer, if it makes
 * one, goes out on the connection, which then closes), or takes the connection with
 * `request.upgrade`.
 */
const upgradeRequest = (
  handler: Handler,
  upgrades: WebSocketUpgrade.Upgrades,
  req: NodeHttp.IncomingMessage,
  head: Buffer
) => {
  const socket = req.socket
  const res = answerOnUpgrade(req)
  const upgrade = WebSocketUpgrade.upgradeOf(upgrades, req, socket, head, () => {
    // The connection is the WebSocket's now: whatever the app answers afterwards goes nowhere.
    res.detachSocket(socket)
    res.destroy()
  })
  const fiber = handler(req, res, Effect.succeed(upgrade))
  socket.on("close", () => {
    if (!socket.writableEnded) fiber.unsafeInterruptAsFork(HttpServerError.clientAbortFiberId)
  })
}

/**
 * The Node server, listening: each request goes to the app being served, or, when none is, gets
 * 503 `shutting_down`; a request Node's parser refuses gets the catalogue's JSON error.
 */
export const make = (options: Net.ListenOptions): Effect.Effect<
  {
    readonly server: HttpServer.HttpServer
    readonly node: NodeHttp.Server
    readonly upgrades: WebSocketUpgrade.Upgrades
  },
  HttpServerError.ServeError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const node = NodeHttp.createServer()
    let handler: Handler | undefined
    /** Each connection's answers not finished yet, in order: the first is the one on the wire. */
    const answers = new WeakMap<Duplex, Array<NodeHttp.ServerResponse>>()
    const admit = admission()
    node.on("request", (req: NodeHttp.IncomingMessage, res: NodeHttp.ServerResponse) => {
      let unfinished = answers.get(req.socket)
      if (unfinished === undefined) answers.set(req.socket, unfinished = [])
      while (unfinished[0]?.writableFinished === true) unfinished.shift()
      unfinished.push(res)
      admit(res, () => {
        if (handler === undefined) return shuttingDown(res)
        const fiber = handler(req, res)
        // The client went away before its answer was sent: what was running for it stops.
        res.on("close", () => {
          if (!res.writableEnded) fiber.unsafeInterruptAsFork(HttpServerError.clientAbortFiberId)
        })
      })
    })
    node.on("clientError", (error: Error, socket: Duplex) => {
      const onTheWire = answers.get(socket)?.find((answer) => !answer.writableFinished)
      if (socket.writable && onTheWire?.headersSent !== true) {
        const { headers, status, text } = ownAnswer(framingError(error))
        const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")
        socket.write(`HTTP/1.1 ${status} ${NodeHttp.STATUS_CODES[status]}\r\n${head}\r\n${text}`)
      }
      socket.destroy()
    })
    yield* Effect.acquireRelease(
      Effect.async<void, HttpServerError.ServeError>((resume) => {
        const onError = (cause: Error) => resume(Effect.fail(new HttpServerError.ServeError({ cause })))
        node.once("error", onError)
        node.listen({ backlog: BACKLOG, ...options }, () => {
          node.off("error", onError)
          resume(Effect.void)
        })
      }),
      () => Effect.async<void>((resume) => void node.close(() => resume(Effect.void)))
    )
    // Made once listening, so that it is closed (its WebSockets with it) before the server is.
    const upgrades = yield* WebSocketUpgrade.makeUpgrades
    node.on("upgrade", (req: NodeHttp.IncomingMessage, _socket: Duplex, head: Buffer) => {
      if (handler !== undefined) return upgradeRequest(handler, upgrades, req, head)
      shuttingDown(answerOnUpgrade(req))
    })
    const address = node.address()
    const server = HttpServer.make({
      address: address === null || typeof address === "string"
        ? { _tag: "UnixAddress", path: String(address) }
        : { _tag: "TcpAddress", hostname: address.address === "::" ? "0.0.0.0" : address.address, port: address.port },
      serve: (app) =>
        Effect.flatMap(Effect.runtime<never>(), (runtime) =>
          Effect.acquireRelease(
            Effect.sync(() => {
              handler = handlerFor(app, runtime)
            }),
            () =>
              Effect.sync(() => {
                handler = undefined
              })
          ))
    })
    return { server, node, upgrades }
  })

/** The server and its `Listener`, listening on `options`. */
export const layerServer = (options: Net.ListenOptions) =>
  Layer.scopedContext(
    Effect.map(make(options), ({ node, server, upgrades }) =>
      Context.make(HttpServer.HttpServer, server).pipe(
        Context.add(Listener, {
          closeAll: Effect.sync(() => {
            node.close()
            node.closeAllConnections()
            upgrades.closeAll()
          })
        })
      ))
  )

/** The server on the configured port and bind, with its `Listener`. */
export const layer = Layer.unwrapEffect(
  Effect.map(Config, (settings) => layerServer({ port: settings.port, host: hostOf(settings.bind) }))
)

/**
 * For tests: the server on a free loopback port, and an `HttpClient` whose relative URLs go to it
 * (a new connection each request, as the platform's `NodeHttpServer.layerTest` does).
 */
export const layerTest = HttpServer.layerTestClient.pipe(
  Layer.provide(Layer.unwrapEffect(Effect.map(
    // Loaded here, not with the server: the client module loads undici, which serving never needs.
    Effect.promise(() => import("@effect/platform-node/NodeHttpClient")),
    (NodeHttpClient) =>
      NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: false })))
  ))),
  Layer.provideMerge(layerServer({ port: 0, host: "127.0.0.1" }))
)

/** Prints `clawgate listening on http://<host>:<port>` once the server is up. */
export const announce = Layer.effectDiscard(
  HttpServer.addressWith((address) =>
    Effect.sync(() => {
      if (address._tag === "TcpAddress") {
        process.stdout.write(`clawgate listening on http://${address.hostname}:${address.port}\n`)
      }
    })
  )
)

/**
 * The HTTP surface: one router composing the routes, a request-wide middleware (request id, the
 * answers for unknown paths, wrong methods and defects, one log line per request) and the server.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Crypto from "node:crypto"
import * as NodeHttp from "node:http"
import type { Duplex } from "node:stream"
import * as ChatCompletions from "./ChatCompletions.js"
import * as Cors from "./Cors.js"
import * as ModelList from "./ModelList.js"
import { Config } from "./Config.js"
import { CurrentRequest, type RequestFacts } from "./CurrentRequest.js"
import * as ErrorResponse from "./ErrorResponse.js"
import { Drain } from "./Drain.js"
import {
  EndpointDisabled,
  type GatewayError,
  GatewayShuttingDown,
  HeadersTooLarge,
  MalformedHttp,
  MethodNotAllowed,
  RequestTimeout,
  RouteNotFound
} from "./Errors.js"
import * as Health from "./Health.js"
import * as Metrics from "./Metrics.js"

/** A route's typed failures become their answers, and are remembered for the log line. */
const answeringErrors = <R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, GatewayError, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R | CurrentRequest> =>
  Effect.catchAll(handler, (error) =>
    Effect.map(CurrentRequest, (current) => {
      current.error = error
      return ErrorResponse.toResponse(ErrorResponse.describe(error, current.id))
    }))

export const ChatCompletionsRoute = HttpLayerRouter.use((router) =>
  Effect.flatMap(
    ChatCompletions.makeHandler,
    (handler) => router.add("POST", ChatCompletions.PATH, answeringErrors(handler))
  )
)

export const ModelListRoutes = HttpLayerRouter.use((router) =>
  Effect.flatMap(ModelList.makeHandlers, ({ list, retrieve }) =>
    router.addAll([
      HttpLayerRouter.route("GET", ModelList.PATH, answeringErrors(list)),
      HttpLayerRouter.route("GET", `${ModelList.PATH}/:id`, answeringErrors(retrieve))
    ]))
)

/** `/v1/models/{id}`: exactly one non-empty segment after the list's path. */
const isModelPath = (path: string) => {
  const rest = path.startsWith(`${ModelList.PATH}/`) ? path.slice(ModelList.PATH.length + 1) : ""
  return rest.length > 0 && !rest.includes("/")
}

export const HealthRoutes = HttpLayerRouter.use((router) =>
  Effect.flatMap(Health.makeReadyz, (readyz) =>
    router.addAll([
      HttpLayerRouter.route("GET", Health.HEALTHZ, Health.healthz),
      HttpLayerRouter.route("GET", Health.READYZ, readyz)
    ]))
)

/** The methods each known path answers (anything else there is a 405); all behind the enable flag. */
const allowedMethods = (path: string): ReadonlyArray<string> | undefined =>
  path === Health.HEALTHZ || path === Health.READYZ
    ? ["GET"]
    : path === ChatCompletions.PATH
    ? ["POST"]
    : path === ModelList.PATH || isModelPath(path)
    ? ["GET"]
    : undefined

const pathOf = (url: string) => url.split("?", 1)[0] ?? url

const isHealth = (path: string) => path === Health.HEALTHZ || path === Health.READYZ

/** The route pattern of a path, the `route` label of the metrics: bounded, never the raw path. */
const routeOf = (path: string) =>
  path === ChatCompletions.PATH || path === ModelList.PATH || isHealth(path) || path === Metrics.PATH
    ? path
    : isModelPath(path)
    ? `${ModelList.PATH}/:id`
    : "unmatched"

/** Session keys can name people (`user`): the log keeps a short hash, enough to follow a session. */
const hashOf = (sessionKey: string) => Crypto.createHash("sha256").update(sessionKey).digest("hex").slice(0, 16)

const logRequest = (request: HttpServerRequest.HttpServerRequest, current: RequestFacts, started: number) =>
(status: number) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.logWithLevel(status >= 500 ? LogLevel.Error : LogLevel.Info, "request").pipe(
      Effect.annotateLogs({
        requestId: current.id,
        method: request.method,
        path: pathOf(request.url),
        status,
        agent: current.agentId ?? "-",
        session: current.sessionKey === undefined ? "-" : hashOf(current.sessionKey),
        durationMs: now - started,
        ...(current.usage && {
          promptTokens: current.usage.promptTokens,
          completionTokens: current.usage.completionTokens
        }),
        ...failure(current.error)
      })
    ))

/** The log's view of a failure: its tag, and for provider failures what the provider said. */
const failure = (error: RequestFacts["error"]) => {
  if (error === undefined || error === "Defect") return { error: error ?? "-" }
  switch (error._tag) {
    case "ProviderFailed":
      return { error: error._tag, provider: error.provider, detail: error.detail }
    case "ProviderUnreachable":
      return { error: error._tag, provider: error.provider, detail: String(error.cause) }
    default:
      return { error: error._tag }
  }
}

export const RequestMiddleware = HttpLayerRouter.middleware<{ provides: CurrentRequest }>()(
  Effect.gen(function*() {
    const settings = yield* Config
    const drain = yield* Drain
    const cors = Cors.make(settings.cors.allowedOrigins, settings.chatCompletions.sessionHeaders)
    const shuttingDown = Effect.zipRight(drain.deadline, Effect.fail(new GatewayShuttingDown()))
    /** While draining, only the health routes answer; past the deadline, nothing in flight waits. */
    const drained = <E, R>(
      request: HttpServerRequest.HttpServerRequest,
      handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ) =>
      Effect.flatMap(drain.draining, (draining) =>
        draining && !isHealth(pathOf(request.url)) && pathOf(request.url) !== Metrics.PATH
          ? Effect.fail(new GatewayShuttingDown())
          // The server runs this middleware uninterruptibly: the deadline's waiter must be
          // interruptible, or the race would wait on it forever once the handler has won.
          : Effect.raceFirst(handler, Effect.interruptible(shuttingDown)))
    /** What the router could not match: a disabled endpoint, a wrong method, an unknown path. */
    const unmatched = (request: HttpServerRequest.HttpServerRequest): GatewayError => {
      const path = pathOf(request.url)
      const allow = allowedMethods(path)
      if (path === Metrics.PATH) {
        // Metrics off: no such route. On: only GET is routed.
        return settings.metrics.enabled
          ? new MethodNotAllowed({ method: request.method, allow: ["GET"] })
          : new RouteNotFound({ method: request.method, path })
      }
      if (allow !== undefined && !settings.chatCompletions.enabled && !isHealth(path)) return new EndpointDisabled()
      return allow === undefined
        ? new RouteNotFound({ method: request.method, path })
        : new MethodNotAllowed({ method: request.method, allow })
    }

    return (httpEffect) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const started = yield* Clock.currentTimeMillis
        const current: RequestFacts = {
          id: `req_${Crypto.randomUUID()}`,
          agentId: undefined,
          sessionKey: undefined,
          usage: undefined,
          error: undefined
        }
        const logLine = logRequest(request, current, started)
        const log = (status: number) =>
          Effect.zipRight(
            logLine(status),
            Metrics.recordRequest(settings, { route: routeOf(pathOf(request.url)), status, request: current, startedMs: started })
          )

        const response = yield* Option.match(cors.preflight(request), {
          onSome: Effect.succeed,
          onNone: () => drained(request, httpEffect)
        }).pipe(
          Effect.provideService(CurrentRequest, current),
          Effect.catchAllCause((cause) => {
            if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
            const failure = Cause.failureOption(cause)
            if (Option.isSome(failure) && failure.value instanceof GatewayShuttingDown) {
              current.error = failure.value
              return Effect.succeed(ErrorResponse.toResponse(ErrorResponse.describe(failure.value, current.id)))
            }
            if (Option.isSome(failure) && failure.value instanceof HttpServerError.RouteNotFound) {
              const error = unmatched(request)
              current.error = error
              return Effect.succeed(ErrorResponse.toResponse(ErrorResponse.describe(error, current.id)))
            }
            current.error = "Defect"
            return Effect.as(
              Effect.logError("Unexpected failure", cause),
              ErrorResponse.toResponse(ErrorResponse.internal(current.id))
            )
          }),
          Effect.map(HttpServerResponse.setHeader("x-request-id", current.id)),
          Effect.map(cors.decorate(request))
        )

        // A stream is logged when it ends (the request's scope closes once its body is sent), so the
        // line has its real duration and in-band error.
        if (response.body._tag === "Stream") {
          yield* Effect.addFinalizer(() => log(response.status))
          return response
        }
        yield* log(response.status)
        return response
      })
  }),
  { global: true }
)

/** The gateway's routes and middleware, ready for `HttpLayerRouter.serve`. */
export const routes = Layer.mergeAll(ChatCompletionsRoute, ModelListRoutes, HealthRoutes, Metrics.route).pipe(
  Layer.provide(RequestMiddleware)
)

/** The host to listen on for a `gateway.bind` value. */
export const hostOf = (bind: string) => bind === "loopback" ? "127.0.0.1" : bind === "lan" ? "0.0.0.0" : bind

/** The Node server under the gateway, for the end of a drain. */
export class Listener extends Context.Tag("clawgate/Listener")<Listener, {
  /** Stops listening and closes every connection, busy or idle: the drain's cutoff. */
  readonly closeAll: Effect.Effect<void>
}>() {}

const isCallback = (value: unknown): value is () => void => typeof value === "function"

/**
 * Node runs the callback of `end` on 'finish' only, never when the connection goes first (the
 * client left as its answer was being written, or the write failed). The platform writes a plain
 * answer with `end(body, callback)` and waits for the callback uninterruptibly: such a request
 * never ended, stayed in flight and held up a drain for ever. Here the callback runs once the
 * answer is finished or its connection closed, whichever comes first.
 */
class ServerResponse extends NodeHttp.ServerResponse {
  override end(chunk?: unknown, encoding?: unknown, callback?: unknown): this {
    const data = isCallback(chunk) ? undefined : chunk
    const charset = typeof encoding === "string" && Buffer.isEncoding(encoding) ? encoding : undefined
    const done = [chunk, encoding, callback].find(isCallback)
    if (done === undefined) return charset === undefined ? super.end(data) : super.end(data, charset)
    const connection = this.req.socket
    let settled = false
    const settle = () => {
      if (settled) return
      settled = true
      connection.off("close", settle)
      done()
    }
    if (connection.closed) process.nextTick(settle)
    else connection.on("close", settle)
    return charset === undefined ? super.end(data, settle) : super.end(data, charset, settle)
  }
}

/** A catalogue error as the Node server answers it outside the router, closing the connection. */
const nodeAnswer = (error: GatewayError) => {
  const id = `req_${Crypto.randomUUID()}`
  const { body, headers, status } = ErrorResponse.describe(error, id)
  const text = JSON.stringify(body)
  return {
    status,
    text,
    headers: {
      ...headers,
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(text)),
      "x-request-id": id,
      connection: "close"
    }
  }
}

/** What Node's parser refused a request for, as a catalogue error. */
const framingError = (error: Error): GatewayError => {
  const code = "code" in error ? error.code : undefined
  return code === "HPE_HEADER_OVERFLOW"
    ? new HeadersTooLarge()
    : code === "ERR_HTTP_REQUEST_TIMEOUT"
    ? new RequestTimeout()
    : new MalformedHttp({ detail: error.message })
}

/**
 * The gateway's Node server (with the `ServerResponse` above). Two kinds of request never reach
 * the gateway's handler, and get their answers here:
 * - one that Node's parser refuses (bad framing, headers over the limit, too slow): the
 *   catalogue's JSON error, like every other answer, unless an answer has started on the
 *   connection (the bytes would land inside it). The connection is then closed, as Node does.
 * - one that comes once the handler is gone: on shutdown the handler is removed before the
 *   server's own close, and a request arriving in between would get no answer and hold up the
 *   close for ever. It gets 503 `shutting_down`.
 */
const createNodeServer = () => {
  const server = NodeHttp.createServer({ ServerResponse })
  /** Each connection's answers not finished yet, in order: the first is the one on the wire. */
  const answers = new WeakMap<Duplex, Array<NodeHttp.ServerResponse>>()
  server.on("request", (request, response) => {
    const unfinished = (answers.get(request.socket) ?? []).filter((answer) => !answer.writableFinished)
    answers.set(request.socket, [...unfinished, response])
    if (server.listenerCount("request") > 1) return
    const { headers, status, text } = nodeAnswer(new GatewayShuttingDown())
    response.writeHead(status, headers)
    response.end(text)
  })
  server.on("clientError", (error: Error, socket: Duplex) => {
    const onTheWire = answers.get(socket)?.find((answer) => !answer.writableFinished)
    if (socket.writable && onTheWire?.headersSent !== true) {
      const { headers, status, text } = nodeAnswer(framingError(error))
      const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")
      socket.write(`HTTP/1.1 ${status} ${NodeHttp.STATUS_CODES[status]}\r\n${head}\r\n${text}`)
    }
    socket.destroy()
  })
  return server
}

/** A Node HTTP server on the configured port and bind, with its `Listener`. */
export const NodeServer = Layer.unwrapEffect(
  Effect.map(Config, (settings) => {
    const server = createNodeServer()
    return Layer.merge(
      NodeHttpServer.layer(() => server, { port: settings.port, host: hostOf(settings.bind) }),
      Layer.succeed(Listener, {
        closeAll: Effect.sync(() => {
          server.close()
          server.closeAllConnections()
        })
      })
    )
  })
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

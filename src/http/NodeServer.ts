/**
 * The Node HTTP server the gateway is served on (`clawgate serve`), on the configured port and bind.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Crypto from "node:crypto"
import * as NodeHttp from "node:http"
import type { Duplex } from "node:stream"
import { Config } from "../config/Config.js"
import {
  type GatewayError,
  GatewayShuttingDown,
  HeadersTooLarge,
  MalformedHttp,
  RequestTimeout
} from "../domain/Errors.js"
import * as ErrorResponse from "./ErrorResponse.js"

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
export const layer = Layer.unwrapEffect(
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

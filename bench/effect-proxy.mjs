// The floor of the stack clawgate is built on: raw-proxy.mjs's work done with @effect/platform's
// HTTP server and HttpClient (undici) instead of node:http, as little else as possible, with
// tracing off as `clawgate serve` runs without an OTLP endpoint. What this costs, any gateway on
// this stack costs; the bench measures it next to the raw proxy and clawgate.
//
//   node bench/effect-proxy.mjs --upstream http://127.0.0.1:<port>/v1 --token <token> [--port 0]
//
// Prints `effect-proxy listening on http://127.0.0.1:<port>` on stdout.
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Crypto from "node:crypto"
import * as Http from "node:http"

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1] : fallback
}
const url = `${option("upstream", "http://127.0.0.1:1/v1").replace(/\/$/, "")}/chat/completions`
const expected = Buffer.from(`Bearer ${option("token", "")}`)
const port = Number(option("port", "0"))

const fail = (status, message) =>
  HttpServerResponse.unsafeJson({ error: { message, type: "invalid_request_error", param: null, code: null } }, {
    status
  })

const authorized = (header) => {
  if (typeof header !== "string") return false
  const given = Buffer.from(header)
  return given.length === expected.length && Crypto.timingSafeEqual(given, expected)
}

const proxy = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  if (!authorized(request.headers.authorization)) return fail(401, "unauthorized")
  const body = yield* Effect.orElseSucceed(request.json, () => undefined)
  if (body === null || typeof body !== "object" || !Array.isArray(body.messages)) return fail(400, "missing messages")
  const client = yield* HttpClient.HttpClient
  const answer = yield* client.execute(
    HttpClientRequest.post(url).pipe(HttpClientRequest.bodyUnsafeJson({
      model: body.model,
      messages: body.messages,
      stream: body.stream === true,
      ...(body.stream === true && { stream_options: { include_usage: true } })
    }))
  )
  const contentType = answer.headers["content-type"] ?? "application/json"
  return body.stream === true
    ? HttpServerResponse.stream(answer.stream, { status: answer.status, contentType })
    : HttpServerResponse.uint8Array(new Uint8Array(yield* answer.arrayBuffer), { status: answer.status, contentType })
}).pipe(Effect.catchAll(() => Effect.succeed(fail(502, "upstream unreachable"))))

const app = HttpRouter.empty.pipe(HttpRouter.post("/v1/chat/completions", proxy))

const announce = Layer.effectDiscard(
  HttpServer.addressWith((address) =>
    Effect.sync(() => process.stdout.write(`effect-proxy listening on http://127.0.0.1:${address.port}\n`))
  )
)

const main = Layer.merge(HttpServer.serve(app), announce).pipe(
  Layer.provide(NodeHttpClient.layerUndici),
  Layer.provide(
    NodeHttpServer.layer(() => Http.createServer({ keepAliveTimeout: 60_000 }), {
      port,
      host: "127.0.0.1",
      backlog: 8192
    })
  ),
  Layer.provide(Layer.setTracerEnabled(false))
)

Layer.launch(main).pipe(NodeRuntime.runMain)

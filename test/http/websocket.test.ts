/**
 * WebSocket upgrades on the gateway's Node server: an app served on it takes a WebSocket with
 * `request.upgrade` on the port it answers HTTP on; an upgrade request the app answers over HTTP
 * gets that answer; the gateway's own routes answer upgrade requests as plain requests.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { WebSocket } from "ws"
import * as NodeServer from "../../src/http/NodeServer.js"
import { baseUrl, testGateway } from "../kit/gateway.js"
import { BOUND, fetchJson } from "../kit/http.js"

/** `/echo` upgrades and answers each text message with `echo: <text>`; other paths answer over HTTP. */
const echoApp = (ended: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (request.url !== "/echo") return HttpServerResponse.text(`plain ${request.url}`, { status: 404 })
    const socket = yield* request.upgrade
    const write = yield* socket.writer
    yield* socket.runRaw((data) => write(typeof data === "string" ? `echo: ${data}` : data)).pipe(
      Effect.ensuring(Deferred.succeed(ended, undefined))
    )
    return HttpServerResponse.empty()
  })

const serving = (ended: Deferred.Deferred<void>) =>
  HttpServer.serve(echoApp(ended)).pipe(Layer.provideMerge(NodeServer.layerServer({ port: 0, host: "127.0.0.1" })))

const wsUrl = Effect.map(baseUrl, (url) => url.replace("http://", "ws://"))

/** A WebSocket client: the first message it gets, or the HTTP status it was answered instead. */
const connect = (url: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly ws: WebSocket; readonly next: Effect.Effect<string> }, number>((resume) => {
      const ws = new WebSocket(url)
      const messages: Array<string> = []
      const waiting: Array<(message: string) => void> = []
      ws.on("message", (data: Buffer) => {
        const message = data.toString()
        const waiter = waiting.shift()
        if (waiter === undefined) messages.push(message)
        else waiter(message)
      })
      ws.on("open", () =>
        resume(Effect.succeed({
          ws,
          next: Effect.async<string>((next) => {
            const message = messages.shift()
            if (message !== undefined) next(Effect.succeed(message))
            else waiting.push((message) => next(Effect.succeed(message)))
          })
        })))
      ws.on("unexpected-response", (_request, response) => resume(Effect.fail(response.statusCode ?? 0)))
      ws.on("error", () => {})
    }),
    ({ ws }) => Effect.sync(() => ws.terminate())
  )

describe("WebSocket upgrades on the gateway's Node server", () => {
  it.scopedLive("an app takes a WebSocket on the port it answers HTTP on, and its run ends when the client closes", () =>
    Effect.gen(function*() {
      const ended = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        const url = yield* wsUrl
        const { next, ws } = yield* connect(`${url}/echo`)
        ws.send("hello")
        expect(yield* next.pipe(Effect.timeout(BOUND))).toBe("echo: hello")
        ws.send("again")
        expect(yield* next.pipe(Effect.timeout(BOUND))).toBe("echo: again")

        // Plain HTTP on the same port meanwhile.
        const plain = yield* Effect.promise(() => fetch(`${url.replace("ws://", "http://")}/other`))
        expect(plain.status).toBe(404)
        expect(yield* Effect.promise(() => plain.text())).toBe("plain /other")

        ws.close(1000)
        yield* Deferred.await(ended).pipe(Effect.timeout(BOUND))
      }).pipe(Effect.scoped, Effect.provide(serving(ended)))
    }))

  it.scopedLive("an upgrade request the app answers over HTTP gets that answer", () =>
    Effect.gen(function*() {
      const ended = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        const url = yield* wsUrl
        expect(yield* Effect.flip(connect(`${url}/nowhere`))).toBe(404)
        expect(yield* Deferred.isDone(ended)).toBe(false)
      }).pipe(Effect.scoped, Effect.provide(serving(ended)))
    }))

  it.scopedLive("the gateway's routes answer an upgrade request as a plain request", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      expect(yield* Effect.flip(connect(`${url.replace("http://", "ws://")}/healthz`))).toBe(200)
      // And the gateway goes on answering.
      expect((yield* fetchJson(url, "/healthz")).status).toBe(200)
    }).pipe(Effect.provide(testGateway())))
})

/**
 * Requests that Node's HTTP parser refuses (bad chunk sizes, conflicting lengths, headers over the
 * limit) get the catalogue's JSON errors like every other answer, with `connection: close`; never
 * bytes inside an answer that has started. Over raw sockets, on the Node server `clawgate serve`
 * uses (`NodeServer.layer`).
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Net from "node:net"
import * as NodeServer from "../../src/http/NodeServer.js"
import { FakeAgentRunner } from "../../src/testing.js"
import { gatewayWith, testGateway, TOKEN } from "../kit/gateway.js"
import { PATH } from "../kit/http.js"

/** The gateway on `NodeServer.layer` (a free loopback port), its runs saying "still" then hanging until interrupted. */
const nodeGateway = (interrupted: Deferred.Deferred<void>) =>
  testGateway({
    config: gatewayWith({ port: 0 }),
    runner: FakeAgentRunner.layerHanging({ text: "still", onInterrupt: Deferred.succeed(interrupted, undefined) }),
    server: NodeServer.layer
  })

/** A connection of the test's own to the gateway: what it sent back so far, and waits for more. */
const connect = Effect.gen(function*() {
  const port = yield* HttpServer.addressWith((address) =>
    Effect.succeed(address._tag === "TcpAddress" ? address.port : 0)
  )
  const socket = yield* Effect.acquireRelease(
    Effect.sync(() => Net.connect(port, "127.0.0.1")),
    (socket) => Effect.sync(() => socket.destroy())
  )
  let received = ""
  socket.setEncoding("utf8")
  socket.on("data", (part: string) => received += part)
  // A reset once the gateway has answered: what came before it is what the test reads.
  socket.on("error", () => {})
  return {
    send: (bytes: string) => Effect.sync(() => void socket.write(bytes)),
    /** What has come once `text` has. */
    until: (text: string) =>
      Effect.async<string>((resume) => {
        const check = () => {
          if (received.includes(text)) resume(Effect.succeed(received))
        }
        socket.on("data", check)
        check()
        return Effect.sync(() => void socket.off("data", check))
      }),
    /** All that came, once the gateway has closed the connection. */
    closed: Effect.async<string>((resume) => {
      if (socket.closed) return resume(Effect.succeed(received))
      socket.once("close", () => resume(Effect.succeed(received)))
    })
  }
})

/** The status, headers and body of a raw answer. */
const parse = (raw: string) => {
  const end = raw.indexOf("\r\n\r\n")
  const [statusLine = "", ...lines] = raw.slice(0, end).split("\r\n")
  const headers = Object.fromEntries(lines.map((line) => {
    const colon = line.indexOf(":")
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
  }))
  return { status: Number(statusLine.split(" ")[1]), headers, body: raw.slice(end + 4) }
}

const head = (lines: ReadonlyArray<string>) =>
  `POST ${PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\n${
    lines.map((line) => `${line}\r\n`).join("")
  }\r\n`

const cases = [
  {
    what: "a bad chunk size",
    bytes: `${head(["transfer-encoding: chunked"])}zz\r\n{}\r\n0\r\n\r\n`,
    status: 400,
    code: "malformed_request"
  },
  {
    what: "conflicting Content-Length headers",
    bytes: `${head(["content-length: 2", "content-length: 3"])}{}`,
    status: 400,
    code: "malformed_request"
  },
  {
    what: "headers over Node's limit",
    bytes: head([`x-padding: ${"a".repeat(20 * 1024)}`]),
    status: 431,
    code: "headers_too_large"
  }
]

/** `test` on a gateway of its own; `interrupted` completes when a run is cancelled. */
const withGateway = <A, E, R>(test: (interrupted: Deferred.Deferred<void>) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(Deferred.make<void>(), (interrupted) => Effect.provide(test(interrupted), nodeGateway(interrupted)))

describe("malformed HTTP framing", () => {
  it.scopedLive("gets the catalogue's JSON error with connection: close, and the gateway goes on serving", () =>
    withGateway(() =>
      Effect.gen(function*() {
        for (const { bytes, code, status, what } of cases) {
          const connection = yield* connect
          yield* connection.send(bytes)
          const answer = parse(yield* connection.closed)
          expect({ what, status: answer.status }).toEqual({ what, status })
          expect(answer.headers["content-type"]).toMatch(/^application\/json/)
          expect(answer.headers.connection).toBe("close")
          expect(answer.headers["x-request-id"]).toMatch(/^req_/)
          expect(JSON.parse(answer.body)).toEqual({
            error: { message: expect.any(String), type: "invalid_request_error", param: null, code }
          })
        }
        const connection = yield* connect
        yield* connection.send("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        expect(parse(yield* connection.closed).status).toBe(200)
      })
    ))

  it.scopedLive("after a stream's answer has started, adds nothing to it: the connection is closed and the run ends", () =>
    withGateway((interrupted) =>
      Effect.gen(function*() {
        const connection = yield* connect
        const body = JSON.stringify({
          model: "clawdbot:main",
          messages: [{ role: "user", content: "hi" }],
          stream: true
        })
        yield* connection.send(`${head([`content-length: ${body.length}`])}${body}`)
        yield* connection.until("still")
        // A second request on the connection, its framing broken.
        yield* connection.send(`${head(["transfer-encoding: chunked"])}zz\r\n`)
        const received = yield* connection.closed
        expect(received.match(/HTTP\/1\.1 \d+/g)).toEqual(["HTTP/1.1 200"])
        yield* Deferred.await(interrupted)
      })
    ))
})

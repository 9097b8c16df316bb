/**
 * Bursts of requests: the Node server starts at most a few requests per turn of the event loop
 * (the rest wait their turn, in order, and those whose client left meanwhile are not started), and a burst of concurrent requests gets every answer, each
 * its own, plain or streamed.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Net from "node:net"
import { admission, STARTS_PER_TURN } from "../../src/http/NodeServer.js"
import { baseUrl, testGateway, TOKEN } from "../kit/gateway.js"
import { PATH, userSays } from "../kit/http.js"

const BURST = 100

/** The answer of a request whose client is still there. */
const open = { destroyed: false }

/** The next turn of the event loop (after its I/O). */
const nextTurn = Effect.async<void>((resume) => void setImmediate(() => resume(Effect.void)))

/** Connections to the gateway, all open before any request is sent. */
const connect = (count: number) =>
  Effect.flatMap(baseUrl, (url) =>
    Effect.all(
      Array.from({ length: count }, () =>
        Effect.acquireRelease(
          Effect.async<Net.Socket, Error>((resume) => {
            const socket = Net.connect(Number(new URL(url).port), "127.0.0.1")
            socket.once("connect", () => resume(Effect.succeed(socket))).once("error", (e) => resume(Effect.fail(e)))
          }),
          (socket) => Effect.sync(() => socket.destroy())
        )),
      { concurrency: "unbounded" }
    ))

/** The request's bytes: a POST of `body`, the connection closed after the answer. */
const requestBytes = (body: unknown) => {
  const text = JSON.stringify(body)
  return `POST ${PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TOKEN}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`
}

/** Everything the gateway sends on the connection until it closes it. */
const received = (socket: Net.Socket) =>
  Effect.async<string>((resume) => {
    let text = ""
    socket.setEncoding("utf8").on("data", (data: string) => text += data).once("close", () =>
      resume(Effect.succeed(text)))
  })

describe("bursts of requests", () => {
  it.live("at most a few start per turn of the event loop; the others wait their turn, in order", () =>
    Effect.gen(function*() {
      const admit = admission()
      const started: Array<number> = []
      const count = STARTS_PER_TURN * 2 + 3
      for (let i = 0; i < count; i++) admit(open, () => started.push(i))
      expect(started).toEqual(Array.from({ length: STARTS_PER_TURN }, (_, i) => i))
      yield* nextTurn
      expect(started.length).toBe(STARTS_PER_TURN * 2)
      // One that comes meanwhile waits behind those already waiting.
      admit(open, () => started.push(count))
      yield* nextTurn
      yield* nextTurn
      expect(started).toEqual(Array.from({ length: count + 1 }, (_, i) => i))
    }))

  it.live("a request whose client left while it waited is not started, nor counted against the turn", () =>
    Effect.gen(function*() {
      const admit = admission()
      const started: Array<string> = []
      for (let i = 0; i < STARTS_PER_TURN; i++) admit(open, () => started.push(`first-${i}`))
      // The turn is full: these wait, and two of their clients leave before the next turn.
      const leaving = [{ destroyed: false }, { destroyed: false }]
      admit(leaving[0]!, () => started.push("left"))
      for (let i = 0; i < STARTS_PER_TURN; i++) admit(open, () => started.push(`next-${i}`))
      admit(leaving[1]!, () => started.push("left"))
      for (const answer of leaving) answer.destroyed = true
      yield* nextTurn
      expect(started).toEqual([
        ...Array.from({ length: STARTS_PER_TURN }, (_, i) => `first-${i}`),
        ...Array.from({ length: STARTS_PER_TURN }, (_, i) => `next-${i}`)
      ])
    }))

  it.scopedLive("a burst of concurrent requests gets every answer, each its own, plain and streamed", () =>
    Effect.gen(function*() {
      const sockets = yield* connect(BURST)
      const answers = sockets.map(received)
      sockets.forEach((socket, i) => socket.write(requestBytes(userSays(`said-${i}`, { stream: i % 2 === 1 }))))
      const texts = yield* Effect.all(answers, { concurrency: "unbounded" })
      texts.forEach((text, i) => {
        expect(text.startsWith("HTTP/1.1 200 OK")).toBe(true)
        // The echo agent says it back: as JSON content, or streamed as a content delta.
        expect(text).toContain(i % 2 === 1 ? `"delta":{"content":"said-${i}"}` : `"content":"said-${i}"`)
        if (i % 2 === 1) expect(text).toContain("data: [DONE]")
      })
    }).pipe(Effect.provide(testGateway())))
})

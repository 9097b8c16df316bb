/**
 * A streamed body with a feed (`Pull.withFeed`), as the gateway's answers over a live provider
 * are: the Node server writes what the feed has with plain calls, and stops taking once the
 * client's connection is full, going on when it drains, so that a client that stops reading
 * holds the source back instead of the answer piling up in the server.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import * as Pull from "../../src/domain/Pull.js"
import * as NodeServer from "../../src/http/NodeServer.js"
import { baseUrl } from "../kit/gateway.js"
import { BOUND } from "../kit/http.js"

/** Pieces under Node's buffer mark, so that each write is taken until the connection is full. */
const PIECE = Buffer.alloc(8 * 1024, "x")
const PIECES = 4096
/** 32 MB: far more than a loopback connection buffers. */
const TOTAL = PIECE.length * PIECES

/** `/feed` streams TOTAL bytes, all of them there to take at once; any other path answers "ok". */
const feedingApp = (taken: { count: number }) =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    if (request.url !== "/feed") return HttpServerResponse.text("ok")
    // The pull gives what the feed does (and the start, and the end, which the feed leaves to it).
    let started = false
    const piece = (): Chunk.Chunk<Uint8Array> => {
      taken.count += 1
      return Chunk.of(PIECE)
    }
    const pull: Pull.Pull<Uint8Array, never> = Effect.suspend(() => {
      if (!started) {
        started = true
        return Pull.emit<Uint8Array>([Buffer.from("start\n")])
      }
      return taken.count < PIECES ? Effect.sync(piece) : Pull.end
    })
    const feed: Pull.Feed<Uint8Array> = {
      take: () => !started || taken.count === PIECES ? "pull" : piece(),
      whenReady: (ready) => ready()
    }
    return HttpServerResponse.stream(Pull.stream(Effect.succeed(Pull.withFeed(pull, feed))))
  })

/** A GET whose answer is left unread until `rest` reads it to its end (its length). */
const get = (url: string) =>
  Effect.async<{ readonly status: number; readonly rest: Effect.Effect<number> }, Error>((resume) => {
    const request = Http.get(url, { agent: false }, (response) => {
      response.pause()
      resume(Effect.succeed({
        status: response.statusCode ?? 0,
        rest: Effect.async<number>((done) => {
          let length = 0
          response.on("data", (data: Buffer) => length += data.length).on("end", () => done(Effect.succeed(length)))
          response.resume()
        })
      }))
    })
    request.on("error", (error) => resume(Effect.fail(error)))
  })

const serving = (taken: { count: number }) =>
  HttpServer.serve(feedingApp(taken)).pipe(Layer.provideMerge(NodeServer.layerServer({ port: 0, host: "127.0.0.1" })))

describe("a streamed body with a feed", () => {
  it.scopedLive("is taken only as fast as its client reads, and reaches it whole", () => {
    const taken = { count: 0 }
    return Effect.gen(function*() {
      const url = yield* baseUrl
      const answer = yield* get(`${url}/feed`)
      expect(answer.status).toBe(200)

      // Once the connection is full, nothing more is taken (the same count across another answer).
      let before = -1
      for (let answers = 0; answers < 50 && before !== taken.count; answers++) {
        before = taken.count
        const other = yield* get(`${url}/other`).pipe(Effect.timeout(BOUND))
        yield* other.rest
      }
      expect(taken.count).toBe(before)
      expect(taken.count).toBeLessThan(PIECES / 2)

      // Read again, the client gets all of it.
      expect(yield* answer.rest).toBe("start\n".length + TOTAL)
      expect(taken.count).toBe(PIECES)
    }).pipe(Effect.provide(serving(taken)))
  })
})

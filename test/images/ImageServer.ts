/**
 * A tiny HTTP server on a loopback port serving images for the remote-image tests. It records each
 * request (path and headers) and tells when the client hung up on an answer it had not finished.
 *
 *   /cat.png        a 1x1 PNG, `image/png`
 *   /photo          JPEG bytes sent as `application/octet-stream`
 *   /drawing.svg    an SVG, `image/svg+xml`
 *   /big.png        `bigSize` bytes (a PNG signature, then filler) with its Content-Length
 *   /endless.png    PNG bytes, chunked, without end until the client leaves
 *   /hang.png       headers never come
 *   /missing.png    404
 *   /moved          302 to /cat.png
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import { listenOnLoopback } from "../fakes/listen.js"
import { jpeg, PNG } from "./fixtures.js"

export interface SeenRequest {
  readonly path: string
  readonly headers: Readonly<Record<string, string | Array<string> | undefined>>
}

export interface Service {
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string
  readonly requests: Effect.Effect<ReadonlyArray<SeenRequest>>
  /** Succeeds once the client closed the connection of a request to `path` before its answer ended. */
  readonly abandoned: (path: string) => Effect.Effect<void>
}

const CHUNK = Buffer.alloc(16 * 1024, 0x41)

const make = (options: { readonly bigSize: number }) =>
  Effect.gen(function*() {
    const seen: Array<SeenRequest> = []
    const abandoned = new Map<string, Deferred.Deferred<void>>()
    const abandonedOf = (path: string) => {
      let deferred = abandoned.get(path)
      if (deferred === undefined) {
        deferred = Deferred.unsafeMake<void>(FiberId.none)
        abandoned.set(path, deferred)
      }
      return deferred
    }

    const server = Http.createServer((req, res) => {
      const path = req.url ?? ""
      seen.push({ path, headers: { ...req.headers } })
      res.on("close", () => {
        if (!res.writableFinished) Deferred.unsafeDone(abandonedOf(path), Effect.void)
      })
      switch (path) {
        case "/cat.png":
          res.writeHead(200, { "content-type": "image/png", "content-length": PNG.length })
          res.end(PNG)
          return
        case "/photo": {
          const bytes = jpeg(300)
          res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length })
          res.end(bytes)
          return
        }
        case "/drawing.svg":
          res.writeHead(200, { "content-type": "image/svg+xml" })
          res.end("<svg xmlns=\"http://www.w3.org/2000/svg\"/>")
          return
        case "/big.png": {
          const bytes = Buffer.alloc(options.bigSize, 0x41)
          PNG.copy(bytes, 0, 0, 8)
          res.writeHead(200, { "content-type": "image/png", "content-length": bytes.length })
          res.end(bytes)
          return
        }
        case "/endless.png": {
          res.writeHead(200, { "content-type": "image/png" })
          res.write(PNG.subarray(0, 8))
          // Writes as fast as the client reads, until it leaves.
          const pump = () => {
            while (!res.destroyed && res.write(CHUNK)) {
              // the buffer took it: write more
            }
          }
          res.on("drain", pump)
          pump()
          return
        }
        case "/hang.png":
          return
        case "/moved":
          res.writeHead(302, { location: "/cat.png" })
          res.end()
          return
        default:
          res.writeHead(404, { "content-type": "text/plain" })
          res.end("not here")
      }
    })

    const port = yield* listenOnLoopback(server)
    const service: Service = {
      baseUrl: `http://127.0.0.1:${port}`,
      requests: Effect.sync(() => [...seen]),
      abandoned: (path) => Effect.suspend(() => Deferred.await(abandonedOf(path)))
    }
    return service
  })

export class ImageServer extends Context.Tag("test/images/ImageServer")<ImageServer, Service>() {
  static readonly layer = (options: { readonly bigSize: number } = { bigSize: 4096 }): Layer.Layer<ImageServer> =>
    Layer.scoped(ImageServer, make(options))
}

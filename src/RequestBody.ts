/**
 * Reads a JSON request body with a size limit. Over the limit it answers 413 rather than
 * resetting the connection (which platform's own limit does): the rest of the body is left to
 * drain, so the client can read the answer, also for chunked bodies.
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Effect from "effect/Effect"
import { excerpt, InvalidJson, PayloadTooLarge } from "./Errors.js"

export const readJson = (
  request: HttpServerRequest.HttpServerRequest,
  maxBytes: number
): Effect.Effect<unknown, PayloadTooLarge | InvalidJson> => {
  const declared = Number(request.headers["content-length"] ?? NaN)
  if (declared > maxBytes) return Effect.fail(new PayloadTooLarge({ maxBytes }))
  const incoming = NodeHttpServerRequest.toIncomingMessage(request)
  return Effect.async<Buffer, PayloadTooLarge | InvalidJson>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= maxBytes) return void chunks.push(chunk)
      stop()
      incoming.resume()
      resume(Effect.fail(new PayloadTooLarge({ maxBytes })))
    }
    const onEnd = () => {
      stop()
      resume(Effect.succeed(Buffer.concat(chunks, size)))
    }
    const onError = () => {
      stop()
      resume(Effect.fail(new InvalidJson({ message: "the request body could not be read" })))
    }
    const stop = () => {
      incoming.off("data", onData).off("end", onEnd).off("error", onError)
    }
    incoming.on("data", onData).on("end", onEnd).on("error", onError)
    return Effect.sync(stop)
  }).pipe(
    Effect.flatMap((bytes) =>
      Effect.try({
        try: (): unknown => JSON.parse(bytes.toString("utf8")),
        catch: (error) =>
          new InvalidJson({
            message: bytes.length === 0
              ? "the body is empty; expected a JSON object"
              // V8 quotes a few characters of the body: binary or invisible ones are escaped.
              : excerpt(error instanceof Error ? error.message : String(error))
          })
      })
    )
  )
}

/**
 * Reads a JSON request body with a size limit. Over the limit it answers 413 rather than
 * resetting the connection (which platform's own limit does): the rest of the body is left to
 * drain, so the client can read the answer, also for chunked bodies. A body nested deeper than
 * `MAX_DEPTH` is refused before anything recurses over it (Schema's error formatter and
 * `JSON.stringify` overflow the stack a few thousand levels down).
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Effect from "effect/Effect"
import { excerpt, InvalidJson, InvalidRequest, PayloadTooLarge } from "./Errors.js"
import * as IssuePath from "./IssuePath.js"

/** How deep arrays and objects may nest, the body being level 1. Real tools' JSON Schemas are far shallower. */
export const MAX_DEPTH = 64

interface Level {
  readonly value: object
  readonly key: PropertyKey
  readonly parent: Level | undefined
  readonly depth: number
}

const pathOf = (level: Level): ReadonlyArray<PropertyKey> => {
  const path: Array<PropertyKey> = []
  for (let at: Level | undefined = level; at?.parent !== undefined; at = at.parent) path.push(at.key)
  return path.reverse()
}

/**
 * Refuses a body nested deeper than `MAX_DEPTH`, naming the path where it goes past. It walks with
 * a stack of its own, so no depth overflows it.
 */
const checkDepth = (body: unknown): Effect.Effect<unknown, InvalidRequest> => {
  if (typeof body !== "object" || body === null) return Effect.succeed(body)
  const pending: Array<Level> = [{ value: body, key: "", parent: undefined, depth: 1 }]
  for (let level = pending.pop(); level !== undefined; level = pending.pop()) {
    if (level.depth > MAX_DEPTH) {
      const param = IssuePath.format(pathOf(level))
      return Effect.fail(
        new InvalidRequest({
          message: `Invalid '${param}': nested too deep (arrays and objects nest at most ${MAX_DEPTH} levels, ` +
            "the body being the first).",
          param
        })
      )
    }
    const entries: Iterable<readonly [PropertyKey, unknown]> = Array.isArray(level.value)
      ? level.value.entries()
      : Object.entries(level.value)
    for (const [key, value] of entries) {
      if (typeof value === "object" && value !== null) pending.push({ value, key, parent: level, depth: level.depth + 1 })
    }
  }
  return Effect.succeed(body)
}

export const readJson = (
  request: HttpServerRequest.HttpServerRequest,
  maxBytes: number
): Effect.Effect<unknown, PayloadTooLarge | InvalidJson | InvalidRequest> => {
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
    ),
    Effect.flatMap(checkDepth)
  )
}

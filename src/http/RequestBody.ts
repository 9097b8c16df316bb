/**
 * Reads a JSON request body within limits. Over `maxBytes` (as sent, and once inflated when it is
 * compressed) it answers 413 rather than resetting the connection (which platform's own limit
 * does): the rest of the body is left to drain, so the client can read the answer, also for
 * chunked bodies. A body nested deeper than `MAX_DEPTH` is refused before anything recurses over
 * it (Schema's error formatter and `JSON.stringify` overflow the stack a few thousand levels down).
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as NodeStream from "node:stream"
import * as Zlib from "node:zlib"
import * as Callback from "../domain/Callback.js"
import { InvalidJson, InvalidRequest, PayloadTooLarge, UnsupportedContentEncoding } from "../domain/Errors.js"
import { excerpt, formatPath, quote } from "../domain/Quote.js"
import { incomingMessageOf, notOnNode } from "./NodeRequest.js"

/** The `Content-Encoding`s a body may come in, with their decoders; `identity` (or none) is plain. */
const DECODERS = new Map<string, () => NodeStream.Transform>([
  ["gzip", Zlib.createGunzip],
  ["x-gzip", Zlib.createGunzip],
  ["deflate", Zlib.createInflate],
  ["br", Zlib.createBrotliDecompress]
])

const ENCODINGS: ReadonlyArray<string> = ["gzip", "deflate", "br"]

interface Decoder {
  readonly encoding: string
  readonly stream: NodeStream.Transform
}

/** The decoder for the body's encoding: `undefined` for a plain body. */
const decoderFor = (header: string | undefined): Effect.Effect<Decoder | undefined, UnsupportedContentEncoding> => {
  const encoding = (header ?? "").trim().toLowerCase()
  if (encoding === "" || encoding === "identity") return Effect.succeed(undefined)
  const decoder = DECODERS.get(encoding)
  return decoder === undefined
    ? Effect.fail(new UnsupportedContentEncoding({ encoding, supported: ENCODINGS }))
    : Effect.sync(() => ({ encoding, stream: decoder() }))
}

/**
 * The body's bytes, inflated by `decoder` when there is one. Both the bytes as sent and as
 * inflated count against `maxBytes` (a run of empty gzip members inflates to nothing).
 */
const readBytes = (incoming: NodeStream.Readable, decoder: Decoder | undefined, maxBytes: number) =>
  Callback.cutOnExit<Buffer, PayloadTooLarge | InvalidJson>((resume) => {
    const body = decoder?.stream ?? incoming
    const chunks: Array<Buffer> = []
    let size = 0
    let sent = 0
    const stop = () => {
      incoming.off("data", onSent).off("error", onSendError)
      body.off("data", onData).off("end", onEnd)
      if (decoder === undefined) return
      decoder.stream.off("error", onDecodeError)
      incoming.unpipe(decoder.stream)
      decoder.stream.destroy()
    }
    const fail = (error: PayloadTooLarge | InvalidJson) => {
      stop()
      // The rest is read and dropped, so that the answer reaches the client.
      incoming.resume()
      resume(Effect.fail(error))
    }
    const onSent = (chunk: Buffer) => {
      sent += chunk.length
      if (sent > maxBytes) fail(new PayloadTooLarge({ maxBytes }))
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= maxBytes) return void chunks.push(chunk)
      fail(new PayloadTooLarge({ maxBytes }))
    }
    const onEnd = () => {
      stop()
      resume(Effect.succeed(Buffer.concat(chunks, size)))
    }
    const onSendError = () => fail(new InvalidJson({ message: "the request body could not be read" }))
    const onDecodeError = (error: Error) =>
      fail(new InvalidJson({ message: `its ${decoder?.encoding} compression is corrupt (${error.message})` }))
    incoming.on("error", onSendError)
    body.on("data", onData).on("end", onEnd)
    if (decoder !== undefined) {
      decoder.stream.on("error", onDecodeError)
      incoming.on("data", onSent).pipe(decoder.stream)
    }
    return stop
  })

/** The UTF-8 byte-order mark, which some clients write before the JSON. */
const BOM = Buffer.from([0xef, 0xbb, 0xbf])

const parse = (bytes: Buffer) =>
  Effect.try({
    try: (): unknown => JSON.parse((bytes.subarray(0, 3).equals(BOM) ? bytes.subarray(3) : bytes).toString("utf8")),
    catch: (error) =>
      new InvalidJson({
        message: bytes.length === 0
          ? "the body is empty; expected a JSON object"
          // V8 quotes a few characters of the body: binary or invisible ones are escaped.
          : excerpt(error instanceof Error ? error.message : String(error))
      })
  })

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
      const param = formatPath(pathOf(level))
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
      if (typeof value === "object" && value !== null) {
        pending.push({ value, key, parent: level, depth: level.depth + 1 })
      }
    }
  }
  return Effect.succeed(body)
}

export const readJson = (
  request: HttpServerRequest.HttpServerRequest,
  maxBytes: number
): Effect.Effect<unknown, PayloadTooLarge | UnsupportedContentEncoding | InvalidJson | InvalidRequest> => {
  const declared = Number(request.headers["content-length"] ?? NaN)
  if (declared > maxBytes) return Effect.fail(new PayloadTooLarge({ maxBytes }))
  const source = incomingMessageOf(request)
  if (source === undefined) return notOnNode()
  return decoderFor(request.headers["content-encoding"]).pipe(
    Effect.flatMap((decoder) => readBytes(source, decoder, maxBytes)),
    Effect.flatMap(parse),
    Effect.flatMap(checkDepth)
  )
}

/**
 * The issue with each value it quotes (Schema's `actual ...`) cut by `quote`, where Schema would
 * print it whole. Schema prints a value by its own `toString` when it has one.
 */
const withValuesQuoted = (issue: ParseResult.ParseIssue): ParseResult.ParseIssue => {
  switch (issue._tag) {
    case "Type":
      return new ParseResult.Type(issue.ast, { toString: () => quote(issue.actual) }, issue.message)
    case "Pointer":
      return new ParseResult.Pointer(issue.path, issue.actual, withValuesQuoted(issue.issue))
    case "Refinement":
      return new ParseResult.Refinement(issue.ast, issue.actual, issue.kind, withValuesQuoted(issue.issue))
    case "Transformation":
      return new ParseResult.Transformation(issue.ast, issue.actual, issue.kind, withValuesQuoted(issue.issue))
    case "Composite": {
      const { issues } = issue
      return new ParseResult.Composite(
        issue.ast,
        issue.actual,
        "_tag" in issues ? withValuesQuoted(issues) : Arr.map(issues, withValuesQuoted),
        issue.output
      )
    }
    case "Missing":
    case "Unexpected":
    case "Forbidden":
      return issue
  }
}

/** Schema-checks a parsed body; the first problem becomes the error, with its field as `param`. */
export const decode = <A, I>(schema: Schema.Schema<A, I>) => (body: unknown): Effect.Effect<A, InvalidRequest> =>
  Schema.decodeUnknown(schema)(body).pipe(
    Effect.mapError((error) => {
      const [issue] = ParseResult.ArrayFormatter.formatIssueSync(withValuesQuoted(error.issue))
      const param = issue === undefined || issue.path.length === 0 ? null : formatPath(issue.path)
      const problem = issue?.message ?? "invalid request"
      return new InvalidRequest({
        message: param === null ? `Invalid request: ${problem}` : `Invalid '${param}': ${problem}`,
        param
      })
    })
  )

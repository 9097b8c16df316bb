/**
 * Images of the current user turn: `image_url` parts become images (media type and base64) that
 * reach the agent's model as @effect/ai file parts, which each provider sends in its own format.
 * A data URI's base64 goes on as the client sent it (in the standard alphabet, padded): an image
 * is never decoded and encoded again, which for a large one would hold the event loop.
 *
 * - Which images: those of the user messages after the request's last assistant message (the
 *   turn being answered). Images of older messages are not sent again: they are written as the
 *   text `[image]` where they were, which is also what a stored session keeps of every image (a
 *   transcript holds no base64).
 * - Where from: data URIs (`data:image/png;base64,...`) always; `http(s)` URLs only with
 *   `images.allowRemote`, fetched by the gateway (no credentials sent) with the size limit
 *   enforced while reading, and a time limit for the whole fetch.
 * - Limits (`gateway.http.endpoints.chatCompletions.images`): `maxCount` images per request,
 *   `maxBytes` each, `allowedTypes`. The type is the one the bytes show (PNG, JPEG, GIF and WebP
 *   are recognized by their signature), else the declared one (the data URI's, or the fetched
 *   answer's `Content-Type`). Past a limit: 400 `invalid_request_error` whose `param` names the
 *   part, e.g. `messages[2].content[1].image_url`.
 * - The built-in `echo` model takes no images: for an agent on it, images are ignored entirely.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { ImageSettings } from "../../config/ConfigFile.js"
import type { Agent } from "../../domain/Agent.js"
import { InvalidRequest } from "../../domain/Errors.js"
import { excerpt } from "../../domain/Quote.js"
import type { ImageInput, UserPart } from "../../domain/Run.js"
import type * as Wire from "./ChatCompletionsWire.js"

/** What a transcript keeps of an image, and what the model sees of an image of an older message. */
export const PLACEHOLDER = "[image]"

const DETAILS: ReadonlyArray<string> = ["auto", "low", "high"]

/** An `image_url` part as the request gives it, and where it is (`messages[i].content[j].image_url`). */
export interface ImageRef {
  readonly url: string
  readonly detail: string | null | undefined
  readonly param: string
}

/** Turns an image reference into an image, within the configured limits. */
export interface Resolver {
  readonly settings: ImageSettings
  readonly resolve: (ref: ImageRef) => Effect.Effect<ImageInput, InvalidRequest>
}

/** Whether the agent's model takes images (every provider's does; `echo` does not). */
export const takesImages = (agent: Agent): boolean => agent.model !== "echo"

const invalid = (param: string, problem: string) =>
  new InvalidRequest({ message: `Invalid '${param}': ${problem}`, param })

const mebibytes = (bytes: number) => {
  const mib = bytes / (1024 * 1024)
  return mib >= 1 ? ` (${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB)` : ""
}

const tooBig = (ref: ImageRef, maxBytes: number) =>
  invalid(ref.param, `the image is larger than the limit of ${maxBytes} bytes${mebibytes(maxBytes)}.`)

// ---------------------------------------------------------------------------------------------
// Media types
// ---------------------------------------------------------------------------------------------

const startsWith = (bytes: Uint8Array, signature: ReadonlyArray<number>, at = 0) =>
  bytes.length >= at + signature.length && signature.every((byte, i) => bytes[at + i] === byte)

const ascii = (text: string) => [...text].map((char) => char.charCodeAt(0))

/** The image formats recognized by their first bytes. */
const SIGNATURES: ReadonlyArray<readonly [string, (bytes: Uint8Array) => boolean]> = [
  ["image/png", (bytes) => startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])],
  ["image/jpeg", (bytes) => startsWith(bytes, [0xff, 0xd8, 0xff])],
  ["image/gif", (bytes) => startsWith(bytes, ascii("GIF87a")) || startsWith(bytes, ascii("GIF89a"))],
  ["image/webp", (bytes) => startsWith(bytes, ascii("RIFF")) && startsWith(bytes, ascii("WEBP"), 8)]
]

/** The type an image's first bytes show, if they are of a recognized format. */
export const sniff = (bytes: Uint8Array): string | undefined => SIGNATURES.find(([, test]) => test(bytes))?.[0]

/** How many of an image's first bytes `sniff` reads (WebP's signature ends at byte 12). */
const SNIFFED_BYTES = 12

/** A `Content-Type` (or a data URI's type) without parameters, lowercased; none when empty. */
const bareType = (value: string | undefined): string | undefined => {
  const type = value?.split(";")[0]?.trim().toLowerCase()
  return type === undefined || type === "" ? undefined : type
}

/**
 * The image, within the limits, with its media type: the one its first bytes (`head`) show, else
 * the declared one, if it is allowed. `base64` is asked for only once the image is accepted.
 */
const typed = (
  ref: ImageRef,
  settings: ImageSettings,
  image: { readonly size: number; readonly head: Uint8Array; readonly base64: () => string },
  declared: string | undefined
): Effect.Effect<ImageInput, InvalidRequest> => {
  if (image.size === 0) return Effect.fail(invalid(ref.param, "the image is empty."))
  if (image.size > settings.maxBytes) return Effect.fail(tooBig(ref, settings.maxBytes))
  const mediaType = sniff(image.head) ?? declared
  if (mediaType === undefined || !settings.allowedTypes.includes(mediaType)) {
    const what = mediaType === undefined ? "an image of unknown type" : `of type '${excerpt(mediaType)}'`
    return Effect.fail(invalid(
      ref.param,
      `the image is ${what}, which is not allowed; allowed types: ${settings.allowedTypes.join(", ")}.`
    ))
  }
  const detail = ref.detail ?? undefined
  return Effect.succeed({
    mediaType,
    base64: image.base64(),
    ...(detail !== undefined && { detail: detail === "low" ? "low" : detail === "high" ? "high" : "auto" })
  })
}

/** An image read as bytes (a fetched one, or a data URI's percent-encoded text). */
const ofBytes = (bytes: Buffer) => ({
  size: bytes.length,
  head: bytes.subarray(0, SNIFFED_BYTES),
  base64: () => bytes.toString("base64")
})

// ---------------------------------------------------------------------------------------------
// Data URIs
// ---------------------------------------------------------------------------------------------

/** Base64 digits, standard or URL-safe, without padding. */
const BASE64_DIGITS = /^[A-Za-z0-9+/_-]*$/

/**
 * A data URI's base64 as providers take it: standard alphabet, padded. It is kept as the client
 * sent it, not decoded (what is said of the image, its size and type, comes from its length and
 * first digits): a large image is never copied into bytes and encoded again on the event loop.
 * Undefined when the text is not base64.
 */
const standardBase64 = (payload: string): string | undefined => {
  const compact = /\s/.test(payload) ? payload.replace(/\s+/g, "") : payload
  const padding = compact.endsWith("==") ? 2 : compact.endsWith("=") ? 1 : 0
  const digits = padding === 0 ? compact : compact.slice(0, -padding)
  // A last group of one digit holds no whole byte: no encoder writes that.
  if (!BASE64_DIGITS.test(digits) || digits.length % 4 === 1) return undefined
  const standard = /[-_]/.test(digits) ? digits.replace(/-/g, "+").replace(/_/g, "/") : digits
  return digits.length % 4 === 0 ? standard : standard + "=".repeat(4 - digits.length % 4)
}

/** `data:[<type>][;<parameter>]*[;base64],<data>` (RFC 2397) as its declared type and image. */
const fromDataUri = (ref: ImageRef, settings: ImageSettings): Effect.Effect<ImageInput, InvalidRequest> => {
  const comma = ref.url.indexOf(",")
  if (comma === -1) {
    return Effect.fail(
      invalid(ref.param, "the data URI has no ',' before its data (expected data:<type>;base64,<data>).")
    )
  }
  const header = ref.url.slice("data:".length, comma).split(";").map((piece) => piece.trim())
  const declared = bareType(header[0])
  const payload = ref.url.slice(comma + 1)
  if (header.slice(1).some((piece) => piece.toLowerCase() === "base64")) {
    const base64 = standardBase64(payload)
    if (base64 === undefined) return Effect.fail(invalid(ref.param, "the data URI's data is not valid base64."))
    const padding = base64.endsWith("==") ? 2 : base64.endsWith("=") ? 1 : 0
    const image = {
      size: base64.length / 4 * 3 - padding,
      head: Buffer.from(base64.slice(0, SNIFFED_BYTES / 3 * 4), "base64"),
      base64: () => base64
    }
    return typed(ref, settings, image, declared)
  }
  try {
    return typed(ref, settings, ofBytes(Buffer.from(decodeURIComponent(payload), "utf8")), declared)
  } catch {
    return Effect.fail(invalid(ref.param, "the data URI's data is not valid percent-encoded text."))
  }
}

// ---------------------------------------------------------------------------------------------
// Remote images
// ---------------------------------------------------------------------------------------------

/** At most `maxBytes` of a body: reading stops, and the fetch fails, past the limit. */
const readAtMost = <E>(body: Stream.Stream<Uint8Array, E>, ref: ImageRef, maxBytes: number) =>
  Effect.map(
    Stream.runFoldEffect(body, { chunks: new Array<Uint8Array>(), size: 0 }, (read, chunk) => {
      if (read.size + chunk.length > maxBytes) return Effect.fail(tooBig(ref, maxBytes))
      read.chunks.push(chunk)
      read.size += chunk.length
      return Effect.succeed(read)
    }),
    (read) => Buffer.concat(read.chunks, read.size)
  )

const fetchFailed = (ref: ImageRef, why: string) => invalid(ref.param, `the image could not be fetched: ${why}.`)

const whyFailed = (error: HttpClientError.HttpClientError): string => {
  if (error._tag === "ResponseError") {
    return error.reason === "StatusCode"
      ? `its URL answered HTTP ${error.response.status}`
      : "the connection failed while it was read"
  }
  return error.reason === "InvalidUrl" ? "its URL is not valid" : "its server could not be reached"
}

const fetchImage = (client: HttpClient.HttpClient, ref: ImageRef, settings: ImageSettings) =>
  Effect.gen(function*() {
    const response = yield* client.execute(
      HttpClientRequest.get(ref.url).pipe(HttpClientRequest.setHeader("accept", "image/*"))
    )
    const length = Number(response.headers["content-length"] ?? Number.NaN)
    if (Number.isFinite(length) && length > settings.maxBytes) return yield* tooBig(ref, settings.maxBytes)
    const bytes = yield* readAtMost(response.stream, ref, settings.maxBytes)
    return yield* typed(ref, settings, ofBytes(bytes), bareType(response.headers["content-type"]))
  }).pipe(
    Effect.scoped,
    Effect.catchTags({
      RequestError: (error) => Effect.fail(fetchFailed(ref, whyFailed(error))),
      ResponseError: (error) => Effect.fail(fetchFailed(ref, whyFailed(error)))
    }),
    Effect.timeoutFail({
      duration: settings.fetchTimeoutMs,
      onTimeout: () => fetchFailed(ref, `it did not arrive within ${settings.fetchTimeoutMs} ms`)
    })
  )

const isRemote = (url: string) => /^https?:\/\//i.test(url)

/**
 * The resolver for these settings. `client` fetches remote images (up to 3 redirects followed,
 * no trace headers); it is only used when `allowRemote` is on.
 */
export const make = (settings: ImageSettings, client: Option.Option<HttpClient.HttpClient>): Resolver => {
  // No trace headers go to the image's host: it is whatever server the client named.
  const fetcher = Option.map(
    client,
    (client) =>
      client.pipe(HttpClient.followRedirects(3), HttpClient.filterStatusOk, HttpClient.withTracerPropagation(false))
  )
  return {
    settings,
    resolve: (ref) => {
      const url = ref.url.trim()
      if (ref.detail !== null && ref.detail !== undefined && !DETAILS.includes(ref.detail)) {
        return Effect.fail(invalid(`${ref.param}.detail`, "expected \"auto\", \"low\" or \"high\"."))
      }
      if (/^data:/i.test(url)) return fromDataUri({ ...ref, url }, settings)
      if (!isRemote(url)) {
        return Effect.fail(invalid(
          ref.param,
          settings.allowRemote
            ? "expected a data URI (data:image/png;base64,...) or an http(s) URL."
            : "expected a data URI (data:image/png;base64,...)."
        ))
      }
      if (!settings.allowRemote || Option.isNone(fetcher)) {
        return Effect.fail(invalid(
          ref.param,
          "remote image URLs are not allowed on this gateway: send the image as a data URI " +
            "(data:image/png;base64,...), or allow remote images in the gateway config with " +
            "gateway.http.endpoints.chatCompletions.images.allowRemote: true."
        ))
      }
      return fetchImage(fetcher.value, { ...ref, url }, settings)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The current turn
// ---------------------------------------------------------------------------------------------

/** Where the turn being answered starts: after the request's last assistant message. */
export const currentTurnStart = (messages: ReadonlyArray<Wire.Message>): number =>
  messages.findLastIndex((message) => message.role === "assistant") + 1

/** The image parts of the current turn's user messages, in order. */
const refsOf = (messages: ReadonlyArray<Wire.Message>) => {
  const start = currentTurnStart(messages)
  return messages.flatMap((message, i) => {
    if (i < start || message.role !== "user" || !Array.isArray(message.content)) return []
    return message.content.flatMap((part: Wire.ContentPart, j) =>
      "image_url" in part
        ? [{
          message: i,
          part: j,
          ref: typeof part.image_url === "string"
            ? { url: part.image_url, detail: undefined, param: `messages[${i}].content[${j}].image_url` }
            : {
              url: part.image_url.url,
              detail: part.image_url.detail,
              param: `messages[${i}].content[${j}].image_url`
            }
        }]
        : []
    )
  })
}

/**
 * The current turn's user messages that have images, by their index in `messages`: each one's
 * text and images in order, as the model gets them. The count is checked before any image is
 * read or fetched.
 */
export const ofTurn = (
  messages: ReadonlyArray<Wire.Message>,
  resolver: Resolver
): Effect.Effect<ReadonlyMap<number, ReadonlyArray<UserPart>>, InvalidRequest> =>
  Effect.gen(function*() {
    const refs = refsOf(messages)
    if (refs.length === 0) return new Map()
    const { maxCount } = resolver.settings
    const over = refs[maxCount]
    if (over !== undefined) {
      return yield* invalid(
        over.ref.param,
        maxCount === 0
          ? "this gateway takes no images (gateway.http.endpoints.chatCompletions.images.maxCount is 0)."
          : `too many images: the request's current turn has ${refs.length}, the limit is ${maxCount}.`
      )
    }
    const images = yield* Effect.forEach(refs, ({ ref }) => resolver.resolve(ref), { concurrency: 4 })
    const byPart = new Map(refs.map(({ message, part }, k) => [`${message}:${part}`, images[k]!]))
    const result = new Map<number, ReadonlyArray<UserPart>>()
    for (const index of new Set(refs.map((ref) => ref.message))) {
      const content = messages[index]?.content
      if (!Array.isArray(content)) continue
      result.set(
        index,
        content.flatMap((part: Wire.ContentPart, j): ReadonlyArray<UserPart> => {
          if ("text" in part) return [{ type: "text", text: part.text }]
          const image = byPart.get(`${index}:${j}`)
          return image === undefined ? [] : [{ type: "image", image }]
        })
      )
    }
    return result
  })

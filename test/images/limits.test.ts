/**
 * Image limits, over the real loopback gateway with agent `main` on the Chat
 * Completions fake: count, size, type, data URIs that are not, remote URLs refused by default, and
 * with `allowRemote` fetched from a tiny local server (type from the bytes, size enforced while
 * reading, failures and a time limit). Each refusal is a 400 `invalid_request_error` whose `param`
 * names the part, and the provider is never called.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { closedPort } from "../fakes/listen.js"
import { dataUri, GIF, jpeg, PNG } from "../images/fixtures.js"
import { BOUND, chat, invalidRequest } from "../kit/http.js"
import { imagesOf } from "../kit/sent.js"
import { type ImagesInput, Upstream, upstreamGateway } from "../kit/upstream.js"
import { ImageServer } from "./ImageServer.js"

const served = (images: ImagesInput = {}) => Effect.provide(upstreamGateway("openai-completions", { images }))

const image = (url: string) => ({ type: "image_url", image_url: { url } })

/** A request whose one user message is some text and these image parts. */
const withImages = (...urls: ReadonlyArray<string>) => ({
  model: "clawdbot:main",
  messages: [
    { role: "system", content: "Be brief." },
    { role: "user", content: [{ type: "text", text: "Look" }, ...urls.map(image)] }
  ]
})

/** The request is refused with 400 for `param`, and the provider got nothing; the error's message. */
const refused = (body: unknown, param: string) =>
  Effect.gen(function*() {
    const error = yield* invalidRequest(body, param)
    expect(yield* Effect.flatMap(Upstream, (upstream) => upstream.requestCount)).toBe(0)
    return error.message
  })

/** The request is answered, and the provider got these images (media type and bytes). */
const accepted = (body: unknown, images: ReadonlyArray<readonly [string, Uint8Array]>) =>
  Effect.gen(function*() {
    const upstream = yield* Upstream
    yield* upstream.answerText(["Seen."])
    const response = yield* chat(body)
    expect(response.status).toBe(200)
    expect(imagesOf("openai-completions", (yield* upstream.nextRequest).body)).toEqual(
      images.map(([type, bytes]) => ({ image: type, base64: Buffer.from(bytes).toString("base64") }))
    )
  })

describe("image limits", () => {
  it.scopedLive("more images than maxCount: 400 naming the first image past the limit", () =>
    Effect.gen(function*() {
      const png = dataUri("image/png", PNG)
      const message = yield* refused(withImages(png, png, png), "messages[1].content[3].image_url")
      expect(message).toContain("too many images")
      expect(message).toContain("the limit is 2")
    }).pipe(served({ maxCount: 2 })))

  it.scopedLive("maxCount images are fine; older messages' images do not count", () =>
    accepted(
      {
        model: "clawdbot:main",
        messages: [
          { role: "user", content: [image(dataUri("image/png", PNG)), image(dataUri("image/png", PNG))] },
          { role: "assistant", content: "Two cats." },
          { role: "user", content: [image(dataUri("image/gif", GIF)), image(dataUri("image/png", PNG))] }
        ]
      },
      [["image/gif", GIF], ["image/png", PNG]]
    ).pipe(served({ maxCount: 2 })))

  it.scopedLive("maxCount 0 refuses every image and says which setting does it", () =>
    Effect.gen(function*() {
      const message = yield* refused(withImages(dataUri("image/png", PNG)), "messages[1].content[1].image_url")
      expect(message).toContain("images.maxCount is 0")
    }).pipe(served({ maxCount: 0 })))

  it.scopedLive("an image over maxBytes: 400 that states the limit; one at the limit passes", () =>
    Effect.gen(function*() {
      const message = yield* refused(withImages(dataUri("image/jpeg", jpeg(1025))), "messages[1].content[1].image_url")
      expect(message).toContain("larger than the limit of 1024 bytes")
      yield* accepted(withImages(dataUri("image/jpeg", jpeg(1024))), [["image/jpeg", jpeg(1024)]])
    }).pipe(served({ maxBytes: 1024 })))

  it.scopedLive("a type not allowed: 400 listing the allowed types (SVG by default, GIF when only PNG is)", () =>
    Effect.gen(function*() {
      const svg = "data:image/svg+xml;base64," +
        Buffer.from("<svg xmlns=\"http://www.w3.org/2000/svg\"/>").toString("base64")
      const message = yield* refused(withImages(svg), "messages[1].content[1].image_url")
      expect(message).toContain("'image/svg+xml'")
      expect(message).toContain("image/png, image/jpeg, image/gif, image/webp")
      // A data URI that is not base64 is percent-encoded text.
      const plain = `data:image/svg+xml,${encodeURIComponent("<svg xmlns=\"http://www.w3.org/2000/svg\"/>")}`
      expect(yield* refused(withImages(plain), "messages[1].content[1].image_url")).toContain("'image/svg+xml'")
    }).pipe(served()))

  it.scopedLive("allowedTypes narrows the types", () =>
    Effect.gen(function*() {
      const message = yield* refused(
        withImages(dataUri("image/png", PNG), dataUri("image/gif", GIF)),
        "messages[1].content[2].image_url"
      )
      expect(message).toContain("'image/gif'")
      expect(message).toContain("allowed types: image/png.")
    }).pipe(served({ allowedTypes: ["image/png"] })))

  it.scopedLive("the type is the one the bytes show: a PNG labelled JPEG goes to the provider as a PNG", () =>
    accepted(withImages(dataUri("image/jpeg", PNG)), [["image/png", PNG]]).pipe(served()))

  it.scopedLive("base64 in the URL-safe alphabet, unpadded or broken into lines reaches the provider as standard base64", () =>
    Effect.gen(function*() {
      const photo = jpeg(301)
      const standard = photo.toString("base64")
      const urlSafe = standard.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
      const lines = standard.replace(/.{76}/g, "$&\r\n")
      yield* accepted(
        withImages(`data:image/jpeg;base64,${urlSafe}`, `data:image/jpeg;base64,${lines}`),
        [["image/jpeg", photo], ["image/jpeg", photo]]
      )
    }).pipe(served()))

  it.scopedLive("data URIs that are not: no comma, not base64, empty, a bad detail, another scheme", () =>
    Effect.gen(function*() {
      const param = "messages[1].content[1].image_url"
      expect(yield* refused(withImages("data:image/png;base64"), param)).toContain("no ','")
      expect(yield* refused(withImages("data:image/png;base64,%%%not-base64%%%"), param)).toContain("not valid base64")
      // Nine digits: the last one holds no whole byte.
      expect(yield* refused(withImages("data:image/png;base64,iVBORw0KG"), param)).toContain("not valid base64")
      expect(yield* refused(withImages("data:image/png;base64,"), param)).toContain("empty")
      expect(yield* refused(withImages("file:///etc/passwd"), param)).toContain("expected a data URI")
      const badDetail = {
        model: "clawdbot:main",
        messages: [{
          role: "user",
          content: [{ type: "image_url", image_url: { url: dataUri("image/png", PNG), detail: "ultra" } }]
        }]
      }
      expect(yield* refused(badDetail, "messages[0].content[0].image_url.detail")).toContain(
        "\"auto\", \"low\" or \"high\""
      )
    }).pipe(served()))
})

describe("remote images", () => {
  const withServer = (images: ImagesInput, bigSize = 4096) =>
    Effect.provide(Layer.merge(upstreamGateway("openai-completions", { images }), ImageServer.layer({ bigSize })))

  it.scopedLive("are refused by default, with a 400 that says how to allow them, and nothing is fetched", () =>
    Effect.gen(function*() {
      const server = yield* ImageServer
      const message = yield* refused(withImages(`${server.baseUrl}/cat.png`), "messages[1].content[1].image_url")
      expect(message).toContain("remote image URLs are not allowed")
      expect(message).toContain("gateway.http.endpoints.chatCompletions.images.allowRemote: true")
      expect(yield* server.requests).toEqual([])
    }).pipe(withServer({})))

  it.scopedLive("when allowed, are fetched by the gateway, without its credentials or trace headers, and sent as data", () =>
    Effect.gen(function*() {
      const server = yield* ImageServer
      yield* accepted(
        withImages(`${server.baseUrl}/cat.png`, `${server.baseUrl}/photo`, `${server.baseUrl}/moved`),
        // `/photo` is served as application/octet-stream: its bytes say JPEG. `/moved` redirects to the PNG.
        [["image/png", PNG], ["image/jpeg", jpeg(300)], ["image/png", PNG]]
      )
      const requests = yield* server.requests
      expect(requests.map((request) => request.path).sort()).toEqual(["/cat.png", "/cat.png", "/moved", "/photo"])
      for (const request of requests) {
        expect(request.headers.authorization).toBeUndefined()
        expect(request.headers.traceparent).toBeUndefined()
      }
    }).pipe(withServer({ allowRemote: true })))

  it.scopedLive("a type not allowed, fetched, is refused", () =>
    Effect.gen(function*() {
      const server = yield* ImageServer
      const message = yield* refused(withImages(`${server.baseUrl}/drawing.svg`), "messages[1].content[1].image_url")
      expect(message).toContain("'image/svg+xml'")
    }).pipe(withServer({ allowRemote: true })))

  it.scopedLive("too big by its Content-Length: refused", () =>
    Effect.gen(function*() {
      const server = yield* ImageServer
      const message = yield* refused(withImages(`${server.baseUrl}/big.png`), "messages[1].content[1].image_url")
      expect(message).toContain("larger than the limit of 2048 bytes")
    }).pipe(withServer({ allowRemote: true, maxBytes: 2048 })))

  it.scopedLive("too big while reading (no length, no end): refused, and the gateway hangs up", () =>
    Effect.gen(function*() {
      const server = yield* ImageServer
      const message = yield* refused(withImages(`${server.baseUrl}/endless.png`), "messages[1].content[1].image_url")
      expect(message).toContain("larger than the limit of 65536 bytes")
      yield* server.abandoned("/endless.png").pipe(Effect.timeout(BOUND))
    }).pipe(withServer({ allowRemote: true, maxBytes: 65536 })))

  it.scopedLive("a failing fetch is a clear 400: an error status, a server that cannot be reached", () =>
    Effect.gen(function*() {
      const server = yield* ImageServer
      const param = "messages[1].content[1].image_url"
      expect(yield* refused(withImages(`${server.baseUrl}/missing.png`), param)).toContain("answered HTTP 404")
      const port = yield* closedPort
      expect(yield* refused(withImages(`http://127.0.0.1:${port}/cat.png`), param)).toContain("could not be reached")
    }).pipe(withServer({ allowRemote: true })))

  it.scopedLive("a fetch past fetchTimeoutMs is a 400, and the gateway hangs up", () =>
    Effect.gen(function*() {
      const server = yield* ImageServer
      const message = yield* refused(withImages(`${server.baseUrl}/hang.png`), "messages[1].content[1].image_url")
      expect(message).toContain("did not arrive within 100 ms")
      yield* server.abandoned("/hang.png").pipe(Effect.timeout(BOUND))
    }).pipe(withServer({ allowRemote: true, fetchTimeoutMs: 100 })))

  it.scopedLive("the count is checked before anything is fetched", () =>
    Effect.gen(function*() {
      const server = yield* ImageServer
      const url = `${server.baseUrl}/cat.png`
      yield* refused(withImages(url, url, url), "messages[1].content[3].image_url")
      expect(yield* server.requests).toEqual([])
    }).pipe(withServer({ allowRemote: true, maxCount: 2 })))
})

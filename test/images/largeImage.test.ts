/**
 * A large image, sent to the built gateway in a process of its own (`npm run build` first), with
 * agent `main` on the Chat Completions fake: while the image goes to the provider, the gateway
 * goes on answering other requests. Its base64 is passed on as the client sent it, not decoded
 * and encoded again in JavaScript, which held the event loop for seconds.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { ChatCompletionsServer } from "../fakes/ChatCompletionsServer.js"
import { postTo } from "../kit/http.js"
import { requireBuild, startGateway, tempDir, writeConfig } from "../kit/process.js"
import { imagesOf } from "../kit/sent.js"
import { upstreamConfig } from "../kit/upstream.js"
import { dataUri, jpeg } from "./fixtures.js"

requireBuild()

/**
 * The longest a small request may wait while the image is handled. Reading and writing 12 MB of
 * JSON still holds the loop for a few hundred milliseconds (up to about a second here, on two busy
 * cores); encoding the image in JavaScript held it for 7-13 s.
 */
const STALL_BOUND = Duration.seconds(3)

describe("a large image", () => {
  it.scopedLive("other requests are answered at once while a 9 MiB image goes to the provider, whole", () =>
    Effect.gen(function*() {
      const upstream = yield* ChatCompletionsServer
      const dir = yield* tempDir
      const child = yield* startGateway(writeConfig(dir, upstreamConfig("openai-completions", upstream.baseUrl)), dir)

      /** The answer's status, once the whole answer has arrived. */
      const answered = (payload: unknown) =>
        Effect.scoped(
          Effect.flatMap(postTo(child.url, payload), (answer) => Effect.as(answer.text, answer.status))
        )

      const photo = jpeg(9 * 1024 * 1024)
      const image = yield* Effect.fork(answered({
        model: "clawdbot:main",
        messages: [{
          role: "user",
          content: [{ type: "text", text: "What is it?" }, {
            type: "image_url",
            image_url: { url: dataUri("image/jpeg", photo) }
          }]
        }]
      }))
      // Small requests to the agent on echo, one after another, for as long as the image's request runs.
      let slowest = Duration.zero
      do {
        const [took, status] = yield* Effect.timed(
          answered({ model: "clawdbot:beta", messages: [{ role: "user", content: "hi" }] })
        )
        expect(status).toBe(200)
        slowest = Duration.max(slowest, took)
      } while (Option.isNone(yield* Fiber.poll(image)))

      expect(yield* Fiber.join(image)).toBe(200)
      expect(Duration.toMillis(slowest)).toBeLessThan(Duration.toMillis(STALL_BOUND))
      const { body } = yield* upstream.nextRequest
      expect(imagesOf("openai-completions", body)).toEqual([{ image: "image/jpeg", base64: photo.toString("base64") }])
    }).pipe(Effect.provide(ChatCompletionsServer.layer)))
})

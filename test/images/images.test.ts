/**
 * Images end to end, over the real loopback gateway with the live runner on each
 * provider api's fake server: an `image_url` part of the current user turn reaches the provider in
 * its own format with its bytes, media type and place among the text; images of older messages are
 * not sent again but stand as `[image]`; a stored session keeps `[image]`, never the bytes; the
 * official `openai` SDK sends an image; an agent on `echo` ignores images.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { SessionStore } from "../../src/store/SessionStore.js"
import { dataUri, jpeg, PNG } from "../images/fixtures.js"
import { sdk } from "../kit/clients.js"
import { chat, completionBody } from "../kit/http.js"
import { imagesOf, userMessages } from "../kit/sent.js"
import { APIS, Upstream, upstreamGateway } from "../kit/upstream.js"

const PHOTO = jpeg(200)
const pngPart = (detail?: "low" | "high") => ({
  type: "image_url",
  image_url: { url: dataUri("image/png", PNG), ...(detail !== undefined && { detail }) }
})

for (const api of APIS) {
  describe(`images on ${api}`, () => {
    const served = Effect.provide(upstreamGateway(api))

    it.scopedLive("images of the user's message reach the provider in its format, in place among the text", () =>
      Effect.gen(function*() {
        const upstream = yield* Upstream
        yield* upstream.answerText(["A cat and a photo."])
        const response = yield* chat({
          model: "clawdbot:main",
          messages: [{
            role: "user",
            content: [
              { type: "text", text: "Compare" },
              pngPart("low"),
              { type: "text", text: "with" },
              { type: "image_url", image_url: dataUri("image/jpeg", PHOTO) }
            ]
          }]
        })
        expect(response.status).toBe(200)
        expect((yield* completionBody(response)).choices[0]?.message.content).toBe("A cat and a photo.")
        const [message, ...others] = userMessages(api, (yield* upstream.nextRequest).body)
        expect(others).toEqual([])
        // OpenAI's detail reaches the OpenAI apis (the Responses library sends "auto" when none is given).
        const detail = (given: string | undefined) => {
          switch (api) {
            case "anthropic-messages":
              return {}
            case "openai-responses":
              return { detail: given ?? "auto" }
            case "openai-completions":
              return given === undefined ? {} : { detail: given }
          }
        }
        expect(message).toEqual([
          { text: "Compare" },
          { image: "image/png", base64: PNG.toString("base64"), ...detail("low") },
          { text: "with" },
          { image: "image/jpeg", base64: PHOTO.toString("base64"), ...detail(undefined) }
        ])
      }).pipe(served))

    it.scopedLive("streamed too, and the official openai SDK's image request gets the model's answer", () =>
      Effect.gen(function*() {
        const upstream = yield* Upstream
        yield* upstream.answerText(["It is ", "a cat."])
        const openai = yield* sdk()
        const stream = yield* Effect.promise(() =>
          openai.chat.completions.create({
            model: "clawdbot:main",
            stream: true,
            messages: [{
              role: "user",
              content: [{ type: "text", text: "What is this?" }, {
                type: "image_url",
                image_url: { url: dataUri("image/png", PNG) }
              }]
            }]
          })
        )
        const text = yield* Effect.promise(async () => {
          let text = ""
          for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
          return text
        })
        expect(text).toBe("It is a cat.")
        expect(imagesOf(api, (yield* upstream.nextRequest).body)).toEqual([
          expect.objectContaining({ image: "image/png", base64: PNG.toString("base64") })
        ])
      }).pipe(served))

    it.scopedLive("images of older messages are not sent again: the model sees [image] where they were", () =>
      Effect.gen(function*() {
        const upstream = yield* Upstream
        yield* upstream.answerText(["Yes."])
        const response = yield* chat({
          model: "clawdbot:main",
          messages: [
            { role: "user", content: [{ type: "text", text: "Look:" }, pngPart()] },
            { role: "assistant", content: "A cat." },
            {
              role: "user",
              content: [{ type: "text", text: "And this?" }, {
                type: "image_url",
                image_url: dataUri("image/jpeg", PHOTO)
              }]
            }
          ]
        })
        expect(response.status).toBe(200)
        const body = (yield* upstream.nextRequest).body
        const [older, current] = userMessages(api, body)
        expect(older).toEqual([{ text: "Look:\n[image]" }])
        expect(current).toEqual([
          { text: "And this?" },
          expect.objectContaining({ image: "image/jpeg", base64: PHOTO.toString("base64") })
        ])
      }).pipe(served))
  })
}

describe("images in stored sessions", () => {
  const served = Effect.provide(upstreamGateway("openai-completions"))

  it.scopedLive("the transcript keeps [image], not the bytes, and later turns show the model [image]", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      const store = yield* SessionStore
      const user = "image-user"
      yield* upstream.answerText(["A cat."])
      const first = yield* chat({
        model: "clawdbot:main",
        user,
        messages: [{ role: "user", content: [{ type: "text", text: "What is this?" }, pngPart()] }]
      })
      expect(first.status).toBe(200)
      expect(imagesOf("openai-completions", (yield* upstream.nextRequest).body)).toHaveLength(1)

      const transcript = yield* store.load("agent:main:openai-user:image-user", 100)
      expect(transcript.map((message) => [message.role, message.content])).toEqual([
        ["user", "What is this?\n[image]"],
        ["assistant", "A cat."]
      ])
      expect(JSON.stringify(transcript)).not.toContain(PNG.toString("base64"))

      yield* upstream.answerText(["Grey."])
      const second = yield* chat({
        model: "clawdbot:main",
        user,
        messages: [{ role: "user", content: "What colour is it?" }]
      })
      expect(second.status).toBe(200)
      const body = (yield* upstream.nextRequest).body
      expect(userMessages("openai-completions", body)).toEqual([
        [{ text: "What is this?\n[image]" }],
        [{ text: "What colour is it?" }]
      ])
      expect(imagesOf("openai-completions", body)).toEqual([])
    }).pipe(served))
})

describe("images for an agent on echo", () => {
  it.scopedLive("are ignored: not read, not fetched, not limited; the echo answers the text", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      const response = yield* chat({
        model: "clawdbot:beta",
        messages: [{
          role: "user",
          content: [
            { type: "text", text: "just text" },
            { type: "image_url", image_url: "https://images.example/cat.png" },
            { type: "image_url", image_url: "data:image/png;base64,not base64!" }
          ]
        }]
      })
      expect(response.status).toBe(200)
      expect((yield* completionBody(response)).choices[0]?.message.content).toBe("just text")
      expect(yield* upstream.requestCount).toBe(0)
    }).pipe(Effect.provide(upstreamGateway("openai-completions", { images: { maxCount: 0 } }))))
})

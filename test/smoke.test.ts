/** The kit's in-process gateway, reached with the Effect HttpClient it provides. */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { testGateway, TOKEN } from "./kit/gateway.js"

describe("the test kit's gateway", () => {
  it.scopedLive("answers a chat completion over loopback, to Effect's HttpClient aimed at it", () =>
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const response = yield* client.execute(
        HttpClientRequest.post("/v1/chat/completions").pipe(
          HttpClientRequest.bearerToken(TOKEN),
          HttpClientRequest.bodyUnsafeJson({ model: "clawdbot:main", messages: [{ role: "user", content: "hi you" }] })
        )
      )
      expect(response.status).toBe(200)
      const body = yield* response.json
      expect(body).toMatchObject({ choices: [{ message: { content: "hi you" } }] })
    }).pipe(Effect.provide(testGateway())))
})

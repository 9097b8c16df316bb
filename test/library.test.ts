/**
 * The README's embedding example, through the package's entry point: an app serves
 * `Gateway.layer` with its own AgentRunner on its own HttpServer.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Stream from "effect/Stream"
import { AgentEvent, AgentRunner, Config, Gateway } from "../src/index.js"

const MyRunner = Layer.succeed(
  AgentRunner,
  AgentRunner.fromStream(() =>
    Stream.make(
      AgentEvent.TextDelta({ text: "hello" }),
      AgentEvent.Finish({ reason: "stop" })
    )
  )
)

const config = Config.layerFrom({
  gateway: { http: { endpoints: { chatCompletions: { enabled: true } } }, auth: { token: "s3cret" } },
  session: { store: { path: ":memory:" } }
})

describe("clawgate as a library", () => {
  it.scopedLive("Gateway.layer serves an app's own runner on the app's server", () =>
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const response = yield* client.execute(
        HttpClientRequest.post("/v1/chat/completions").pipe(
          HttpClientRequest.bearerToken("s3cret"),
          HttpClientRequest.bodyUnsafeJson({ model: "clawdbot:main", messages: [{ role: "user", content: "hi" }] })
        )
      )
      expect(response.status).toBe(200)
      expect(yield* response.json).toMatchObject({
        choices: [{ message: { content: "hello" }, finish_reason: "stop" }]
      })
    }).pipe(
      Effect.provide(
        Gateway.layer(config, { runner: MyRunner }).pipe(
          Layer.provideMerge(NodeHttpServer.layerTest),
          Layer.provide(NodeContext.layer),
          Layer.provide(Logger.minimumLogLevel(LogLevel.None))
        )
      )
    ))
})

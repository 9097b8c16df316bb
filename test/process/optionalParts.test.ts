/**
 * The shipped command (`dist/bin/main.js`, bundled by scripts/bundle.mjs) with each optional part
 * on. Each part is a chunk the bundle loads on demand, which the in-process tests of
 * `Gateway.layer` never load: here a child process serves a config with the part on, and a request
 * shows the part working. `npm test` builds dist/ first; alone, run `npm run build`.
 */
import { describe, expect, it, vi } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { otlpCollector } from "../fakes/OtlpCollector.js"
import { PNG } from "../images/fixtures.js"
import { ImageServer } from "../images/ImageServer.js"
import { baseConfig } from "../kit/gateway.js"
import { askTo, userSays } from "../kit/http.js"
import { requireBuild, startGateway, tempDir, writeConfig } from "../kit/process.js"
import { imagesOf } from "../kit/sent.js"
import { APIS, Upstream, upstreamConfig, upstreamLayer } from "../kit/upstream.js"
import { freshSchema } from "../replicas/pg.js"

requireBuild()

// Each test starts the gateway as a process: seconds on a busy machine.
vi.setConfig({ testTimeout: 60_000 })

/** How long starting the process, or something it should do at once, may take on a busy machine. */
const BOUND = "30 seconds"

/** `clawgate serve` on `config`, written as a file into a temporary folder that is its HOME. */
const serve = (config: ConfigInput) =>
  Effect.flatMap(tempDir, (dir) => startGateway(writeConfig(dir, config), dir, { bound: BOUND }))

describe("the built command with an optional part on", () => {
  it.scopedLive("with metrics on, GET /metrics counts the request it has just answered", () =>
    Effect.gen(function*() {
      const gateway = yield* serve({ ...baseConfig, gateway: { ...baseConfig.gateway, metrics: { enabled: true } } })
      expect((yield* askTo(gateway.url, userSays("count me"))).status).toBe(200)

      const metrics = yield* Effect.promise(() => fetch(`${gateway.url}/metrics`))
      expect(metrics.status).toBe(200)
      expect(metrics.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/)
      expect(yield* Effect.promise(() => metrics.text())).toMatch(
        /^clawgate_http_requests_total\{route="\/v1\/chat\/completions",status="200",agent="main"\} 1$/m
      )
    }))

  it.scopedLive("with an OTLP endpoint, the spans of a request reach the collector", () =>
    Effect.gen(function*() {
      const collector = yield* otlpCollector
      const gateway = yield* serve({
        ...baseConfig,
        telemetry: { serviceName: "clawgate-process-test", otlp: { endpoint: collector.endpoint, batchDelayMs: 50 } }
      })
      expect((yield* askTo(gateway.url, userSays("trace me"))).status).toBe(200)

      const exported = yield* collector.untilSpan("http.server POST").pipe(Effect.timeout(BOUND))
      expect(exported.path).toBe("POST /v1/traces")
      expect(exported.service).toBe("clawgate-process-test")
    }))

  it.scopedLive("with the PostgreSQL store, a session's turns are stored in the database and kept across requests", () =>
    Effect.gen(function*() {
      const schema = yield* freshSchema
      const gateway = yield* serve({ ...baseConfig, session: { store: { kind: "postgres", url: schema.url } } })
      const first = yield* askTo(gateway.url, userSays("first words", { user: "ada" }))
      const second = yield* askTo(gateway.url, userSays("second words", { user: "ada" }))

      expect([first.status, second.status]).toEqual([200, 200])
      expect(second.header("x-clawdbot-session-key")).toBe(first.header("x-clawdbot-session-key"))
      expect(yield* schema.transcript(first.header("x-clawdbot-session-key") ?? "")).toEqual([
        { role: "user", content: "first words" },
        { role: "assistant", content: "first words" },
        { role: "user", content: "second words" },
        { role: "assistant", content: "second words" }
      ])
    }))

  for (const api of APIS) {
    it.scopedLive(`an agent on a provider of api ${api} answers through it`, () =>
      Effect.gen(function*() {
        const upstream = yield* Upstream
        const gateway = yield* serve(upstreamConfig(api, upstream.baseUrl))
        yield* upstream.answerText(["Hello ", "from ", api], { finish: "stop", inputTokens: 3, outputTokens: 4 })

        const answer = yield* askTo(gateway.url, userSays("hi"))
        expect(answer.status).toBe(200)
        expect(answer.json).toMatchObject({
          choices: [{ message: { role: "assistant", content: `Hello from ${api}` }, finish_reason: "stop" }],
          usage: { prompt_tokens: 3, completion_tokens: 4 }
        })
      }).pipe(Effect.provide(upstreamLayer(api))))
  }

  it.scopedLive("with remote images allowed, an image URL is fetched and its bytes reach the provider", () =>
    Effect.gen(function*() {
      const images = yield* ImageServer
      const upstream = yield* Upstream
      const gateway = yield* serve(upstreamConfig(upstream.api, upstream.baseUrl, { images: { allowRemote: true } }))

      const answer = yield* askTo(gateway.url, {
        model: "clawdbot:main",
        messages: [{
          role: "user",
          content: [{ type: "text", text: "What is this?" }, {
            type: "image_url",
            image_url: { url: `${images.baseUrl}/cat.png` }
          }]
        }]
      })
      expect(answer.status).toBe(200)
      expect((yield* images.requests).map((request) => request.path)).toEqual(["/cat.png"])
      expect(imagesOf(upstream.api, (yield* upstream.nextRequest).body)).toEqual([
        { image: "image/png", base64: PNG.toString("base64") }
      ])
    }).pipe(Effect.provide([upstreamLayer("openai-completions"), ImageServer.layer()])))
})

/**
 * Provider faults as a client of the gateway sees them, for an agent on each
 * provider api (the live runner against a fake provider server on loopback): unreachable, the
 * provider refusing the gateway's key, rate limiting with its Retry-After, 5xx retried only before
 * the first token and only a bounded number of times, mid-stream failures in-band, no first token
 * in time; the upstream request closed within a second of the client leaving; and the provider's
 * own error text in the gateway's log, never in the answer.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import { closedPort } from "../fakes/listen.js"
import { testGateway } from "../kit/gateway.js"
import { chat, completionBody, errorBody, hello, openChat } from "../kit/http.js"
import { capturingLogs, type LogEntry, nextRequestLine } from "../kit/logs.js"
import { sseReader } from "../kit/sse.js"
import {
  against,
  type Api,
  APIS,
  PROVIDER,
  PROVIDER_KEY,
  type Setup,
  Upstream,
  upstreamConfig,
  upstreamGateway
} from "../kit/upstream.js"
import { chunkOf, dataOf, ErrorBody, isContent, isError } from "../kit/wire.js"

/** The same, with the gateway's log entries going to a queue the body reads. */
const withLogs = <A, E, R>(api: Api, body: (entries: Queue.Dequeue<LogEntry>) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    capturingLogs,
    (logs) => body(logs.entries).pipe(Effect.scoped, Effect.provide(upstreamGateway(api, { logs: logs.layer })))
  )

const decodeError = Schema.decodeUnknownSync(ErrorBody)

/** How long the upstream request may stay open once the gateway has no use for it. */
const CLOSE_BOUND = "1 second"

/** Waits until the upstream connection is closed, failing the test past one second. */
const closedWithinASecond = (closed: Effect.Effect<void>) =>
  closed.pipe(
    Effect.timeoutFail({
      duration: CLOSE_BOUND,
      onTimeout: () => new Error("the upstream request was still open a second after the client left")
    })
  )

/** A streamed request's events, read to the end. */
const streamEvents = (extra: Record<string, unknown> = {}) =>
  Effect.gen(function*() {
    const { response } = yield* openChat(hello({ stream: true, ...extra }))
    expect(response.status).toBe(200)
    return { response, events: yield* sseReader(response).rest }
  })

const contentsOf = (events: ReadonlyArray<string>) =>
  events.filter(isContent).map((event) => chunkOf(event).choices[0]?.delta.content)

/** A small first-token timeout, so waiting for it stays short. */
const QUICK_TIMEOUT: Setup = { agent: { firstTokenTimeoutMs: 300 } }

for (const api of APIS) {
  describe(`provider faults, agent on ${api}`, () => {
    it.scopedLive("connection refused: 502 provider_unreachable, as JSON and for a stream", () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        yield* Effect.gen(function*() {
          const json = yield* chat(hello())
          expect(json.status).toBe(502)
          expect((yield* errorBody(json)).error).toMatchObject({ type: "server_error", code: "provider_unreachable" })

          // Nothing was streamed yet, so the stream gets a real status too.
          const stream = yield* chat(hello({ stream: true }))
          expect(stream.status).toBe(502)
          expect((yield* errorBody(stream)).error.code).toBe("provider_unreachable")
        }).pipe(Effect.provide(testGateway({ config: upstreamConfig(api, `http://127.0.0.1:${port}/v1`) })))
      }))

    it.scopedLive("the provider closing the connection after its 200, before any text: 502 provider_error (it was reached)", () =>
      against(
        api,
        Effect.gen(function*() {
          const upstream = yield* Upstream
          for (const stream of [false, true]) {
            yield* upstream.answerCutAfterHead
            const response = yield* chat(hello({ stream }))
            expect(response.status).toBe(502)
            expect((yield* errorBody(response)).error).toMatchObject({ type: "server_error", code: "provider_error" })
          }
        }),
        { provider: { retry: { attempts: 0 } } }
      ))

    for (const status of [401, 403]) {
      it.scopedLive(`provider ${status}: 502 provider_auth_rejected, without the provider's key or message, no retry`, () =>
        against(
          api,
          Effect.gen(function*() {
            const upstream = yield* Upstream
            const said = `Incorrect API key provided: ${PROVIDER_KEY}`
            yield* upstream.answerStatus(status, { message: said })
            const response = yield* chat(hello())
            expect(response.status).toBe(502)
            const raw = yield* Effect.promise(() => response.text())
            expect(decodeError(JSON.parse(raw)).error).toMatchObject({
              type: "server_error",
              code: "provider_auth_rejected"
            })
            expect(raw).not.toContain(PROVIDER_KEY)
            expect(raw).not.toContain("Incorrect API key")
            // The key did reach the provider: it is the provider that refused it.
            const request = yield* upstream.nextRequest
            expect(Object.values(request.headers).join(" ")).toContain(PROVIDER_KEY)
            expect(yield* upstream.requestCount).toBe(1)
          })
        ))
    }

    it.scopedLive("provider 429 with Retry-After: 7 gives 429 provider_rate_limited with Retry-After: 7", () =>
      against(
        api,
        Effect.gen(function*() {
          const upstream = yield* Upstream
          yield* upstream.answerStatus(429, { retryAfter: "7", message: "slow down" })
          const response = yield* chat(hello())
          expect(response.status).toBe(429)
          expect(response.headers.get("retry-after")).toBe("7")
          expect((yield* errorBody(response)).error.code).toBe("provider_rate_limited")
          expect(yield* upstream.requestCount).toBe(1)
        })
      ))

    for (const stream of [false, true]) {
      const form = stream ? "stream" : "JSON"

      it.scopedLive(`${form}: a provider 500 is retried, and the retry's success is the answer (2 upstream requests)`, () =>
        against(
          api,
          Effect.gen(function*() {
            const upstream = yield* Upstream
            yield* upstream.answerStatus(500)
            yield* upstream.answerText(["second", " time"], { finish: "stop", inputTokens: 3, outputTokens: 2 })
            if (stream) {
              const { events, response } = yield* streamEvents()
              expect(response.status).toBe(200)
              expect(contentsOf(events)).toEqual(["second", " time"])
              expect(events.filter(isError)).toEqual([])
            } else {
              const response = yield* chat(hello())
              expect(response.status).toBe(200)
              expect((yield* completionBody(response)).choices[0]?.message.content).toBe("second time")
            }
            expect(yield* upstream.requestCount).toBe(2)
          })
        ))

      it.scopedLive(`${form}: three 500s with retry attempts 2 give 502 provider_error after exactly 3 requests`, () =>
        against(
          api,
          Effect.gen(function*() {
            const upstream = yield* Upstream
            yield* upstream.answerStatus(500)
            yield* upstream.answerStatus(500)
            yield* upstream.answerStatus(500)
            // A fourth request would be answered with text: the answer shows there was none.
            yield* upstream.answerText(["too", " late"], { finish: "stop", inputTokens: 1, outputTokens: 2 })
            const response = yield* chat(hello({ stream }))
            expect(response.status).toBe(502)
            expect((yield* errorBody(response)).error).toMatchObject({ type: "server_error", code: "provider_error" })
            expect(yield* upstream.requestCount).toBe(3)
          }),
          { provider: { retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 10 } } }
        ))
    }

    it.scopedLive("a stream that fails after its first piece: the piece, then the in-band error, and no retry", () =>
      against(
        api,
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const said = "upstream melted down at row 42"
          yield* upstream.answerFailAfter("Partial", said)
          const { events, response } = yield* streamEvents()
          expect(response.status).toBe(200)
          expect(contentsOf(events)).toEqual(["Partial"])
          const errors = events.filter(isError)
          expect(errors).toHaveLength(1)
          const inBand = decodeError(dataOf(errors[0] ?? ""))
          expect(inBand.error).toMatchObject({ type: "server_error", code: "provider_error" })
          expect(events.join("\n")).not.toContain(said)
          expect(events.at(-1)).toBe("data: [DONE]")
          expect(yield* upstream.requestCount).toBe(1)
        })
      ))

    it.scopedLive("JSON: no first token within firstTokenTimeoutMs gives 504 provider_timeout and closes the upstream", () =>
      against(
        api,
        Effect.gen(function*() {
          const upstream = yield* Upstream
          yield* upstream.answerNothing
          const response = yield* chat(hello())
          expect(response.status).toBe(504)
          expect((yield* errorBody(response)).error).toMatchObject({ type: "server_error", code: "provider_timeout" })
          yield* closedWithinASecond((yield* upstream.nextRequest).closed)
        }),
        QUICK_TIMEOUT
      ))

    it.scopedLive("stream: no first token within firstTokenTimeoutMs gives 504 provider_timeout before any content", () =>
      against(
        api,
        Effect.gen(function*() {
          const upstream = yield* Upstream
          // The provider's stream is open (200 and its opening events) but no text comes.
          yield* upstream.answerOpenSilent
          const response = yield* chat(hello({ stream: true }))
          expect(response.status).toBe(504)
          expect((yield* errorBody(response)).error.code).toBe("provider_timeout")
          yield* closedWithinASecond((yield* upstream.nextRequest).closed)
          expect(yield* upstream.requestCount).toBe(1)
        }),
        QUICK_TIMEOUT
      ))

    it.scopedLive("a client that leaves a stream mid-answer: the upstream request is closed within a second", () =>
      against(
        api,
        Effect.gen(function*() {
          const upstream = yield* Upstream
          yield* upstream.answerHangAfter("Once")
          const { abort, response } = yield* openChat(hello({ stream: true }))
          expect(response.status).toBe(200)
          const head = yield* sseReader(response).until(isContent)
          expect(contentsOf(head)).toEqual(["Once"])
          const request = yield* upstream.nextRequest
          abort()
          yield* closedWithinASecond(request.closed)
        })
      ))

    it.scopedLive("a client that leaves a JSON request waiting on the provider: the upstream request is closed within a second", () =>
      against(
        api,
        Effect.gen(function*() {
          const upstream = yield* Upstream
          yield* upstream.answerNothing
          const controller = new AbortController()
          yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
          const pending = yield* Effect.fork(chat(hello(), { signal: controller.signal }))
          // The gateway is waiting on the provider.
          const request = yield* upstream.nextRequest
          controller.abort()
          yield* closedWithinASecond(request.closed)
          yield* Fiber.await(pending)
        })
      ))

    it.scopedLive("the provider's error text goes to the gateway's log line, never to the client", () =>
      withLogs(api, (entries) =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const said = "shard 7 exploded: quota db unreachable"
          yield* upstream.answerStatus(500, { message: said })
          yield* upstream.answerStatus(500, { message: said })
          yield* upstream.answerStatus(500, { message: said })
          const response = yield* chat(hello())
          expect(response.status).toBe(502)
          const raw = yield* Effect.promise(() => response.text())
          expect(raw).not.toContain(said)

          const line = yield* nextRequestLine(entries)
          expect(line.annotations).toMatchObject({ status: 502, error: "ProviderFailed", provider: PROVIDER })
          expect(line.text).toContain(said)

          // The same for a failure in-band, after the answer started.
          const midStream = "replica lost its lease mid-answer"
          yield* upstream.answerFailAfter("Hi", midStream)
          const streamed = yield* streamEvents()
          expect(streamed.events.join("\n")).not.toContain(midStream)
          const streamLine = yield* nextRequestLine(entries)
          expect(streamLine.annotations).toMatchObject({ status: 200, error: "ProviderFailed" })
          expect(streamLine.text).toContain(midStream)
        })))
  })
}

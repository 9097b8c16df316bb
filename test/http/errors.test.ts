/**
 * Agent failures mapped to statuses, 5xx bodies with no internals (only
 * `internal error` and the request id), `x-request-id` on 5xx answers, and the one log line per
 * request (method, path, status, agent, duration, error tag) that never carries the bearer secret.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { type AgentRunner } from "../../src/agent/AgentRunner.js"
import { AgentEvent } from "../../src/domain/AgentEvent.js"
import type { AgentError } from "../../src/domain/Errors.js"
import {
  ProviderAuthRejected,
  ProviderFailed,
  ProviderRateLimited,
  ProviderTimeout,
  ProviderUnreachable
} from "../../src/domain/Errors.js"
import { FakeAgentRunner } from "../../src/testing.js"
import { baseConfig, configWith, testGateway } from "../kit/gateway.js"
import { BOUND, chat, errorBody, hello, PATH, send, text } from "../kit/http.js"
import { capturingLogs, type LogEntry, nextRequestLine } from "../kit/logs.js"
import { eventsOf } from "../kit/sse.js"
import { dataOf, ErrorBody, isError } from "../kit/wire.js"

const SECRET = "sk-upstream-9f8e7d6c5b4a"

const cases: ReadonlyArray<{
  readonly error: AgentError
  readonly status: number
  readonly type: string
  readonly code: string
  readonly retryAfter?: string
}> = [
  {
    error: new ProviderUnreachable({ provider: "openai", cause: new Error(`connect ECONNREFUSED with ${SECRET}`) }),
    status: 502,
    type: "server_error",
    code: "provider_unreachable"
  },
  {
    error: new ProviderAuthRejected({ provider: "openai" }),
    status: 502,
    type: "server_error",
    code: "provider_auth_rejected"
  },
  {
    error: new ProviderFailed({ provider: "openai", detail: `500 from upstream: invalid key ${SECRET}` }),
    status: 502,
    type: "server_error",
    code: "provider_error"
  },
  {
    error: new ProviderTimeout({ provider: "openai", timeoutMs: 30_000 }),
    status: 504,
    type: "server_error",
    code: "provider_timeout"
  },
  {
    error: new ProviderRateLimited({ provider: "openai", retryAfterSeconds: 12 }),
    status: 429,
    type: "rate_limited",
    code: "provider_rate_limited",
    retryAfter: "12"
  },
  {
    error: new ProviderRateLimited({ provider: "openai", retryAfterSeconds: 0.2 }),
    status: 429,
    type: "rate_limited",
    code: "provider_rate_limited",
    retryAfter: "1"
  }
]

describe("agent failures on a plain request", () => {
  for (const { code, error, retryAfter, status, type } of cases) {
    it.scopedLive(`${error._tag} (${code}) answers ${status} ${type}${retryAfter ? ` with Retry-After ${retryAfter}` : ""}`, () =>
      Effect.gen(function*() {
        const response = yield* chat(hello())
        expect(response.status).toBe(status)
        const requestId = response.headers.get("x-request-id")
        expect(requestId).toMatch(/^\S+$/)
        const raw = yield* text(response)
        const body = Schema.decodeUnknownSync(Schema.parseJson(ErrorBody))(raw)
        expect(body.error).toMatchObject({ type, code, param: null })
        if (retryAfter !== undefined) expect(response.headers.get("retry-after")).toBe(retryAfter)
        if (status >= 500) expect(body.error.message).toContain(`(request id ${requestId})`)
        // Provider text and causes are for the log only.
        expect(raw).not.toContain(SECRET)
        expect(raw).not.toContain("upstream")
        expect(raw).not.toContain("ECONNREFUSED")
      }).pipe(Effect.provide(testGateway({ runner: FakeAgentRunner.layerFailing(error) }))))
  }
})

/** A runner that dies (a defect, not a typed failure) with something secret-looking in the message. */
const dyingRunner = FakeAgentRunner.layer(() =>
  Stream.die(new Error(`database password=${SECRET} at /srv/internal/runner.ts:42`))
)

/** Says something, then dies. */
const dyingAfterContentRunner = FakeAgentRunner.layer(() =>
  Stream.make(AgentEvent.TextDelta({ text: "partial" })).pipe(
    Stream.concat(Stream.die(new Error(`database password=${SECRET}`)))
  )
)

const expectInternal = (raw: string, requestId: string | null) => {
  const body = Schema.decodeUnknownSync(Schema.parseJson(ErrorBody))(raw)
  expect(body.error).toEqual({
    message: `internal error (request id ${requestId})`,
    type: "server_error",
    param: null,
    code: "internal_error"
  })
}

describe("defects answer 500 without internals", () => {
  it.scopedLive("a run that dies answers 500 internal error with the request id, and nothing else", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello())
      expect(response.status).toBe(500)
      const requestId = response.headers.get("x-request-id")
      expect(requestId).toMatch(/^\S+$/)
      const raw = yield* text(response)
      expectInternal(raw, requestId)
      expect(raw).not.toContain(SECRET)
      expect(raw).not.toContain("password")
      expect(raw).not.toContain("runner.ts")
    }).pipe(Effect.provide(testGateway({ runner: dyingRunner }))))

  it.scopedLive("a stream whose run dies before content answers 500 the same way", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello({ stream: true }))
      expect(response.status).toBe(500)
      const raw = yield* text(response)
      expectInternal(raw, response.headers.get("x-request-id"))
      expect(raw).not.toContain(SECRET)
    }).pipe(Effect.provide(testGateway({ runner: dyingRunner }))))

  it.scopedLive("a stream whose run dies after content gets an in-band internal error, then [DONE]", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello({ stream: true }))
      expect(response.status).toBe(200)
      const raw = yield* text(response)
      expect(raw).not.toContain(SECRET)
      const events = eventsOf(raw)
      expect(events.at(-1)).toBe("data: [DONE]")
      const errorEvent = events.at(-2) ?? ""
      expect(isError(errorEvent)).toBe(true)
      expectInternal(JSON.stringify(dataOf(errorEvent)), response.headers.get("x-request-id"))
    }).pipe(Effect.provide(testGateway({ runner: dyingAfterContentRunner }))))

  it.scopedLive("a runner whose `complete` throws is a defect too", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello())
      expect(response.status).toBe(500)
      const raw = yield* text(response)
      expectInternal(raw, response.headers.get("x-request-id"))
      expect(raw).not.toContain(SECRET)
    }).pipe(Effect.provide(testGateway({
      runner: FakeAgentRunner.layer(() =>
        Stream.fromEffect(Effect.sync((): AgentEvent => {
          throw new Error(`boom ${SECRET}`)
        }))
      )
    }))))
})

describe("the request log", () => {
  const GATEWAY_SECRET = "gw-secret-5a4b3c2d1e0f"
  const WRONG_SECRET = "gw-wrong-0f1e2d3c4b5a"
  const config = configWith({
    gateway: {
      ...baseConfig.gateway,
      auth: { mode: "token", token: GATEWAY_SECRET, rateLimit: { exemptLoopback: false } }
    }
  })

  /** Runs `body` against a gateway whose log entries are captured. */
  const withLogs = <A, E, R>(
    body: (entries: Queue.Dequeue<LogEntry>) => Effect.Effect<A, E, R>,
    options: { readonly runner?: Layer.Layer<AgentRunner> } = {}
  ) =>
    Effect.gen(function*() {
      const logs = yield* capturingLogs
      return yield* body(logs.entries).pipe(
        Effect.provide(testGateway({ config, logs: logs.layer, ...options }))
      )
    })

  const fields = (entry: LogEntry) => entry.annotations

  it.scopedLive("one line per request: request id, method, path, status, agent, duration, error tag", () =>
    withLogs((entries) =>
      Effect.gen(function*() {
        const ok = yield* chat(hello({ model: "clawdbot:beta" }), { token: GATEWAY_SECRET })
        expect(ok.status).toBe(200)
        const okLine = yield* nextRequestLine(entries).pipe(Effect.timeout(BOUND))
        expect(okLine.level).toBe("INFO")
        expect(fields(okLine)).toMatchObject({
          requestId: ok.headers.get("x-request-id"),
          method: "POST",
          path: PATH,
          status: 200,
          agent: "beta",
          error: "-"
        })
        expect(typeof fields(okLine).durationMs).toBe("number")

        const bad = yield* send(`${PATH}?debug=1`, { body: hello({ temperature: 9 }), token: GATEWAY_SECRET })
        expect(bad.status).toBe(400)
        expect(fields(yield* nextRequestLine(entries).pipe(Effect.timeout(BOUND)))).toMatchObject({
          requestId: bad.headers.get("x-request-id"),
          path: PATH,
          status: 400,
          error: "InvalidRequest"
        })

        const missing = yield* send("/v1/nothing", { method: "GET", token: null })
        expect(fields(yield* nextRequestLine(entries).pipe(Effect.timeout(BOUND)))).toMatchObject({
          requestId: missing.headers.get("x-request-id"),
          method: "GET",
          path: "/v1/nothing",
          status: 404,
          agent: "-",
          error: "RouteNotFound"
        })

        const wrongMethod = yield* send(PATH, { method: "DELETE", token: null })
        expect(fields(yield* nextRequestLine(entries).pipe(Effect.timeout(BOUND)))).toMatchObject({
          requestId: wrongMethod.headers.get("x-request-id"),
          method: "DELETE",
          status: 405,
          error: "MethodNotAllowed"
        })

        const unknownAgent = yield* chat(hello({ model: "clawdbot:ghost" }), { token: GATEWAY_SECRET })
        expect(fields(yield* nextRequestLine(entries).pipe(Effect.timeout(BOUND)))).toMatchObject({
          requestId: unknownAgent.headers.get("x-request-id"),
          status: 404,
          error: "AgentNotFound"
        })
      })
    ))

  it.scopedLive("a stream is logged once, when it ends, with its in-band error tag", () =>
    withLogs(
      (entries) =>
        Effect.gen(function*() {
          const streamed = yield* chat(hello({ stream: true }), { token: GATEWAY_SECRET })
          expect(streamed.status).toBe(200)
          expect(yield* text(streamed)).toContain("data: [DONE]")
          const plain = yield* chat({ messages: [] }, { token: GATEWAY_SECRET })
          expect(plain.status).toBe(400)
          // The stream's line may come before or after the plain request's: take both.
          const lines = [
            yield* nextRequestLine(entries).pipe(Effect.timeout(BOUND)),
            yield* nextRequestLine(entries).pipe(Effect.timeout(BOUND))
          ]
          const byId = new Map(lines.map((line) => [fields(line).requestId, fields(line)]))
          expect(byId.size).toBe(2)
          expect(byId.get(streamed.headers.get("x-request-id"))).toMatchObject({
            status: 200,
            agent: "main",
            error: "ProviderFailed"
          })
          expect(byId.get(plain.headers.get("x-request-id"))).toMatchObject({ status: 400 })

          // No second line for the stream: the next line is the next request's.
          const next = yield* send("/x", { method: "GET" })
          expect(fields(yield* nextRequestLine(entries).pipe(Effect.timeout(BOUND))).requestId)
            .toBe(next.headers.get("x-request-id"))
        }),
      { runner: FakeAgentRunner.layerFailingAfter("some words", new ProviderFailed({ provider: "p", detail: "d" })) }
    ))

  it.scopedLive("a 5xx is logged at error level with its error tag", () =>
    withLogs(
      (entries) =>
        Effect.gen(function*() {
          const response = yield* chat(hello(), { token: GATEWAY_SECRET })
          expect(response.status).toBe(502)
          const line = yield* nextRequestLine(entries).pipe(Effect.timeout(BOUND))
          expect(line.level).toBe("ERROR")
          expect(fields(line)).toMatchObject({ status: 502, error: "ProviderUnreachable", agent: "main" })
        }),
      { runner: FakeAgentRunner.layerFailing(new ProviderUnreachable({ provider: "openai" })) }
    ))

  it.scopedLive("a defect is logged with the tag Defect and answered 500", () =>
    withLogs(
      (entries) =>
        Effect.gen(function*() {
          const response = yield* chat(hello(), { token: GATEWAY_SECRET })
          expect(response.status).toBe(500)
          const line = yield* nextRequestLine(entries).pipe(Effect.timeout(BOUND))
          expect(fields(line)).toMatchObject({
            requestId: response.headers.get("x-request-id"),
            status: 500,
            error: "Defect"
          })
        }),
      { runner: dyingRunner }
    ))

  it.scopedLive("the bearer secret, right or wrong, never reaches the log", () =>
    withLogs((entries) =>
      Effect.gen(function*() {
        const responses = [
          yield* chat(hello(), { token: GATEWAY_SECRET }),
          yield* chat(hello({ stream: true }), { token: GATEWAY_SECRET }),
          yield* chat(hello(), { token: WRONG_SECRET }),
          yield* chat({ messages: [] }, { token: GATEWAY_SECRET }),
          yield* send(PATH, { method: "GET", token: GATEWAY_SECRET }),
          yield* send("/elsewhere", { method: "POST", token: WRONG_SECRET })
        ]
        for (const response of responses) yield* text(response)
        expect(responses.map((response) => response.status)).toEqual([200, 200, 401, 400, 405, 404])
        const seen: Array<LogEntry> = []
        for (const _ of responses) seen.push(yield* nextRequestLine(entries).pipe(Effect.timeout(BOUND)))
        seen.push(...(yield* Queue.takeAll(entries)))
        expect(new Set(seen.filter((entry) => entry.message[0] === "request").map((entry) => fields(entry).requestId)))
          .toEqual(new Set(responses.map((response) => response.headers.get("x-request-id"))))
        for (const entry of seen) {
          expect(entry.text).not.toContain(GATEWAY_SECRET)
          expect(entry.text).not.toContain(WRONG_SECRET)
        }
      })
    ))

  it.scopedLive("the 401 for a wrong secret is logged as Unauthorized", () =>
    withLogs((entries) =>
      Effect.gen(function*() {
        const response = yield* chat(hello(), { token: WRONG_SECRET })
        expect(response.status).toBe(401)
        expect((yield* errorBody(response)).error.message).toBe("Unauthorized")
        expect(fields(yield* nextRequestLine(entries).pipe(Effect.timeout(BOUND)))).toMatchObject({
          status: 401,
          error: "Unauthorized"
        })
      })
    ))
})

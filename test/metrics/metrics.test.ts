/**
 * `GET /metrics` in the Prometheus text format, behind `gateway.metrics`
 * (off by default, optional token of its own), and the metrics moving with what the gateway does.
 *
 * The metrics live in Effect's process-wide registry, so each test compares a scrape after the
 * event with one before it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { AgentRunner } from "../../src/agent/AgentRunner.js"
import { RunQueue } from "../../src/agent/RunQueue.js"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { AgentEvent } from "../../src/domain/AgentEvent.js"
import { FakeAgentRunner, replyEvents } from "../../src/testing.js"
import { baseConfig, testGateway, TOKEN } from "../kit/gateway.js"
import { chat, completionBody, errorBody, send, text, userSays } from "../kit/http.js"

const METRICS_TOKEN = "metrics-secret"

const metricsConfig = (
  metrics: { readonly enabled?: boolean; readonly token?: string },
  extra: Partial<ConfigInput> = {}
) => ({ ...baseConfig, ...extra, gateway: { ...baseConfig.gateway, ...extra.gateway, metrics } }) satisfies ConfigInput

// ---------------------------------------------------------------------------------------------
// Requests and scrapes
// ---------------------------------------------------------------------------------------------

/** `GET /metrics`, with `token` as its bearer (default: none). */
const getMetrics = (token?: string) => send("/metrics", { token: token ?? null })

interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** The samples of a Prometheus text exposition. */
const parse = (text: string): ReadonlyArray<Sample> =>
  text.split("\n").flatMap((line) => {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line)
    if (match === null) return []
    const labels = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]])
    )
    return [{ name: match[1] ?? "", labels, value: Number(match[3]) }]
  })

/** The value of the sample with exactly these labels (0 when it is not there yet). */
const valueOf = (samples: ReadonlyArray<Sample>, name: string, labels: Readonly<Record<string, string>> = {}) => {
  const wanted = Object.entries(labels)
  const sample = samples.find((s) =>
    s.name === name && Object.keys(s.labels).length === wanted.length &&
    wanted.every(([key, value]) => s.labels[key] === value)
  )
  return sample?.value ?? 0
}

const scrape = Effect.flatMap(getMetrics(), (response) => {
  expect(response.status).toBe(200)
  return Effect.map(text(response), parse)
})

/** Scrapes until `check` holds, within a bound. */
const scrapeUntil = (check: (samples: ReadonlyArray<Sample>) => boolean) =>
  Effect.repeat(scrape, { until: check }).pipe(Effect.timeout("5 seconds"))

const CHAT_ROUTE = "/v1/chat/completions"

// ---------------------------------------------------------------------------------------------
// The endpoint
// ---------------------------------------------------------------------------------------------

describe("GET /metrics: config", () => {
  it.scopedLive("is not there by default: 404, for GET and POST alike", () =>
    Effect.gen(function*() {
      const response = yield* getMetrics()
      expect(response.status).toBe(404)
      const body = yield* errorBody(response)
      expect(body.error.message).toContain("/metrics")
      expect((yield* send("/metrics", { method: "POST", token: null })).status).toBe(404)
    }).pipe(Effect.provide(testGateway({}))))

  it.scopedLive("when enabled without a token: the Prometheus text format, no auth needed; other methods 405", () =>
    Effect.gen(function*() {
      const response = yield* getMetrics()
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/)
      const exposition = yield* text(response)
      for (
        const [name, type] of [
          ["clawgate_http_requests_total", "counter"],
          ["clawgate_active_streams", "gauge"],
          ["clawgate_runs_queued", "gauge"],
          ["clawgate_auth_failures_total", "counter"],
          ["clawgate_auth_lockouts_total", "counter"]
        ]
      ) {
        expect(exposition).toContain(`# TYPE ${name} ${type}\n`)
      }
      const post = yield* send("/metrics", { method: "POST", token: null })
      expect(post.status).toBe(405)
      expect(post.headers.get("allow")).toBe("GET")
    }).pipe(Effect.provide(testGateway({ config: metricsConfig({ enabled: true }) }))))

  it.scopedLive("enabled even with the chat endpoint off", () =>
    Effect.gen(function*() {
      expect((yield* getMetrics()).status).toBe(200)
    }).pipe(Effect.provide(testGateway({
      config: { ...metricsConfig({ enabled: true }), gateway: { metrics: { enabled: true } } }
    }))))

  it.scopedLive("with a token: only its bearer gets in (not the gateway's own token)", () =>
    Effect.gen(function*() {
      const none = yield* getMetrics()
      expect(none.status).toBe(401)
      expect(none.headers.get("www-authenticate")).toBe("Bearer")
      expect((yield* errorBody(none)).error.type).toBe("unauthorized")
      expect((yield* getMetrics(TOKEN)).status).toBe(401)
      expect((yield* getMetrics(`${METRICS_TOKEN}x`)).status).toBe(401)
      const ok = yield* getMetrics(METRICS_TOKEN)
      expect(ok.status).toBe(200)
      expect(yield* text(ok)).toContain("# TYPE clawgate_http_requests_total counter")
    }).pipe(Effect.provide(testGateway({ config: metricsConfig({ enabled: true, token: METRICS_TOKEN }) }))))
})

// ---------------------------------------------------------------------------------------------
// The metrics moving
// ---------------------------------------------------------------------------------------------

describe("GET /metrics: what is counted", () => {
  const enabled = metricsConfig({ enabled: true })

  it.scopedLive("a request counts under its route pattern, status and agent, with its duration", () =>
    Effect.gen(function*() {
      const labels = { route: CHAT_ROUTE, status: "200", agent: "beta" }
      const before = yield* scrape
      const response = yield* chat(userSays("hi there"), { headers: { "x-clawdbot-agent-id": "beta" } })
      expect(response.status).toBe(200)
      yield* text(response)
      const after = yield* scrape
      expect(valueOf(after, "clawgate_http_requests_total", labels)).toBe(
        valueOf(before, "clawgate_http_requests_total", labels) + 1
      )
      const durations = { route: CHAT_ROUTE, agent: "beta" }
      expect(valueOf(after, "clawgate_http_request_duration_seconds_count", durations)).toBe(
        valueOf(before, "clawgate_http_request_duration_seconds_count", durations) + 1
      )
      expect(valueOf(after, "clawgate_http_request_duration_seconds_sum", durations)).toBeGreaterThan(
        valueOf(before, "clawgate_http_request_duration_seconds_sum", durations)
      )
    }).pipe(Effect.provide(testGateway({ config: enabled }))))

  it.scopedLive("labels are route patterns, never raw paths", () =>
    Effect.gen(function*() {
      const before = yield* scrape
      expect((yield* send("/no/such-path-4711", { token: null })).status).toBe(404)
      const model = yield* send("/v1/models/clawdbot:beta")
      yield* text(model)
      const response = yield* getMetrics()
      const exposition = yield* text(response)
      const after = parse(exposition)
      const unmatched = { route: "unmatched", status: "404", agent: "-" }
      expect(valueOf(after, "clawgate_http_requests_total", unmatched)).toBe(
        valueOf(before, "clawgate_http_requests_total", unmatched) + 1
      )
      const modelRoute = { route: "/v1/models/:id", status: String(model.status), agent: "-" }
      expect(valueOf(after, "clawgate_http_requests_total", modelRoute)).toBe(
        valueOf(before, "clawgate_http_requests_total", modelRoute) + 1
      )
      expect(exposition).not.toContain("such-path-4711")
      expect(exposition).not.toContain("clawdbot:beta")
    }).pipe(Effect.provide(testGateway({ config: enabled }))))

  it.scopedLive("a stream: a time-to-first-token sample, and one more active stream until it ends", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      // The first word, then nothing until the test lets the run finish.
      const runner = FakeAgentRunner.layer(() =>
        Stream.make(AgentEvent.TextDelta({ text: "first" })).pipe(
          Stream.concat(Stream.drain(Stream.fromEffect(Deferred.await(release)))),
          Stream.concat(Stream.fromIterable(replyEvents(" last").slice(1)))
        )
      )
      yield* Effect.gen(function*() {
        const ttft = { agent: "main" }
        const before = yield* scrape
        const streams = valueOf(before, "clawgate_active_streams")
        // The status comes with the first content: by then the run has produced it.
        const response = yield* chat(userSays("go", { stream: true }))
        expect(response.status).toBe(200)
        const during = yield* scrape
        expect(valueOf(during, "clawgate_time_to_first_token_seconds_count", ttft)).toBe(
          valueOf(before, "clawgate_time_to_first_token_seconds_count", ttft) + 1
        )
        expect(valueOf(during, "clawgate_active_streams")).toBe(streams + 1)
        yield* Deferred.succeed(release, undefined)
        expect(yield* text(response)).toContain("[DONE]")
        // The stream counts as active until its request is done on the server's side too.
        yield* scrapeUntil((samples) => valueOf(samples, "clawgate_active_streams") === streams)
      }).pipe(Effect.provide(testGateway({ config: enabled, runner })))
    }))

  it.scopedLive("failed auth and lockouts are counted", () =>
    Effect.gen(function*() {
      const before = yield* scrape
      const failures = valueOf(before, "clawgate_auth_failures_total")
      const lockouts = valueOf(before, "clawgate_auth_lockouts_total")
      expect((yield* chat(userSays("hi"), { token: "wrong" })).status).toBe(401)
      const once = yield* scrape
      expect(valueOf(once, "clawgate_auth_failures_total")).toBe(failures + 1)
      expect(valueOf(once, "clawgate_auth_lockouts_total")).toBe(lockouts)
      // The second failure reaches maxAttempts: still 401, and the client is locked out.
      expect((yield* chat(userSays("hi"), { token: "wrong" })).status).toBe(401)
      const locked = yield* scrape
      expect(valueOf(locked, "clawgate_auth_failures_total")).toBe(failures + 2)
      expect(valueOf(locked, "clawgate_auth_lockouts_total")).toBe(lockouts + 1)
      const unauthorized = { route: CHAT_ROUTE, status: "401", agent: "-" }
      expect(valueOf(locked, "clawgate_http_requests_total", unauthorized)).toBe(
        valueOf(before, "clawgate_http_requests_total", unauthorized) + 2
      )
      // A locked client's attempt is refused before its secret is checked: no failure counted.
      expect((yield* chat(userSays("hi"), { token: "wrong" })).status).toBe(429)
      expect(valueOf(yield* scrape, "clawgate_auth_failures_total")).toBe(failures + 2)
    }).pipe(Effect.provide(testGateway({
      config: metricsConfig({ enabled: true }, {
        gateway: {
          ...baseConfig.gateway,
          auth: { ...baseConfig.gateway.auth, rateLimit: { maxAttempts: 2, exemptLoopback: false } }
        }
      })
    }))))

  it.scopedLive("the tokens of an echo run are counted by agent and provider, as the answer reports them", () =>
    Effect.gen(function*() {
      const labels = { agent: "main", provider: "echo" }
      const before = yield* scrape
      const response = yield* chat(userSays("one two three"))
      const { usage } = yield* completionBody(response)
      if (usage === undefined) return yield* Effect.dieMessage("the answer has no usage")
      expect(usage.prompt_tokens).toBeGreaterThan(0)
      expect(usage.completion_tokens).toBeGreaterThan(0)
      const after = yield* scrape
      expect(valueOf(after, "clawgate_provider_input_tokens_total", labels)).toBe(
        valueOf(before, "clawgate_provider_input_tokens_total", labels) + usage.prompt_tokens
      )
      expect(valueOf(after, "clawgate_provider_output_tokens_total", labels)).toBe(
        valueOf(before, "clawgate_provider_output_tokens_total", labels) + usage.completion_tokens
      )
    }).pipe(Effect.provide(testGateway({ config: enabled }))))

  it.scopedLive("a run waiting behind another on its session counts as queued until its turn", () =>
    Effect.gen(function*() {
      const entered = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // Takes its turn on the session, as the live runner does, then answers once released.
      const runner = Layer.effect(
        AgentRunner,
        Effect.map(RunQueue, (queue) =>
          AgentRunner.fromStream((run) =>
            Stream.unwrapScoped(Effect.gen(function*() {
              yield* queue.enter(run.sessionKey.value)
              yield* Deferred.succeed(entered, undefined)
              yield* Deferred.await(release)
              return Stream.fromIterable(replyEvents("done"))
            }))
          ))
      )
      yield* Effect.gen(function*() {
        const session = { "x-clawdbot-session-key": "metrics-queue-test" }
        const queued = valueOf(yield* scrape, "clawgate_runs_queued")
        const first = yield* Effect.fork(Effect.flatMap(chat(userSays("a"), { headers: session }), text))
        yield* Deferred.await(entered)
        const second = yield* Effect.fork(Effect.flatMap(chat(userSays("b"), { headers: session }), text))
        yield* scrapeUntil((samples) => valueOf(samples, "clawgate_runs_queued") === queued + 1)
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(first)
        yield* Fiber.join(second)
        yield* scrapeUntil((samples) => valueOf(samples, "clawgate_runs_queued") === queued)
      }).pipe(Effect.provide(testGateway({ config: enabled, runner })))
    }))
})

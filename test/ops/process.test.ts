/**
 * Graceful drain as an operator sees it: `clawgate serve` in a child
 * process (see ./process.ts). On SIGTERM what is in flight may finish while new requests are
 * turned away with 503 `shutting_down` and /readyz answers 503 `draining`; past
 * `gateway.shutdownGraceMs` what is left is answered 503 `shutting_down` and the process exits 0;
 * a second signal during the drain ends it at once; requests that keep coming as the signal
 * arrives are each answered or turned away, none left hanging.
 *
 * What holds a drain open here is a request still sending its body: a stream in flight through a
 * provider is in drainInFlight.test.ts.
 */
import { describe, expect, it, vi } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as NodeHttp from "node:http"
import { PATH, userSays } from "../kit/http.js"
import { requireBuild, startGateway, tempDir } from "../kit/process.js"
import { inBandError } from "../kit/wire.js"
import { drainConfigFile, get, outcomeOf, SHUTTING_DOWN, startUpload, TURNED_AWAY } from "./process.js"

requireBuild()

/** A request in flight at the gateway: an upload it is reading, sent before a request it has answered. */
const requestInFlight = (url: string) =>
  Effect.gen(function*() {
    const upload = yield* startUpload(url)
    // The gateway answers in order of arrival: once it has answered this one, it has the upload's head.
    expect(yield* outcomeOf(url, "/healthz")).toBe("200")
    return upload
  })

// Each test starts the gateway as a process (twice, some of them): seconds each on a busy machine.
vi.setConfig({ testTimeout: 60_000 })

describe("drain, as a process", () => {
  it.scopedLive("on SIGTERM new requests get 503 shutting_down while a request is in flight; a second SIGTERM ends the process at once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      // A grace period far longer than the test may take: only the second signal can end the drain.
      const gateway = yield* startGateway(drainConfigFile(dir, { shutdownGraceMs: 600_000, model: "echo" }), dir)
      const upload = yield* requestInFlight(gateway.url)

      gateway.kill("SIGTERM")
      yield* gateway.line(SHUTTING_DOWN)
      expect(yield* outcomeOf(gateway.url, PATH, userSays("too late"))).toBe("503 shutting_down")

      gateway.kill("SIGTERM")
      expect(yield* gateway.exited).toEqual({ code: null, signal: "SIGTERM" })
      // The request in flight got no answer: its connection was cut.
      expect(Exit.isFailure(yield* Effect.exit(upload.answer))).toBe(true)
    }))

  it.scopedLive("while draining, /readyz answers 503 draining with Retry-After, on a new connection and on one kept alive from before", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const gateway = yield* startGateway(drainConfigFile(dir, { shutdownGraceMs: 600_000, model: "echo" }), dir)
      // A load balancer's probe: one connection, kept alive between checks.
      const agent = yield* Effect.acquireRelease(
        Effect.sync(() => new NodeHttp.Agent({ keepAlive: true, maxSockets: 1 })),
        (agent) => Effect.sync(() => agent.destroy())
      )
      expect((yield* get(gateway.url, "/readyz", agent)).status).toBe(200)
      const upload = yield* requestInFlight(gateway.url)

      gateway.kill("SIGTERM")
      yield* gateway.line(SHUTTING_DOWN)
      const kept = yield* get(gateway.url, "/readyz", agent)
      expect(kept.reusedSocket).toBe(true)
      const fresh = yield* get(gateway.url, "/readyz")
      for (const probe of [kept, fresh]) {
        expect(probe.status).toBe(503)
        expect(Number(probe.headers["retry-after"])).toBeGreaterThan(0)
        const body: unknown = JSON.parse(probe.body)
        expect(body).toEqual({ status: "unavailable", reason: "draining" })
      }
      expect((yield* get(gateway.url, "/healthz")).status).toBe(200)

      // The drain lasts as long as the request in flight: once it has its answer, the process ends.
      yield* upload.finish
      expect((yield* upload.answer).status).toBe(200)
      expect(yield* gateway.exited).toEqual({ code: 0, signal: null })
    }))

  it.scopedLive("a request still in flight at the deadline gets 503 shutting_down, then the process exits 0", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const gateway = yield* startGateway(drainConfigFile(dir, { shutdownGraceMs: 200, model: "echo" }), dir)
      const upload = yield* requestInFlight(gateway.url)

      gateway.kill("SIGTERM")
      const answer = yield* upload.answer
      expect(answer.status).toBe(503)
      expect(Number(answer.headers["retry-after"])).toBeGreaterThan(0)
      expect(inBandError(`data: ${answer.body}`)).toMatchObject({ code: "shutting_down", param: null })
      expect(yield* gateway.exited).toEqual({ code: 0, signal: null })
      expect(gateway.output.stderr).toMatch(SHUTTING_DOWN)
    }))

  it.scopedLive("requests that keep coming as SIGTERM arrives are each answered or turned away, none left hanging; exit code 0", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      // Nothing runs long here: with a grace period longer than the test, only a request left
      // without an answer could keep the process from exiting.
      const gateway = yield* startGateway(drainConfigFile(dir, { shutdownGraceMs: 600_000, model: "echo" }), dir)
      const outcomes = new Map<string, number>()
      let sent = 0
      let exited = false
      /** One client: a request on a new connection as soon as the last one has its outcome. */
      const client: Effect.Effect<void> = Effect.suspend(() => {
        if (exited) return Effect.void
        sent += 1
        // Load balancers keep sending until they notice: the signal comes amid the traffic.
        if (sent === 100) gateway.kill("SIGTERM")
        return Effect.flatMap(outcomeOf(gateway.url, "/healthz"), (outcome) => {
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
          return client
        })
      })
      const clients = yield* Effect.fork(
        Effect.all(Array.from({ length: 8 }, () => client), { concurrency: "unbounded" })
      )

      const exit = yield* gateway.exited
      exited = true
      yield* clients.await
      expect(exit).toEqual({ code: 0, signal: null })
      expect([...outcomes.keys()].filter((outcome) => outcome !== "200" && !TURNED_AWAY.includes(outcome))).toEqual([])
      expect(outcomes.get("200")).toBeGreaterThanOrEqual(90)
    }))
})

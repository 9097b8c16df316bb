/**
 * A stream in flight through a provider, as a process, on SIGTERM: it
 * finishes within `gateway.shutdownGraceMs` (and its turn is stored), or gets the in-band
 * `shutting_down` error at the deadline (and nothing of it is stored); the process exits 0.
 *
 * The agent is on a fake `openai-completions` provider in this process (test/fakes/ControlledProvider.ts) that
 * streams only when the test says so.
 */
import { describe, expect, it, vi } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { PATH, userSays } from "../kit/http.js"
import { requireBuild } from "../kit/process.js"
import { DONE, endsNormally, finishReasons, inBandError, isContent, summaryOf } from "../kit/wire.js"
import { gatewayOnProvider, historyAfterRestart, openStream, outcomeOf, SHUTTING_DOWN } from "./process.js"

requireBuild()

// Each test starts the gateway as a process (twice, some of them): seconds each on a busy machine.
vi.setConfig({ testTimeout: 60_000 })

describe("drain of a stream in flight, as a process", () => {
  it.scopedLive("on SIGTERM: new requests get 503 shutting_down, the stream in flight completes, its turn is stored, exit code 0", () =>
    Effect.gen(function*() {
      const { config, dir, gateway, provider } = yield* gatewayOnProvider(600_000)
      const { call, open } = yield* openStream(gateway, provider.nextCall, {
        user: "alice",
        content: "hi",
        first: "Hello"
      })

      gateway.kill("SIGTERM")
      yield* gateway.line(SHUTTING_DOWN)
      expect(yield* outcomeOf(gateway.url, PATH, userSays("too late"))).toBe("503 shutting_down")

      yield* call.say(" world")
      yield* call.finish
      const rest = yield* open.rest
      expect(summaryOf(rest)).toEqual(endsNormally(" world"))
      expect(yield* gateway.exited).toEqual({ code: 0, signal: null })

      // The finished turn was committed before the exit: a new process continues the session.
      expect(yield* historyAfterRestart(config, dir, provider.nextCall, "alice")).toEqual([
        { role: "user", content: "hi" },
        { role: "assistant", content: "Hello world" },
        { role: "user", content: "are you there?" }
      ])
    }))

  it.scopedLive("a stream that outlasts shutdownGraceMs gets the in-band error then [DONE], nothing of it is stored, exit code 0", () =>
    Effect.gen(function*() {
      const { config, dir, gateway, provider } = yield* gatewayOnProvider(200)
      const { call, open } = yield* openStream(gateway, provider.nextCall, {
        user: "bob",
        content: "hi",
        first: "Half"
      })

      gateway.kill("SIGTERM")
      const rest = yield* open.rest
      expect(rest.filter(isContent)).toEqual([])
      expect(finishReasons(rest)).toEqual([])
      expect(rest.map((event) => inBandError(event)?.code ?? event)).toEqual(["shutting_down", DONE])
      // The run was cancelled: the gateway hung up on the provider.
      yield* call.closedEarly
      expect(yield* gateway.exited).toEqual({ code: 0, signal: null })

      // Nothing of the cut turn was stored: the session starts afresh.
      expect(yield* historyAfterRestart(config, dir, provider.nextCall, "bob")).toEqual([
        { role: "user", content: "are you there?" }
      ])
    }))
})

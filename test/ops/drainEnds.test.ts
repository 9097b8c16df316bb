/**
 * The drain always ends, as a process: answers whose clients went away are not waited for, an
 * answer still going to a slow client gets the grace period, and what still holds on a moment past
 * `gateway.shutdownGraceMs` is cut, so SIGTERM ends the process. The provider
 * (test/fakes/ControlledProvider.ts) answers when the test says so.
 */
import { describe, expect, it, vi } from "@effect/vitest"
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type { ProviderCall } from "../fakes/ControlledProvider.js"
import { PATH, postTo, userSays } from "../kit/http.js"
import { requireBuild } from "../kit/process.js"
import { gatewayOnProvider, openStream, outcomeOf, SHUTTING_DOWN } from "./process.js"

requireBuild()

// Each test starts the gateway as a process: seconds on a busy machine.
vi.setConfig({ testTimeout: 60_000 })

/** More than a loopback connection buffers: an answer the client does not read cannot all be sent. */
const LONG = "x".repeat(16 * 1024 * 1024)

/** A plain request answered with `LONG`, its answer's head read and the rest left unread for now. */
const longAnswer = (url: string, nextCall: Effect.Effect<ProviderCall>) =>
  Effect.gen(function*() {
    const answer = yield* Effect.fork(postTo(url, userSays("a long answer, please")))
    const call = yield* nextCall
    yield* call.say(LONG)
    yield* call.finish
    const open = yield* Fiber.join(answer)
    expect(open.status).toBe(200)
    return open
  })

describe("the drain always ends, as a process", () => {
  it.scopedLive("clients that leave mid-request, plain and streamed, are not waited for: SIGTERM exits 0 at once", () =>
    Effect.gen(function*() {
      // A grace period far longer than the test may take: only requests no longer counted let it end.
      const { gateway, provider } = yield* gatewayOnProvider(600_000)

      // Plain requests whose clients leave as their answers come, the way a load generator's do
      // when it stops: many, so that the gateway learns of some leaving only as it answers them.
      const clients = yield* Effect.forEach(
        Array.from({ length: 32 }, (_, i) => `plain ${i}`),
        (content) => Effect.fork(outcomeOf(gateway.url, PATH, userSays(content)))
      )
      const calls = yield* Effect.forEach(clients, () => provider.nextCall)
      yield* Effect.forEach(
        Arr.zip(clients, calls),
        ([client, call]) => Effect.zipRight(Fiber.interrupt(client), call.finish),
        {
          discard: true
        }
      )
      // A stream whose client leaves after the first content.
      yield* Effect.scoped(openStream(gateway, provider.nextCall, { user: "carol", content: "hi", first: "Hello" }))

      gateway.kill("SIGTERM")
      expect(yield* gateway.exited).toEqual({ code: 0, signal: null })
    }))

  it.scopedLive("a plain answer still going to a slow client at SIGTERM is delivered in full; exit code 0", () =>
    Effect.gen(function*() {
      const { gateway, provider } = yield* gatewayOnProvider(600_000)
      const open = yield* longAnswer(gateway.url, provider.nextCall)

      gateway.kill("SIGTERM")
      yield* gateway.line(SHUTTING_DOWN)
      const completion: unknown = JSON.parse(yield* open.text)
      expect(completion).toMatchObject({ choices: [{ message: { content: LONG } }] })
      expect(yield* gateway.exited).toEqual({ code: 0, signal: null })
    }))

  it.scopedLive("a plain answer its client has stopped reading is cut a moment past shutdownGraceMs; exit code 0", () =>
    Effect.gen(function*() {
      const { gateway, provider } = yield* gatewayOnProvider(300)
      yield* longAnswer(gateway.url, provider.nextCall)

      gateway.kill("SIGTERM")
      expect(yield* gateway.exited).toEqual({ code: 0, signal: null })
    }))
})

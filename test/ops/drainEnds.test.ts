/**
 * The drain always ends, as a process: answers whose clients went away are not waited for, so
 * SIGTERM ends the process. The provider (test/fakes/ControlledProvider.ts) answers when the test
 * says so.
 */
import { describe, expect, it, vi } from "@effect/vitest"
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { controlledProvider } from "../fakes/ControlledProvider.js"
import { requireBuild, startGateway, tempDir } from "../gatewayProcess.js"
import { PATH } from "./harness.js"
import { chat, openStream, outcomeOf, writeConfig } from "./process.js"

requireBuild()

// Each test starts the gateway as a process: seconds on a busy machine.
vi.setConfig({ testTimeout: 60_000 })

describe("the drain always ends, as a process", () => {
  it.scopedLive("clients that leave mid-request, plain and streamed, are not waited for: SIGTERM exits 0 at once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const provider = yield* controlledProvider
      // A grace period far longer than the test may take: only requests no longer counted let it end.
      const gateway = yield* startGateway(writeConfig(dir, { providerUrl: provider.baseUrl, shutdownGraceMs: 600_000 }), dir)

      // Plain requests whose clients leave as their answers come, the way a load generator's do
      // when it stops: many, so that the gateway learns of some leaving only as it answers them.
      const clients = yield* Effect.forEach(Array.from({ length: 32 }, (_, i) => `plain ${i}`), (content) =>
        Effect.fork(outcomeOf(gateway.url, PATH, chat(content))))
      const calls = yield* Effect.forEach(clients, () => provider.nextCall)
      yield* Effect.forEach(Arr.zip(clients, calls), ([client, call]) => Effect.zipRight(Fiber.interrupt(client), call.finish), {
        discard: true
      })
      // A stream whose client leaves after the first content.
      yield* Effect.scoped(openStream(gateway, provider.nextCall, { user: "carol", content: "hi", first: "Hello" }))

      gateway.kill("SIGTERM")
      expect(yield* gateway.exited).toEqual({ code: 0, signal: null })
    }))
})

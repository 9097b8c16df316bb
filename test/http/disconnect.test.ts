/**
 * When the client goes away, the agent run is interrupted (its finalizers run),
 * for a stream and for a plain request, and the gateway goes on serving.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { AgentRunner } from "../../src/agent/AgentRunner.js"
import { FakeAgentRunner } from "../../src/testing.js"
import { testGateway } from "../kit/gateway.js"
import { BOUND, chat, hello, openChat } from "../kit/http.js"
import { sseReader } from "../kit/sse.js"
import { chunkOf, isContent } from "../kit/wire.js"

/**
 * `layerHanging`, plus a signal when a run starts: a plain request shows nothing on the wire
 * until the run ends, so the test waits for this before leaving.
 */
const hangingRunner = (options: {
  readonly text?: string
  readonly started: Deferred.Deferred<void>
  readonly interrupted: Deferred.Deferred<void>
}) =>
  Layer.effect(
    AgentRunner,
    Effect.map(AgentRunner, (inner) =>
      AgentRunner.of({
        stream: (request) => Stream.onStart(inner.stream(request), Deferred.succeed(options.started, undefined)),
        complete: (request) => Effect.zipRight(Deferred.succeed(options.started, undefined), inner.complete(request))
      }))
  ).pipe(Layer.provide(FakeAgentRunner.layerHanging({
    ...(options.text !== undefined && { text: options.text }),
    onInterrupt: Deferred.succeed(options.interrupted, undefined)
  })))

describe("a client that disconnects", () => {
  it.scopedLive("closing a stream after the first content interrupts the run", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        const { abort, response } = yield* openChat(hello({ stream: true }))
        expect(response.status).toBe(200)
        const events = sseReader(response)
        const head = yield* events.until(isContent).pipe(Effect.timeout(BOUND))
        expect(head.filter(isContent).map((event) => chunkOf(event).choices[0]?.delta.content)).toEqual(["still"])
        // The run is going on (it never ends by itself) ...
        expect(yield* Deferred.isDone(interrupted)).toBe(false)
        abort()
        // ... until the client leaves.
        yield* Deferred.await(interrupted).pipe(Effect.timeout(BOUND))

        // The gateway is still serving (every run of this agent hangs, so ask for a 400).
        expect((yield* chat({ messages: [] })).status).toBe(400)
      }).pipe(
        Effect.scoped,
        Effect.provide(testGateway({ runner: hangingRunner({ text: "still", started, interrupted }) }))
      )
    }))

  it.scopedLive("closing a stream before any content interrupts the run", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        const controller = new AbortController()
        yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
        // No content comes, so no status either (the keep-alive is 15 s): the request is pending.
        const pending = yield* chat(hello({ stream: true }), { signal: controller.signal }).pipe(Effect.fork)
        yield* Deferred.await(started).pipe(Effect.timeout(BOUND))
        controller.abort()
        yield* Deferred.await(interrupted).pipe(Effect.timeout(BOUND))
        yield* pending.await
      }).pipe(
        Effect.scoped,
        Effect.provide(testGateway({ runner: hangingRunner({ started, interrupted }) }))
      )
    }))

  it.scopedLive("leaving a plain (non-stream) request that hangs interrupts the run", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        const controller = new AbortController()
        yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
        const pending = yield* chat(hello(), { signal: controller.signal }).pipe(Effect.fork)
        yield* Deferred.await(started).pipe(Effect.timeout(BOUND))
        expect(yield* Deferred.isDone(interrupted)).toBe(false)
        controller.abort()
        yield* Deferred.await(interrupted).pipe(Effect.timeout(BOUND))
        yield* pending.await
      }).pipe(
        Effect.scoped,
        Effect.provide(testGateway({ runner: hangingRunner({ text: "never finished", started, interrupted }) }))
      )
    }))
})

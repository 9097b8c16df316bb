/**
 * A client that stops reading a long stream: the gateway stops pulling that run once the
 * connection's buffers are full (so its memory stays bounded), other streams go on meanwhile, and
 * the stalled stream resumes intact when its client reads again.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { AgentEvent } from "../../src/domain/AgentEvent.js"
import { FakeAgentRunner, replyEvents } from "../../src/testing.js"
import { testGateway } from "../kit/gateway.js"
import { BOUND, post, streamAll, userSays } from "../kit/http.js"
import { contentsOf } from "../kit/wire.js"

const PIECE = "x".repeat(64 * 1024)
const PIECES = 768
/** 48 MB of text for the flood; far more than a loopback connection buffers (a few MB). */
const FLOOD_BYTES = PIECE.length * PIECES

describe("a client that stops reading a long stream", () => {
  it.scopedLive("neither stalls other streams nor makes the gateway buffer the rest of its answer", () =>
    Effect.gen(function*() {
      let produced = 0
      // "flood" asks for 48 MB of text, produced only as the gateway pulls it; anything else is echoed.
      const runner = FakeAgentRunner.layer((request) =>
        request.messages.at(-1)?.content === "flood"
          ? Stream.repeatEffect(Effect.sync(() => {
            produced += PIECE.length
            return AgentEvent.TextDelta({ text: PIECE })
          })).pipe(Stream.take(PIECES), Stream.concat(Stream.make(AgentEvent.Finish({ reason: "stop" }))))
          : Stream.fromIterable(replyEvents(request.messages.at(-1)?.content ?? ""))
      )
      yield* Effect.gen(function*() {
        // The flood's client reads the answer's head, then nothing more for now.
        const flood = yield* post(userSays("flood", { stream: true }))
        expect(flood.status).toBe(200)

        // Other clients stream whole answers meanwhile. Once the flood's run has stopped being
        // pulled (the same count across one whole answer of another stream), it holds at most what
        // the connection buffers: without back-pressure it would run on to its 48 MB.
        let before = -1
        for (let answers = 0; answers < 50 && before !== produced; answers++) {
          before = produced
          const events = yield* streamAll(userSays("still served", { stream: true })).pipe(Effect.timeout(BOUND))
          expect(contentsOf(events).join("")).toBe("still served")
          expect(events.at(-1)).toBe("data: [DONE]")
        }
        expect(produced).toBe(before)
        expect(produced).toBeLessThan(FLOOD_BYTES / 2)

        // Read again, the flood's client gets every piece, in one answer that ends as answers do.
        const events = yield* flood.rest
        expect(contentsOf(events).join("").length).toBe(FLOOD_BYTES)
        expect(events.at(-1)).toBe("data: [DONE]")
        expect(produced).toBe(FLOOD_BYTES)
      }).pipe(Effect.provide(testGateway({ runner })))
    }))
})

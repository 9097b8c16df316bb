/**
 * A client that stops reading a long stream: the gateway stops pulling that run once the
 * connection's buffers are full (so its memory stays bounded), other streams go on meanwhile, and
 * the stalled stream resumes intact when its client reads again. Checked with a fake runner, and
 * with the live runner over a provider on the network, which must then be held back too.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import { AgentEvent } from "../../src/domain/AgentEvent.js"
import { FakeAgentRunner, replyEvents } from "../../src/testing.js"
import { listenOnLoopback } from "../fakes/listen.js"
import { configWith, testGateway } from "../kit/gateway.js"
import { BOUND, post, streamAll, userSays } from "../kit/http.js"
import { contentsOf } from "../kit/wire.js"

const PIECE = "x".repeat(64 * 1024)
const PIECES = 768
/** 48 MB of text for the flood; far more than a loopback connection buffers (a few MB). */
const FLOOD_BYTES = PIECE.length * PIECES

/**
 * The flood's client reads its answer's head and then stops, while other clients stream whole
 * answers; `produced` is how much of the flood its source has made so far.
 */
const floodStallsOnlyItself = (produced: () => number) =>
  Effect.gen(function*() {
    const flood = yield* post(userSays("flood", { stream: true }))
    expect(flood.status).toBe(200)

    // Once the flood's run has stopped being pulled (the same count across one whole answer of
    // another stream), it holds at most what the connections buffer: without back-pressure it
    // would run on to its 48 MB.
    let before = -1
    for (let answers = 0; answers < 50 && before !== produced(); answers++) {
      before = produced()
      const events = yield* streamAll(userSays("still served", { stream: true })).pipe(Effect.timeout(BOUND))
      expect(contentsOf(events).join("")).toBe("still served")
      expect(events.at(-1)).toBe("data: [DONE]")
    }
    expect(produced()).toBe(before)
    expect(produced()).toBeLessThan(FLOOD_BYTES / 2)

    // Read again, the flood's client gets every piece, in one answer that ends as answers do.
    const events = yield* flood.rest
    expect(contentsOf(events).join("").length).toBe(FLOOD_BYTES)
    expect(events.at(-1)).toBe("data: [DONE]")
    expect(produced()).toBe(FLOOD_BYTES)
  })

/** An SSE chunk of a Chat Completions stream saying `content`. */
const chunkSaying = (content: string) =>
  `data: ${
    JSON.stringify({
      id: "chatcmpl-flood",
      object: "chat.completion.chunk",
      created: 0,
      model: "flood-model",
      choices: [{ index: 0, delta: { content }, finish_reason: null }]
    })
  }\n\n`

/** A piece as a provider streams it: four events of 16 KB. */
const PIECE_EVENTS = chunkSaying(PIECE.slice(0, PIECE.length / 4)).repeat(4)

/**
 * A Chat Completions provider that streams "flood" as fast as its connection takes it (a piece
 * whenever its write has room) and echoes anything else; `produced` counts the flood's text.
 */
const floodingProvider = Effect.gen(function*() {
  let produced = 0
  const server = Http.createServer((req, res) => {
    let body = ""
    req.setEncoding("utf8").on("data", (text: string) => body += text).on("end", () => {
      const said = String(JSON.parse(body).messages.at(-1).content)
      res.writeHead(200, { "content-type": "text/event-stream" })
      if (said !== "flood") return res.end(chunkSaying(said) + "data: [DONE]\n\n")
      let sent = 0
      const more = () => {
        while (sent < PIECES) {
          sent += 1
          produced += PIECE.length
          if (!res.write(PIECE_EVENTS)) return void res.once("drain", more)
        }
        res.end("data: [DONE]\n\n")
      }
      more()
    })
  })
  const port = yield* listenOnLoopback(server)
  return { baseUrl: `http://127.0.0.1:${port}/v1`, produced: () => produced }
})

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
      yield* floodStallsOnlyItself(() => produced).pipe(Effect.provide(testGateway({ runner })))
    }))

  it.scopedLive("holds back the provider of a live agent, whose other streams go on", () =>
    Effect.gen(function*() {
      const provider = yield* floodingProvider
      const config = configWith({
        agents: { list: [{ id: "main", default: true, model: "up/flood-model" }] },
        models: { providers: { up: { api: "openai-completions", baseUrl: provider.baseUrl } } }
      })
      yield* floodStallsOnlyItself(provider.produced).pipe(Effect.provide(testGateway({ config })))
    }))
})

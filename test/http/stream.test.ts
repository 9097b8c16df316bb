/**
 * The streamed answer, read raw off the wire: headers, SSE framing, the role,
 * content, finish and usage chunks, `[DONE]`, content sent as produced, keep-alive comments, and
 * failures before (a real status) and after (in-band) the first content.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { AgentRunner } from "../../src/agent/AgentRunner.js"
import type { Config } from "../../src/config/Config.js"
import { AgentEvent } from "../../src/domain/AgentEvent.js"
import {
  ProviderAuthRejected,
  ProviderFailed,
  ProviderRateLimited,
  ProviderTimeout,
  ProviderUnreachable
} from "../../src/domain/Errors.js"
import type { AgentError } from "../../src/domain/Errors.js"
import { FakeAgentRunner, replyEvents } from "../../src/testing.js"
import { endpointWith, testGateway } from "../kit/gateway.js"
import { BOUND, chat, errorBody, hello, openChat, text } from "../kit/http.js"
import { controlledRunner } from "../kit/runs.js"
import { eventsOf, sseReader } from "../kit/sse.js"
import { type Chunk, chunkOf, COMPLETION_ID, dataOf, ErrorBody, isChunk, isContent, isError } from "../kit/wire.js"

const streamed = (extra: Record<string, unknown> = {}) => hello({ stream: true, ...extra })

/** The chunks among all the events of an answer, checking the frame of every event on the way. */
const framedEvents = (events: ReadonlyArray<string>) => {
  for (const event of events) {
    // One `data:` line per event (or a comment), nothing else.
    expect(event.split("\n")).toHaveLength(1)
    expect(event.startsWith("data: ") || event.startsWith(": ")).toBe(true)
  }
  expect(events.at(-1)).toBe("data: [DONE]")
  const chunks = events.filter(isChunk).map(chunkOf)
  return { events, chunks }
}

/** The chunks of a whole body, checking the frame of every event on the way. */
const framed = (body: string) => framedEvents(eventsOf(body))

/** The content of the chunks that carry no role, in order (empty pieces included). */
const contentPieces = (chunks: ReadonlyArray<Chunk>) =>
  chunks.filter((chunk) => chunk.choices[0]?.delta.role === undefined).flatMap((chunk) =>
    chunk.choices[0]?.delta.content ?? []
  )

const finishChunks = (chunks: ReadonlyArray<Chunk>) =>
  chunks.filter((chunk) => chunk.choices.some((choice) => choice.finish_reason !== null))

describe("a streamed answer", () => {
  it.scopedLive("is text/event-stream, no-cache, with the request id and session key headers", () =>
    Effect.gen(function*() {
      const response = yield* chat(streamed(), { headers: { "x-clawdbot-session-key": "s-1" } })
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
      expect(response.headers.get("cache-control")).toBe("no-cache")
      expect(response.headers.get("x-request-id")).toMatch(/\S/)
      expect(response.headers.get("x-clawdbot-session-key")).toBe("s-1")
      yield* text(response)
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("is a role chunk, content chunks, one finish chunk, then [DONE], framed by blank lines", () =>
    Effect.gen(function*() {
      const response = yield* chat(
        streamed({ model: "gpt-4o", messages: [{ role: "user", content: "one two three" }] })
      )
      const { chunks, events } = framed(yield* text(response))
      expect(events.every((event) => event.startsWith("data: "))).toBe(true)

      const first = chunks[0]
      expect(first?.choices[0]?.delta.role).toBe("assistant")
      expect(first?.choices[0]?.finish_reason).toBeNull()

      // The echo agent speaks word by word: one content chunk per word, in order.
      expect(contentPieces(chunks)).toEqual(["one", " two", " three"])

      const finishes = finishChunks(chunks)
      expect(finishes).toHaveLength(1)
      expect(finishes[0]?.choices[0]?.finish_reason).toBe("stop")
      expect(finishes[0]?.choices[0]?.delta).toEqual({})
      // The finish chunk is the last chunk: no usage chunk was asked for.
      expect(chunks.at(-1)).toBe(finishes[0])
      expect(chunks.some((chunk) => chunk.usage !== undefined)).toBe(false)

      for (const chunk of chunks) {
        expect(chunk.object).toBe("chat.completion.chunk")
        expect(chunk.id).toMatch(COMPLETION_ID)
        expect(chunk.id).toBe(first?.id)
        expect(chunk.created).toBe(first?.created)
        expect(chunk.model).toBe("gpt-4o")
      }
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("with include_usage, one usage chunk with choices: [] follows the finish chunk", () =>
    Effect.gen(function*() {
      const response = yield* chat(
        streamed({
          messages: [{ role: "user", content: "one two three four" }],
          max_tokens: 3,
          stream_options: { include_usage: true }
        })
      )
      const { chunks, events } = framed(yield* text(response))
      expect(contentPieces(chunks)).toEqual(["one", " two", " three"])
      const finishes = finishChunks(chunks)
      expect(finishes).toHaveLength(1)
      expect(finishes[0]?.choices[0]?.finish_reason).toBe("length")

      const usageChunks = chunks.filter((chunk) => chunk.usage !== undefined)
      expect(usageChunks).toHaveLength(1)
      const usage = usageChunks[0]
      expect(usage?.choices).toEqual([])
      expect(usage?.usage).toEqual({ prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 })
      // Order: ..., finish chunk, usage chunk, [DONE].
      expect(events.slice(-3).map((event) => isChunk(event) ? chunkOf(event) : event)).toEqual([
        finishes[0],
        usage,
        "data: [DONE]"
      ])
      expect(new Set(chunks.map((chunk) => `${chunk.id} ${chunk.created} ${chunk.model}`)).size).toBe(1)
    }).pipe(Effect.provide(testGateway())))

  it.scopedLive("a runner's usage numbers and finish reason are passed through", () =>
    Effect.gen(function*() {
      const { chunks } = framed(yield* text(yield* chat(streamed({ stream_options: { include_usage: true } }))))
      expect(finishChunks(chunks)[0]?.choices[0]?.finish_reason).toBe("content_filter")
      expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 321, completion_tokens: 9, total_tokens: 330 })
    }).pipe(Effect.provide(testGateway({
      runner: FakeAgentRunner.layer(() =>
        Stream.fromIterable(
          replyEvents("some words", {
            finishReason: "content_filter",
            usage: { promptTokens: 321, completionTokens: 9 }
          })
        )
      )
    }))))

  it.scopedLive("each word reaches the client as its own chunk, before the agent says the next", () =>
    Effect.gen(function*() {
      const runner = yield* controlledRunner
      yield* Effect.gen(function*() {
        // The answer's head comes with the agent's first word, which the test says once the run has started.
        const opening = yield* Effect.fork(openChat(streamed()))
        const run = yield* runner.nextRun
        yield* run.say("slow")
        const { response } = yield* Fiber.join(opening).pipe(Effect.timeout(BOUND))
        expect(response.status).toBe(200)
        const events = sseReader(response)
        const head = yield* events.until(isContent).pipe(Effect.timeout(BOUND))
        expect(head.map((event) => chunkOf(event).choices[0]?.delta)).toEqual([
          { role: "assistant", content: "" },
          { content: "slow" }
        ])
        // The next word is said only once the client has read the last one: a gateway that held the
        // words back until the run ended would never deliver it.
        for (const word of [" and", " steady"]) {
          yield* run.say(word)
          const next = yield* events.until(isContent).pipe(Effect.timeout(BOUND))
          expect(next.map((event) => chunkOf(event).choices[0]?.delta)).toEqual([{ content: word }])
        }
        yield* run.finish
        const rest = yield* events.rest.pipe(Effect.timeout(BOUND))
        const { chunks } = framedEvents([...head, ...rest])
        expect(rest.filter(isContent)).toEqual([])
        expect(finishChunks(chunks)).toHaveLength(1)
        expect(yield* run.ended).toBe("completed")
      }).pipe(Effect.scoped, Effect.provide(testGateway({ runner: runner.layer })))
    }))
})

describe("keep-alive comments while the agent is silent", () => {
  /** The gateway with keep-alives every 50 ms, on a runner the test drives. */
  const keepingAlive = (runner: Layer.Layer<AgentRunner, never, Config>) =>
    Effect.provide(testGateway({ config: endpointWith({ keepAliveMs: 50 }), runner }))

  it.scopedLive("a silent agent mid-answer gets `: keep-alive` comments every keepAliveMs", () =>
    Effect.gen(function*() {
      const runner = yield* controlledRunner
      yield* Effect.gen(function*() {
        const opening = yield* Effect.fork(openChat(streamed()))
        const run = yield* runner.nextRun
        yield* run.say("now")
        const events = sseReader((yield* Fiber.join(opening)).response)
        const head = yield* events.until(isContent).pipe(Effect.timeout(BOUND))
        // The agent says nothing now: only comments can come.
        const comments = [
          yield* events.next.pipe(Effect.timeout(BOUND)),
          yield* events.next.pipe(Effect.timeout(BOUND))
        ]
        expect(comments).toEqual([": keep-alive", ": keep-alive"])
        yield* run.say("later")
        yield* run.finish
        const rest = yield* events.rest.pipe(Effect.timeout(BOUND))
        const { chunks } = framedEvents([...head, ...comments.flatMap((comment) => comment ?? []), ...rest])
        expect(contentPieces(chunks)).toEqual(["now", "later"])
        expect(finishChunks(chunks)).toHaveLength(1)
      }).pipe(Effect.scoped, keepingAlive(runner.layer))
    }))

  it.scopedLive("an agent silent from the start: the answer starts with the role chunk, then keep-alives", () =>
    Effect.gen(function*() {
      const runner = yield* controlledRunner
      yield* Effect.gen(function*() {
        const opening = yield* Effect.fork(openChat(streamed()))
        const run = yield* runner.nextRun
        // Nothing said yet, and the answer has started all the same.
        const { response } = yield* Fiber.join(opening)
        expect(response.status).toBe(200)
        expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
        const events = sseReader(response)
        const first = yield* events.next.pipe(Effect.timeout(BOUND))
        expect(first === undefined ? undefined : chunkOf(first).choices[0]?.delta).toEqual({
          role: "assistant",
          content: ""
        })
        const comment = yield* events.next.pipe(Effect.timeout(BOUND))
        expect(comment).toBe(": keep-alive")
        yield* run.say("finally")
        yield* run.finish
        const rest = yield* events.rest.pipe(Effect.timeout(BOUND))
        const { chunks } = framedEvents([first ?? "", comment ?? "", ...rest])
        expect(contentPieces(chunks)).toEqual(["finally"])
      }).pipe(Effect.scoped, keepingAlive(runner.layer))
    }))

  it.scopedLive("a fast agent gets no keep-alive comments", () =>
    Effect.gen(function*() {
      const { events } = framed(yield* text(yield* chat(streamed())))
      expect(events.some((event) => event.startsWith(":"))).toBe(false)
    }).pipe(Effect.provide(testGateway())))
})

describe("a streamed answer that fails", () => {
  const failingBeforeContent: ReadonlyArray<readonly [AgentError, number, string]> = [
    [new ProviderUnreachable({ provider: "openai" }), 502, "server_error"],
    [new ProviderAuthRejected({ provider: "openai" }), 502, "server_error"],
    [new ProviderFailed({ provider: "openai", detail: "upstream 500" }), 502, "server_error"],
    [new ProviderTimeout({ provider: "openai", timeoutMs: 30_000 }), 504, "server_error"],
    [new ProviderRateLimited({ provider: "openai", retryAfterSeconds: 7 }), 429, "rate_limited"]
  ]

  for (const [error, status, type] of failingBeforeContent) {
    it.scopedLive(`${error._tag} before the first content answers ${status}, not a 200`, () =>
      Effect.gen(function*() {
        const response = yield* chat(streamed())
        expect(response.status).toBe(status)
        expect(response.headers.get("content-type")).toContain("application/json")
        const body = yield* errorBody(response)
        expect(body.error.type).toBe(type)
        if (status === 429) expect(response.headers.get("retry-after")).toBe("7")
        expect(response.headers.get("x-request-id")).toMatch(/\S/)
      }).pipe(Effect.provide(testGateway({ runner: FakeAgentRunner.layerFailing(error) }))))
  }

  it.scopedLive("a failure after usage but before any content still gets a real status", () =>
    Effect.gen(function*() {
      const response = yield* chat(streamed())
      expect(response.status).toBe(504)
      expect((yield* errorBody(response)).error.code).toBe("provider_timeout")
    }).pipe(Effect.provide(testGateway({
      runner: FakeAgentRunner.layer(() =>
        Stream.make(AgentEvent.Usage({ usage: { promptTokens: 1, completionTokens: 0 } })).pipe(
          Stream.concat(Stream.fail(new ProviderTimeout({ provider: "openai", timeoutMs: 1000 })))
        )
      )
    }))))

  it.scopedLive("a failure after content goes in-band: data: {\"error\":...} then data: [DONE]", () =>
    Effect.gen(function*() {
      const response = yield* chat(streamed())
      expect(response.status).toBe(200)
      const requestId = response.headers.get("x-request-id")
      const raw = yield* text(response)
      const { events } = framed(raw)
      expect(contentPieces(events.filter(isContent).map(chunkOf))).toEqual(["partial", " answer"])
      const [errorEvent, done] = events.slice(-2)
      expect(done).toBe("data: [DONE]")
      const { error } = Schema.decodeUnknownSync(ErrorBody)(dataOf(errorEvent ?? ""))
      expect(error).toMatchObject({ type: "server_error", code: "provider_error" })
      expect(error.message).toContain(`request id ${requestId}`)
      // The provider's own words are for the log, not the client.
      expect(raw).not.toContain("sk-upstream-secret")
      expect(raw).not.toContain("exploded")
      // One error event, and no finish chunk claiming the answer completed normally.
      expect(events.filter(isError).length).toBe(1)
      expect(finishChunks(events.filter(isChunk).map(chunkOf))).toEqual([])
    }).pipe(Effect.provide(testGateway({
      runner: FakeAgentRunner.layerFailingAfter(
        "partial answer",
        new ProviderFailed({ provider: "openai", detail: "upstream exploded with key sk-upstream-secret" })
      )
    }))))

  it.scopedLive("a rate limit after content goes in-band as rate_limited", () =>
    Effect.gen(function*() {
      const response = yield* chat(streamed())
      expect(response.status).toBe(200)
      const { events } = framed(yield* text(response))
      const [errorEvent] = events.slice(-2)
      expect(Schema.decodeUnknownSync(ErrorBody)(dataOf(errorEvent ?? "")).error.type).toBe("rate_limited")
    }).pipe(Effect.provide(testGateway({
      runner: FakeAgentRunner.layerFailingAfter(
        "some",
        new ProviderRateLimited({ provider: "openai", retryAfterSeconds: 3 })
      )
    }))))
})

/**
 * The session key a request runs under (header, `user`, or a fresh one), its
 * limits, and the `x-clawdbot-session-key` response header a client continues the session with.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { chat, completionBody, errorBody, hello, text } from "../kit/http.js"
import { lastRun, recordedRuns, recordingGateway } from "../kit/runs.js"
import { UUID } from "../kit/wire.js"

const ALL_UUID = new RegExp(`^${UUID}$`)

/** Sends a request that must succeed; returns the key in the response header and the one the run got. */
const keysFor = (body: unknown, headers: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const response = yield* chat(body, { headers })
    expect(response.status).toBe(200)
    yield* completionBody(response)
    const run = yield* lastRun
    return {
      header: response.headers.get("x-clawdbot-session-key"),
      run: run.sessionKey.value,
      kind: run.sessionKey.kind
    }
  })

describe("the session key a request runs under", () => {
  it.scopedLive("the session-key header is used verbatim after trimming, and sent back", () =>
    Effect.gen(function*() {
      const key = "Team:Chat #42 / thread=A b"
      expect(yield* keysFor(hello(), { "x-clawdbot-session-key": `   ${key}  ` })).toEqual({
        header: key,
        run: key,
        kind: "header"
      })
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("the alias x-openclaw-session-key works the same", () =>
    Effect.gen(function*() {
      expect(yield* keysFor(hello(), { "x-openclaw-session-key": " my-session " })).toEqual({
        header: "my-session",
        run: "my-session",
        kind: "header"
      })
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("the header wins over `user`", () =>
    Effect.gen(function*() {
      const keys = yield* keysFor(hello({ user: "alice" }), { "x-clawdbot-session-key": "explicit" })
      expect(keys.run).toBe("explicit")
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("a key of exactly 512 characters is accepted", () =>
    Effect.gen(function*() {
      const key = "k".repeat(512)
      expect((yield* keysFor(hello(), { "x-clawdbot-session-key": key })).run).toBe(key)
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("a key over 512 characters, or with characters that are not printable, gets 400", () =>
    Effect.gen(function*() {
      for (const key of ["k".repeat(513), "tab\there", "caf\u00e9"]) {
        for (const header of ["x-clawdbot-session-key", "x-openclaw-session-key"]) {
          const response = yield* chat(hello(), { headers: { [header]: key } })
          expect({ key, header, status: response.status }).toEqual({ key, header, status: 400 })
          const { error } = yield* errorBody(response)
          expect(error.type).toBe("invalid_request_error")
          expect(error.param).toBe("x-clawdbot-session-key")
          expect(error.message).toContain("512")
        }
      }
      expect(yield* recordedRuns).toEqual([])
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("`user` gives agent:<id>:openai-user:<user>, per agent, lowercased", () =>
    Effect.gen(function*() {
      expect(yield* keysFor(hello({ user: "alice" }))).toEqual({
        header: "agent:main:openai-user:alice",
        run: "agent:main:openai-user:alice",
        kind: "user"
      })
      expect((yield* keysFor(hello({ model: "clawdbot:beta", user: "Alice" }))).run).toBe(
        "agent:beta:openai-user:alice"
      )
      // The same user again: the same session.
      expect((yield* keysFor(hello({ user: "alice" }))).run).toBe("agent:main:openai-user:alice")
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("a `user` with characters a header cannot carry still gives a usable key", () =>
    Effect.gen(function*() {
      const keys = yield* keysFor(hello({ user: "Zoë" }))
      expect(keys.run.startsWith("agent:main:openai-user:")).toBe(true)
      expect(keys.header).toBe(keys.run)
      expect(keys.run).toMatch(/^[\x20-\x7e]+$/)
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("a `user` with a lone surrogate gets a usable key, the same each time", () =>
    Effect.gen(function*() {
      // JSON allows half a surrogate pair (a name cut in the middle of an emoji).
      for (const user of ["\ud800x", "ab\udc00", "\ud83d"]) {
        const first = yield* keysFor(hello({ user }))
        expect(first.kind).toBe("user")
        expect(first.header).toBe(first.run)
        expect(first.run).toMatch(/^agent:main:openai-user:[\x20-\x7e]+$/)
        expect((yield* keysFor(hello({ user }))).run).toBe(first.run)
      }
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("without header or user, each request gets a new agent:<id>:openai:<uuid>", () =>
    Effect.gen(function*() {
      const first = yield* keysFor(hello())
      const second = yield* keysFor(hello())
      const beta = yield* keysFor(hello({ model: "agent:beta" }))
      for (const keys of [first, second]) {
        expect(keys.kind).toBe("ephemeral")
        expect(keys.header).toBe(keys.run)
        expect(keys.run.slice(0, "agent:main:openai:".length)).toBe("agent:main:openai:")
        expect(keys.run.slice("agent:main:openai:".length)).toMatch(ALL_UUID)
      }
      expect(first.run).not.toBe(second.run)
      expect(beta.run.slice(0, "agent:beta:openai:".length)).toBe("agent:beta:openai:")
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("an empty header or blank user counts as none", () =>
    Effect.gen(function*() {
      const keys = yield* keysFor(hello({ user: "   " }), { "x-clawdbot-session-key": "  " })
      expect(keys.kind).toBe("ephemeral")
      expect(keys.run.slice("agent:main:openai:".length)).toMatch(ALL_UUID)
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("a streamed answer carries the session key and request id headers too", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello({ stream: true }), { headers: { "x-clawdbot-session-key": "stream-session" } })
      expect(response.status).toBe(200)
      expect(response.headers.get("x-clawdbot-session-key")).toBe("stream-session")
      expect(response.headers.get("x-request-id")).toMatch(/\S/)
      expect(yield* text(response)).toContain("data: [DONE]")
      expect((yield* lastRun).sessionKey.value).toBe("stream-session")
    }).pipe(Effect.provide(recordingGateway())))
})

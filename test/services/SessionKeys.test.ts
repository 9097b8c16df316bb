/**
 * SessionKeys alone: header > user > ephemeral.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { SessionKeys } from "../../src/access/SessionKeys.js"

const keys = SessionKeys.make(() => "fixed")

const resolve = (header: string | undefined, user: string | undefined, agentId = "main") =>
  keys.resolve({ agentId, header: Option.fromNullable(header), user: Option.fromNullable(user) })

describe("SessionKeys", () => {
  it.effect("the header wins over user, verbatim after trimming", () =>
    Effect.gen(function*() {
      expect(yield* resolve("my-session", "alice")).toEqual({ value: "my-session", kind: "header" })
      expect(yield* resolve("  Keep Case: ok  ", undefined)).toEqual({ value: "Keep Case: ok", kind: "header" })
    }))

  it.effect("a blank header falls back to user, then to a new ephemeral key", () =>
    Effect.gen(function*() {
      expect(yield* resolve("   ", "alice")).toEqual({ value: "agent:main:openai-user:alice", kind: "user" })
      expect(yield* resolve("", undefined)).toEqual({ value: "agent:main:openai:fixed", kind: "ephemeral" })
      expect(yield* resolve(undefined, "  ", "beta")).toEqual({ value: "agent:beta:openai:fixed", kind: "ephemeral" })
    }))

  it.effect("user keys are per agent, lowercased and trimmed", () =>
    Effect.gen(function*() {
      expect((yield* resolve(undefined, " Alice ")).value).toBe("agent:main:openai-user:alice")
      expect((yield* resolve(undefined, "alice", "beta")).value).toBe("agent:beta:openai-user:alice")
    }))

  it.effect("a non-ASCII user still gives a key a response header can carry, distinct per user", () =>
    Effect.gen(function*() {
      const zoe = (yield* resolve(undefined, "Zoë")).value
      const chinese = (yield* resolve(undefined, "用户")).value
      for (const key of [zoe, chinese]) {
        expect(key).toMatch(/^[\x20-\x7e]+$/)
        expect(() => new Headers({ "x-clawdbot-session-key": key })).not.toThrow()
      }
      expect(zoe).toBe(`agent:main:openai-user:${encodeURIComponent("zoë")}`)
      expect(zoe).not.toBe((yield* resolve(undefined, "zoe")).value)
      expect(chinese).not.toBe(zoe)
    }))

  it.effect("a header of 512 characters is accepted, 513 is refused", () =>
    Effect.gen(function*() {
      const longest = "k".repeat(512)
      expect((yield* resolve(longest, undefined)).value).toBe(longest)
      const error = yield* Effect.flip(resolve(`${longest}k`, undefined))
      expect(error).toMatchObject({ _tag: "InvalidRequest", param: "x-clawdbot-session-key" })
      expect(error.message).toContain("512")
    }))

  it.effect("a header with non-printable or non-ASCII characters is refused", () =>
    Effect.gen(function*() {
      for (const header of ["a\tb", "a\u0000b", "line\nbreak", "zoë", "del\u007f"]) {
        const error = yield* Effect.flip(resolve(header, "alice"))
        expect(error).toMatchObject({ _tag: "InvalidRequest", param: "x-clawdbot-session-key" })
      }
    }))

  it.effect("the default make gives a new ephemeral key per request", () =>
    Effect.gen(function*() {
      const random = SessionKeys.make()
      const input = { agentId: "main", header: Option.none(), user: Option.none() }
      const first = yield* random.resolve(input)
      const second = yield* random.resolve(input)
      expect(first.value).toMatch(/^agent:main:openai:[0-9a-f-]{36}$/)
      expect(first.kind).toBe("ephemeral")
      expect(second.value).not.toBe(first.value)
    }))
})

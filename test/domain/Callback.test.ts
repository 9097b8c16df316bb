/**
 * `Callback.cutOnExit` (src/domain/Callback.ts), held to `Effect.async` with a canceller, which it
 * stands in for: the same outcome, and the work stopped when the fiber is interrupted while waiting,
 * never once its outcome has come.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Callback from "../../src/domain/Callback.js"

/** A piece of work, started by `register`, that waits for `finish` and counts its clean-ups. */
const work = () => {
  let finish: ((outcome: Effect.Effect<string, string>) => void) | undefined
  const state = { started: false, cuts: 0 }
  const register = (resume: (outcome: Effect.Effect<string, string>) => void) => {
    state.started = true
    finish = resume
    return () => {
      state.cuts += 1
    }
  }
  return { finish: (outcome: Effect.Effect<string, string>) => finish?.(outcome), register, state }
}

/** The two ways of waiting for the work, the library's first. */
const ways = [
  [
    "Effect.async",
    (register: ReturnType<typeof work>["register"]) =>
      Effect.async<string, string>((resume) => {
        const cut = register(resume)
        return Effect.sync(cut)
      })
  ],
  ["cutOnExit", (register: ReturnType<typeof work>["register"]) => Callback.cutOnExit(register)]
] as const

describe("Callback.cutOnExit, as Effect.async with a canceller", () => {
  for (const [name, wait] of ways) {
    it.effect(`${name}: the outcome, success or failure, and no clean-up`, () =>
      Effect.gen(function*() {
        for (const outcome of [Effect.succeed("done"), Effect.fail("broke")]) {
          const { finish, register, state } = work()
          const fiber = yield* Effect.fork(wait(register))
          yield* Effect.yieldNow()
          finish(outcome)
          const exit = yield* Fiber.await(fiber)
          expect(exit).toStrictEqual(yield* Effect.exit(outcome))
          expect(state.cuts).toBe(0)
        }
      }))

    it.effect(`${name}: an outcome that comes at once, while registering`, () =>
      Effect.gen(function*() {
        const state = { cuts: 0 }
        const result = yield* wait((resume) => {
          resume(Effect.succeed("at once"))
          return () => {
            state.cuts += 1
          }
        })
        expect(result).toBe("at once")
        expect(state.cuts).toBe(0)
      }))

    it.effect(`${name}: interrupted while waiting, the work is cleaned up once and its late outcome ignored`, () =>
      Effect.gen(function*() {
        const { finish, register, state } = work()
        const fiber = yield* Effect.fork(wait(register))
        yield* Effect.yieldNow()
        expect(state.started).toBe(true)
        expect(Exit.isInterrupted(yield* Fiber.interrupt(fiber))).toBe(true)
        expect(state.cuts).toBe(1)
        finish(Effect.succeed("too late"))
        expect(state.cuts).toBe(1)
      }))

    it.effect(`${name}: once the outcome has come, the fiber going on and ending cleans nothing up`, () =>
      Effect.gen(function*() {
        const { finish, register, state } = work()
        const after = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(Effect.zipRight(wait(register), Deferred.await(after)))
        yield* Effect.yieldNow()
        finish(Effect.succeed("done"))
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(fiber)
        expect(state.cuts).toBe(0)
      }))
  }
})

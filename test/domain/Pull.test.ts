/**
 * The pull plumbing the runner and the streamed answer share (src/domain/Pull.ts): a Stream made
 * with `Pull.stream` gives the same elements, chunk for chunk, and the same end or failure, whether
 * it is pulled directly (`Pull.open`, as the gateway does) or run as any other Stream; and `open`
 * of a plain Stream gives what Stream's own `toPull` gives.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Pull from "../../src/domain/Pull.js"

/** A script: the chunks a source gives, then its end or a failure. */
const Script = FastCheck.record({
  chunks: FastCheck.array(FastCheck.array(FastCheck.string(), { maxLength: 4 }), { maxLength: 8 }),
  failure: FastCheck.option(FastCheck.string(), { nil: undefined })
})
type Script = typeof Script extends FastCheck.Arbitrary<infer A> ? A : never

/** A pull that plays the script, one chunk a pull. */
const pullOf = ({ chunks, failure }: Script): Pull.Pull<string, string> => {
  let next = 0
  return Effect.suspend(() =>
    next < chunks.length
      ? Pull.emit(chunks[next++]!)
      : failure === undefined
      ? Pull.end
      : Pull.fail(failure)
  )
}

/** Everything a pull gives until its end: the chunks, then the failure if any. */
const drain = (pull: Pull.Pull<string, string>) =>
  Effect.gen(function*() {
    const chunks: Array<ReadonlyArray<string>> = []
    while (true) {
      const step = yield* Effect.either(pull)
      if (Either.isLeft(step)) return { chunks, failure: Option.getOrUndefined(step.left) }
      chunks.push(Chunk.toReadonlyArray(step.right))
    }
  })

/** What a Stream gives when run as a Stream: its elements in order, then the failure if any. */
const runAsStream = (stream: Stream.Stream<string, string>) =>
  Effect.map(
    Effect.either(Stream.runCollect(stream)),
    Either.match({
      onLeft: (failure) => ({ elements: undefined, failure }),
      onRight: (elements) => ({ elements: Chunk.toReadonlyArray(elements), failure: undefined })
    })
  )

describe("the pull plumbing", () => {
  it.effect.prop("pulled directly, a Pull.stream gives its source's chunks as they are, then its end or failure", [
    Script
  ], ([script]) =>
    Effect.scoped(Effect.gen(function*() {
      const pulled = yield* drain(yield* Pull.open(Pull.stream(Effect.succeed(pullOf(script)))))
      expect(pulled).toEqual({ chunks: script.chunks, failure: script.failure })
    })))

  it.effect.prop(
    "run as a Stream, a Pull.stream gives what Stream.fromChunks of the same script gives",
    [Script],
    ([script]) =>
      Effect.gen(function*() {
        const reference = Stream.fromIterable(script.chunks.map(Chunk.unsafeFromArray)).pipe(
          Stream.flattenChunks,
          Stream.concat(script.failure === undefined ? Stream.empty : Stream.fail(script.failure))
        )
        expect(yield* runAsStream(Pull.stream(Effect.succeed(pullOf(script))))).toEqual(yield* runAsStream(reference))
      })
  )

  it.effect.prop(
    "Pull.open of a plain Stream gives the elements Stream.toPull gives",
    [Script],
    ([script]) =>
      Effect.scoped(Effect.gen(function*() {
        const plain = Stream.fromIterable(script.chunks.flat()).pipe(
          Stream.concat(script.failure === undefined ? Stream.empty : Stream.fail(script.failure))
        )
        const opened = yield* drain(yield* Pull.open(plain))
        const reference = yield* drain(yield* Stream.toPull(plain))
        expect(opened.chunks.flat()).toEqual(reference.chunks.flat())
        expect(opened.failure).toEqual(reference.failure)
      }))
  )

  it.effect("a source that fails to open fails the first pull, and is opened only when first pulled", () =>
    Effect.scoped(Effect.gen(function*() {
      let opened = 0
      const pull = yield* Pull.open(Pull.stream(Effect.suspend(() => {
        opened += 1
        return Effect.fail("cannot open")
      })))
      expect(opened).toBe(0)
      expect(yield* Effect.flip(pull)).toEqual(Option.some("cannot open"))
      expect(opened).toBe(1)
    })))
})

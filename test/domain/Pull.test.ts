/**
 * The pull plumbing the runner and the streamed answer share (src/domain/Pull.ts): a Stream made
 * with `Pull.stream` gives the same elements, chunk for chunk, and the same end or failure, whether
 * it is pulled directly (`Pull.open`, as the gateway does) or run as any other Stream; `open`
 * of a plain Stream gives what Stream's own `toPull` gives; and a pull's feed, taken where it can
 * give and pulled where it cannot, gives what pulling alone gives, through `mapChunk`, `prepend`
 * and `open`.
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

/**
 * A pull that plays the script, one chunk a pull, and a feed of the same script: it gives each
 * chunk at once or, every other one, says "later" first (and is ready on the next turn of the
 * event loop), and leaves the end and the failure to the pull.
 */
const scripted = ({ chunks, failure }: Script) => {
  let next = 0
  let held = true
  const pull: Pull.Pull<string, string> = Effect.suspend(() =>
    next < chunks.length
      ? Pull.emit(chunks[next++]!)
      : failure === undefined
      ? Pull.end
      : Pull.fail(failure)
  )
  const feed: Pull.Feed<string> = {
    take: () => {
      if (next >= chunks.length) return "pull"
      held = !held
      return held ? "later" : Chunk.unsafeFromArray(chunks[next++]!)
    },
    whenReady: (ready) => setImmediate(ready)
  }
  return { pull, feed }
}

const pullOf = (script: Script) => scripted(script).pull

const fedPullOf = (script: Script) => {
  const { feed, pull } = scripted(script)
  return Pull.withFeed(pull, feed)
}

/**
 * Everything a pull gives until its end, taken from its feed where the feed gives (waiting when it
 * says "later") and pulled where it says "pull".
 */
const drainFed = (pull: Pull.Pull<string, string>) =>
  Effect.gen(function*() {
    const feed = Pull.feedOf(pull)
    expect(feed).toBeDefined()
    const chunks: Array<ReadonlyArray<string>> = []
    while (true) {
      const taken = feed!.take()
      if (taken === "later") {
        yield* Effect.async<void>((resume) => feed!.whenReady(() => resume(Effect.void)))
        continue
      }
      if (taken !== "pull") {
        chunks.push(Chunk.toReadonlyArray(taken))
        continue
      }
      const step = yield* Effect.either(pull)
      if (Either.isLeft(step)) return { chunks, failure: Option.getOrUndefined(step.left) }
      chunks.push(Chunk.toReadonlyArray(step.right))
    }
  })

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

  it.effect.prop(
    "a feed taken where it gives and pulled where it cannot gives what pulling alone gives, through mapChunk, prepend and open",
    [Script, FastCheck.array(FastCheck.string(), { maxLength: 3 })],
    ([script, first]) =>
      Effect.scoped(Effect.gen(function*() {
        const shout = (elements: Chunk.Chunk<string>) => Chunk.map(elements, (element) => element.toUpperCase())
        const composed = (source: Pull.Pull<string, string>) =>
          Effect.map(
            Pull.open(
              Pull.stream(Effect.succeed(Pull.mapChunk(Pull.prepend(Chunk.unsafeFromArray(first), source), shout)))
            ),
            (opened) => opened
          )
        // The feed of `open` has nothing to give until the first pull has opened its source.
        const fed = yield* composed(fedPullOf(script))
        expect(Pull.feedOf(fed)?.take()).toBe("pull")
        expect(yield* drainFed(fed)).toEqual(yield* drain(yield* composed(pullOf(script))))
      }))
  )

  it.effect("a pull without a feed has none through mapChunk, prepend and open", () =>
    Effect.scoped(Effect.gen(function*() {
      const plain = Pull.mapChunk(
        Pull.prepend(Chunk.of("a"), pullOf({ chunks: [["b"]], failure: undefined })),
        (c) => c
      )
      expect(Pull.feedOf(plain)).toBeUndefined()
      const opened = yield* Pull.open(Pull.stream(Effect.succeed(plain)))
      yield* opened
      expect(Pull.feedOf(opened)?.take()).toBe("pull")
    })))

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

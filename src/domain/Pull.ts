/**
 * A pull: the next elements of a stream, failing with `None` at its end and with `Some(error)` when
 * it fails. The run's events travel as pulls from the provider's reads to the client's writes: each
 * network read is pulled once, mapped, and written once, with no Stream stage, queue or fiber of
 * its own in between.
 *
 * Where an API takes a Stream (an AgentRunner's `stream`, a streamed HttpServerResponse's body),
 * `stream` makes one that is a pull underneath: the gateway's own consumers (`open`) pull it
 * directly, any other consumer runs it as the Stream it is. A Stream's machinery costs an answer
 * more than the rest of its path (bench/README.md).
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

export type Pull<A, E> = Effect.Effect<Chunk.Chunk<A>, Option.Option<E>>

/** The pull's end. */
export const end: Pull<never, never> = Effect.fail(Option.none())

/** A pull's failure with `error`. */
export const fail = <E>(error: E): Pull<never, E> => Effect.fail(Option.some(error))

/** A pull's elements. */
export const emit = <A>(elements: ReadonlyArray<A>): Pull<A, never> => Effect.succeed(Chunk.unsafeFromArray(elements))

/** The pull with its elements mapped, a chunk at a time. */
export const mapChunk = <A, B, E>(pull: Pull<A, E>, f: (elements: Chunk.Chunk<A>) => Chunk.Chunk<B>): Pull<B, E> =>
  Effect.map(pull, f)

/** Pulls until some elements come (or the end, then none). */
export const firstElements = <A, E>(pull: Pull<A, E>): Effect.Effect<Chunk.Chunk<A>, E> =>
  Effect.matchEffect(pull, {
    onFailure: Option.match({ onNone: () => Effect.succeed(Chunk.empty<A>()), onSome: Effect.fail }),
    onSuccess: (elements) => Chunk.isEmpty(elements) ? firstElements(pull) : Effect.succeed(elements)
  })

/** `first` (already pulled), then the rest of `pull`. */
export const prepend = <A, E>(first: Chunk.Chunk<A>, pull: Pull<A, E>): Pull<A, E> => {
  let head: Chunk.Chunk<A> | undefined = first
  return Effect.suspend(() => {
    if (head === undefined) return pull
    const elements = head
    head = undefined
    return Effect.succeed(elements)
  })
}

const PullSource: unique symbol = Symbol.for("clawgate/Pull/source")

/** A Stream that `stream` made: the opening of its pull, for `open`. */
interface PullStream<A, E> extends Stream.Stream<A, E> {
  readonly [PullSource]: Effect.Effect<Pull<A, E>, E, Scope.Scope>
}

const isPullStream = <A, E>(stream: Stream.Stream<A, E>): stream is PullStream<A, E> => PullSource in stream

/** A Stream of the pull that `source` opens (in the scope of the stream's consumer). */
export const stream = <A, E>(source: Effect.Effect<Pull<A, E>, E, Scope.Scope>): Stream.Stream<A, E> =>
  Object.assign(Stream.unwrapScoped(Effect.map(source, Stream.repeatEffectChunkOption)), { [PullSource]: source })

/**
 * The pull of a stream, opened on its first pull in the scope: a stream that `stream` made is
 * pulled directly, any other through Stream's own `toPull`.
 */
export const open = <A, E>(from: Stream.Stream<A, E>): Effect.Effect<Pull<A, E>, never, Scope.Scope> => {
  if (!isPullStream(from)) return Stream.toPull(from)
  const source = from[PullSource]
  return Effect.map(Effect.scope, (scope) => {
    let pull: Pull<A, E> | undefined
    return Effect.suspend(() =>
      pull ??
        Effect.flatMap(Effect.mapError(Effect.provideService(source, Scope.Scope, scope), Option.some), (opened) => {
          pull = opened
          return opened
        })
    )
  })
}

/**
 * A pull: the next elements of a stream, failing with `None` at its end and with `Some(error)` when
 * it fails. The run's events travel as pulls from the provider's reads to the client's writes: each
 * network read is pulled once, mapped, and written once, with no Stream stage, queue or fiber of
 * its own in between (a Stream is made only where an API takes one).
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

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

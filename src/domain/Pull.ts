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

/**
 * What a feed's `take` gives: the elements there now; `"later"` when there are none yet (`whenReady`
 * then says when there may be); or `"pull"` when what comes next must be pulled as the Effect (the
 * end, a failure, a step with effects of its own).
 */
export type Taken<A> = Chunk.Chunk<A> | "later" | "pull"

/**
 * A pull's plain side: the elements that need no Effect to get (a network read, mapped), taken
 * with plain calls. A consumer that takes them this way costs a read no fiber resumption and no
 * Effect; whatever the feed cannot give is still its pull's, so that the two take turns.
 */
export interface Feed<A> {
  readonly take: () => Taken<A>
  /** Calls `ready` once, when `take` may give something again (after it said `"later"`). */
  readonly whenReady: (ready: () => void) => void
}

/** Pulls that have a feed, by pull. Kept aside so that a pull stays an Effect like any other. */
const feeds = new WeakMap<Pull<unknown, unknown>, Feed<unknown>>()

/**
 * The pull's feed, if it has one. (`withFeed`, the map's only writer, keeps a pull's feed of the
 * pull's own element type: the map's type cannot say so.)
 */
export const feedOf = <A, E>(pull: Pull<A, E>): Feed<A> | undefined => feeds.get(pull) as Feed<A> | undefined

/** The pull, with `feed` as its plain side. */
export const withFeed = <A, E>(pull: Pull<A, E>, feed: Feed<A> | undefined): Pull<A, E> => {
  if (feed !== undefined) feeds.set(pull, feed)
  return pull
}

/** The feed with its elements mapped, a chunk at a time. */
export const mapFeed = <A, B>(
  feed: Feed<A> | undefined,
  f: (elements: Chunk.Chunk<A>) => Chunk.Chunk<B>
): Feed<B> | undefined =>
  feed === undefined ? undefined : {
    take: (): Taken<B> => {
      const taken = feed.take()
      return typeof taken === "string" ? taken : f(taken)
    },
    whenReady: feed.whenReady
  }

/**
 * The feed of whatever `current` gives now (a pull that changes: one opened late, a step's): while
 * it gives none, what comes next is its pull's.
 */
export const feedOfCurrent = <A>(current: () => Feed<A> | undefined): Feed<A> => ({
  take: () => current()?.take() ?? "pull",
  whenReady: (ready) => {
    const feed = current()
    if (feed === undefined) ready()
    else feed.whenReady(ready)
  }
})

/** The pull's end. */
export const end: Pull<never, never> = Effect.fail(Option.none())

/** A pull's failure with `error`. */
export const fail = <E>(error: E): Pull<never, E> => Effect.fail(Option.some(error))

/** A pull's elements. */
export const emit = <A>(elements: ReadonlyArray<A>): Pull<A, never> => Effect.succeed(Chunk.unsafeFromArray(elements))

/** The pull with its elements mapped, a chunk at a time. */
export const mapChunk = <A, B, E>(pull: Pull<A, E>, f: (elements: Chunk.Chunk<A>) => Chunk.Chunk<B>): Pull<B, E> =>
  withFeed(Effect.map(pull, f), mapFeed(feedOf(pull), f))

/** Pulls until some elements come (or the end, then none). */
export const firstElements = <A, E>(pull: Pull<A, E>): Effect.Effect<Chunk.Chunk<A>, E> =>
  Effect.matchEffect(pull, {
    onFailure: Option.match({ onNone: () => Effect.succeed(Chunk.empty<A>()), onSome: Effect.fail }),
    onSuccess: (elements) => Chunk.isEmpty(elements) ? firstElements(pull) : Effect.succeed(elements)
  })

/** `first` (already pulled), then the rest of `pull`. */
export const prepend = <A, E>(first: Chunk.Chunk<A>, pull: Pull<A, E>): Pull<A, E> => {
  let head: Chunk.Chunk<A> | undefined = first
  const rest = feedOf(pull)
  return withFeed(
    Effect.suspend(() => {
      if (head === undefined) return pull
      const elements = head
      head = undefined
      return Effect.succeed(elements)
    }),
    rest === undefined ? undefined : {
      take: () => {
        if (head === undefined) return rest.take()
        const elements = head
        head = undefined
        return elements
      },
      whenReady: rest.whenReady
    }
  )
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
    let feed: Feed<A> | undefined
    return withFeed(
      Effect.suspend(() =>
        pull ??
          Effect.flatMap(Effect.mapError(Effect.provideService(source, Scope.Scope, scope), Option.some), (opened) => {
            pull = opened
            feed = feedOf(opened)
            return opened
          })
      ),
      // Opened by its first pull, as the Effect it is: until then there is nothing to take.
      feedOfCurrent(() => feed)
    )
  })
}

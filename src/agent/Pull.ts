/**
 * A stream as a pull (its next elements, failing with none at its end), opened in a scope.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"

/** A stream's pull: its next elements, failing with none at its end. */
export type Pull<A, E> = Effect.Effect<Chunk.Chunk<A>, Option.Option<E>>

/**
 * Opens a pull and pulls until its first elements (or its end), in a scope of its own that is
 * closed if that fails or is interrupted. `rest` pulls the others.
 */
export const pullFirst = <A, E>(open: Effect.Effect<Pull<A, E>, never, Scope.Scope>) =>
  Effect.flatMap(
    Effect.scope,
    (parent) =>
      Effect.flatMap(Scope.fork(parent, ExecutionStrategy.sequential), (scope) =>
        Effect.gen(function*() {
          const pull = yield* Scope.extend(open, scope)
          let first = Chunk.empty<A>()
          let ended = false
          while (Chunk.isEmpty(first) && !ended) {
            first = yield* Effect.catchAll(
              pull,
              Option.match({
                onNone: () => {
                  ended = true
                  return Effect.succeed(Chunk.empty<A>())
                },
                onSome: (error) => Effect.fail(error)
              })
            )
          }
          const rest: Pull<A, E> = ended ? Effect.fail(Option.none()) : pull
          return { first, rest }
        }).pipe(Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))))
  )

/**
 * Node's callbacks as one Effect step, on the request path (reading a body, a provider's plain
 * answer).
 */
import * as Effect from "effect/Effect"

/**
 * `Effect.async` whose clean-up runs if the fiber ends before the outcome comes (it was
 * interrupted: the client left, the drain's deadline passed). `register` starts the work, calls
 * `resume` once with its outcome, and returns the clean-up that stops it.
 *
 * The clean-up is an observer of the fiber rather than `Effect.async`'s canceller: the canceller
 * wraps the wait in an interruptible region, which cost a plain request several percent of its
 * throughput per call (bench/README.md). It runs when the fiber ends, a moment after the
 * interruption, once the fiber's finalizers have run.
 */
export const cutOnExit = <A, E>(
  register: (resume: (outcome: Effect.Effect<A, E>) => void) => () => void
): Effect.Effect<A, E> =>
  Effect.withFiberRuntime<A, E>((fiber) =>
    Effect.async<A, E>((resume) => {
      let settled = false
      let cut = () => {}
      const ended = () => {
        if (settled) return
        settled = true
        cut()
      }
      // Observed before the work starts, which may come to its outcome at once.
      fiber.addObserver(ended)
      cut = register((outcome) => {
        if (settled) return
        settled = true
        fiber.removeObserver(ended)
        resume(outcome)
      })
    })
  )

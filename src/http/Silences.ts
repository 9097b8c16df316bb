/**
 * Silences of open streams, watched by one timer for all of them: a watched stream that has
 * written nothing for its interval is told so (a streamed answer then sends a keep-alive comment,
 * or stops waiting for its first content). Writing costs a stream one assignment, and waiting
 * costs it no fiber or timer of its own.
 *
 * Each interval has one timer that ticks four times per interval while streams are watched at it,
 * so a silence is noticed between one and one and a quarter intervals after the last write.
 */

const TICKS_PER_INTERVAL = 4

interface Watched {
  silentTicks: number
  readonly onSilence: () => void
}

interface Wheel {
  readonly watched: Set<Watched>
  timer: ReturnType<typeof setInterval> | undefined
}

const wheels = new Map<number, Wheel>()

const tick = (wheel: Wheel) => () => {
  for (const watched of wheel.watched) {
    watched.silentTicks += 1
    if (watched.silentTicks < TICKS_PER_INTERVAL) continue
    watched.silentTicks = 0
    watched.onSilence()
  }
}

export interface Watch {
  /** The stream wrote: its silence starts over. */
  readonly wrote: () => void
  /** No more watching (idempotent). */
  readonly stop: () => void
}

/** Calls `onSilence` each time the stream has written nothing for `intervalMs` (until `stop`). */
export const watch = (intervalMs: number, onSilence: () => void): Watch => {
  let wheel = wheels.get(intervalMs)
  if (wheel === undefined) {
    wheel = { watched: new Set(), timer: undefined }
    wheels.set(intervalMs, wheel)
  }
  const watched: Watched = { silentTicks: 0, onSilence }
  wheel.watched.add(watched)
  if (wheel.timer === undefined) {
    wheel.timer = setInterval(tick(wheel), Math.max(1, intervalMs / TICKS_PER_INTERVAL))
    // The watch keeps no process alive: the streams' sockets do.
    wheel.timer.unref()
  }
  const own = wheel
  return {
    wrote: () => {
      watched.silentTicks = 0
    },
    stop: () => {
      if (!own.watched.delete(watched) || own.watched.size > 0 || own.timer === undefined) return
      clearInterval(own.timer)
      own.timer = undefined
    }
  }
}

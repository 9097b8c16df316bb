/**
 * A provider's SSE answer as the run's events, one step per network read: the read is parsed as SSE
 * (./SseData.ts) and each event's data read into events by the API's reader, with no Stream stage or
 * fiber of its own, and the next read waits until the events have been pulled (so a client that
 * stops reading holds the provider back, instead of the gateway buffering). What is there now is
 * also given without an Effect, as the pull's feed (domain/Pull.ts).
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { AgentEvent } from "../domain/AgentEvent.js"
import { type AgentError, ProviderFailed } from "../domain/Errors.js"
import * as Pull from "../domain/Pull.js"
import type * as HttpCall from "./HttpCall.js"
import * as SseData from "./SseData.js"

/** An API's reading of its stream's events. */
export interface StreamReader {
  /** The events of one SSE event's data, put in `events`; `done` once the answer is over. */
  readonly onEvent: (data: string, events: Array<AgentEvent>) => Either.Either<"more" | "done", ProviderFailed>
  /** The last events at the body's end, or the failure of a stream cut short. */
  readonly onEnd: () => Either.Either<ReadonlyArray<AgentEvent>, ProviderFailed>
}

const STREAMING = { stream: true }

/**
 * The events of the answer's next reads, until the reader says the answer is over or the body ends
 * (then the reader's last events, or its failure).
 */
export const eventsOf = (
  provider: string,
  answer: HttpCall.Answer,
  reader: StreamReader
): Pull.Pull<AgentEvent, AgentError> => {
  const decoder = new TextDecoder()
  let done = false
  /** A failure in a piece, kept for the next pull, so that the events before it still go out. */
  let failure: ProviderFailed | undefined
  /** The events of the piece being read, while it is. */
  let reading: Array<AgentEvent> | undefined
  const parser = SseData.makeDataParser((data) => {
    if (reading === undefined || failure !== undefined || done) return
    const read = reader.onEvent(data, reading)
    if (Either.isLeft(read)) failure = read.left
    // What follows the answer's end is not read.
    else if (read.right === "done") done = true
  })

  /**
   * The events in a piece of the body (none yet, for a piece in the middle of an event); once some
   * come, the answer has started as far as its time limit goes. Nothing of the piece is kept until
   * the next one: what lives that long (a second, for a model's tokens) is promoted to the old
   * generation, with all it points to, and becomes garbage only a full collection frees.
   */
  const eventsIn = (piece: Buffer): Array<AgentEvent> => {
    const events: Array<AgentEvent> = []
    reading = events
    if (parser.feed(decoder.decode(piece, STREAMING)) !== undefined) {
      failure ??= new ProviderFailed({ provider, detail: `${provider} sent an event too large to read` })
    }
    reading = undefined
    if (events.length > 0) answer.started()
    return events
  }

  /** The events of the reads there now, without an Effect; the end and failures are the pull's. */
  const feed: Pull.Feed<AgentEvent> = {
    take: () => {
      for (;;) {
        if (failure !== undefined || done) return "pull"
        const piece = answer.take()
        if (piece === "later") return "later"
        if (piece === "read") return "pull"
        const events = eventsIn(piece)
        if (events.length > 0) return Chunk.unsafeFromArray(events)
      }
    },
    whenReady: answer.whenReady
  }

  const next: Pull.Pull<AgentEvent, AgentError> = Effect.suspend(() => {
    if (failure !== undefined) {
      done = true
      const error = failure
      failure = undefined
      return Pull.fail(error)
    }
    if (done) return Pull.end
    return Effect.matchEffect(answer.read, {
      onFailure: Pull.fail,
      onSuccess: (piece) => {
        if (piece === undefined) {
          done = true
          return Either.match(reader.onEnd(), { onLeft: Pull.fail, onRight: Pull.emit })
        }
        const events = eventsIn(piece)
        return events.length === 0 ? next : Pull.emit(events)
      }
    })
  })
  return Pull.withFeed(next, feed)
}

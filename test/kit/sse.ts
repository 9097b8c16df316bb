/**
 * Server-Sent Events, read raw: a body's events (each event's text, without the blank line that
 * ends it) as they arrive, from a fetch `Response`, a node:http answer, or a whole body at once.
 */
import * as Effect from "effect/Effect"

export interface SseEvents {
  /** The next event, or `undefined` once the body has ended. */
  readonly next: Effect.Effect<string | undefined>
  /** The events up to and including the first that passes `test`; fails if the body ends first. */
  readonly until: (test: (event: string) => boolean) => Effect.Effect<ReadonlyArray<string>>
  /** Every event to the end of the body; fails if the body ends inside an event. */
  readonly rest: Effect.Effect<ReadonlyArray<string>>
  /** The rest of the body as raw text (for an answer that is not SSE). */
  readonly text: Effect.Effect<string>
}

/** The whole events at the start of `text`, and what is left after them. */
const splitEvents = (text: string): { readonly events: Array<string>; readonly rest: string } => {
  const events = text.split("\n\n")
  const rest = events.pop() ?? ""
  return { events, rest }
}

/** Reads the events of a body given as its pieces (text, or bytes in UTF-8). */
export const sseEvents = (pieces: AsyncIterator<string | Uint8Array>): SseEvents => {
  const decoder = new TextDecoder()
  /** Events read and not yet taken, and the text of the one still arriving. */
  const ready: Array<string> = []
  let buffer = ""
  let ended = false
  const more = async () => {
    const read = await pieces.next()
    if (read.done === true) ended = true
    else {
      const { events, rest } = splitEvents(
        buffer + (typeof read.value === "string" ? read.value : decoder.decode(read.value, { stream: true }))
      )
      ready.push(...events)
      buffer = rest
    }
  }
  const nextEvent = async (): Promise<string | undefined> => {
    while (true) {
      const event = ready.shift()
      if (event !== undefined) return event
      if (ended) {
        if (buffer !== "") throw new Error(`the body ended inside an event: ${JSON.stringify(buffer)}`)
        return undefined
      }
      await more()
    }
  }
  return {
    next: Effect.promise(nextEvent),
    until: (test) =>
      Effect.promise(async () => {
        const events: Array<string> = []
        for (let event = await nextEvent(); event !== undefined; event = await nextEvent()) {
          events.push(event)
          if (test(event)) return events
        }
        throw new Error(`the stream ended before the awaited event: ${events.join(" | ")}`)
      }),
    rest: Effect.promise(async () => {
      const events: Array<string> = []
      for (let event = await nextEvent(); event !== undefined; event = await nextEvent()) events.push(event)
      return events
    }),
    text: Effect.promise(async () => {
      while (!ended) await more()
      return [...ready.splice(0).map((event) => `${event}\n\n`), buffer].join("")
    })
  }
}

/** The events of a fetch answer's body, as they arrive. */
export const sseReader = (response: Response): SseEvents => {
  const body = response.body
  if (body === null) throw new Error("the response has no body")
  const reader = body.getReader()
  return sseEvents({ next: () => reader.read().then((read) => read.done ? { done: true, value: undefined } : read) })
}

/** The events of a whole body; it must end with the blank line of its last event. */
export const eventsOf = (body: string): ReadonlyArray<string> => {
  const { events, rest } = splitEvents(body)
  if (rest !== "") throw new Error(`the SSE body does not end with a blank line: ${JSON.stringify(body)}`)
  return events
}

/**
 * The data of each Server-Sent Event in a text that arrives in pieces: the part of
 * `@effect/experimental`'s `Sse.makeParser` that the providers use (no event names, ids or retry
 * times). That parser looks at every character of the stream one at a time, which cost a streamed
 * answer ~9% of its CPU (bench/README.md); this one finds each line's end with `indexOf`. Its tests
 * hold it to the library's parser over random streams cut at random places.
 */

/**
 * The most an event's data, or any one line, may hold: 1 MiB. The library's parser caps what is
 * unfinished when a piece ends (64 KiB by default), so an event was taken or refused by where the
 * network happened to cut it; this cap is on the event and the line themselves, however they arrive.
 * A tool call's arguments may come whole in one event (Ollama sends them so), hence more than 64 KiB.
 */
export const MAX_EVENT_SIZE = 1024 * 1024

const LF = 10
const COLON = 58
const SPACE = 32

export interface DataParser {
  /**
   * Reads a piece of the stream; `tooLarge` when an event's data or a line outgrows `maxEventSize`
   * (the events of the piece are not all given then, and the stream is not to be read further).
   */
  readonly feed: (piece: string) => "tooLarge" | undefined
}

/** A parser that gives each event's data (its `data:` lines joined by `\n`) to `onData` as the event ends. */
export const makeDataParser = (onData: (data: string) => void, maxEventSize = MAX_EVENT_SIZE): DataParser => {
  /** The line not ended yet. */
  let rest = ""
  /** The event's data lines so far, each followed by `\n`; empty when it has none. */
  let data = ""
  /** The last piece ended with `\r`: a `\n` that starts the next one ends the same line. */
  let afterCr = false
  let tooLarge = false

  const line = (text: string, from: number, to: number) => {
    if (to - from > maxEventSize) tooLarge = true
    else if (from === to) {
      if (data !== "") onData(data.slice(0, -1))
      data = ""
    } else if (text.startsWith("data", from) && (to === from + 4 || text.charCodeAt(from + 4) === COLON)) {
      const start = from + 5 < to && text.charCodeAt(from + 5) === SPACE ? from + 6 : from + 5
      data += start < to ? `${text.slice(start, to)}\n` : "\n"
      // (`data` ends with a `\n` that the event's data does not.)
      if (data.length - 1 > maxEventSize) tooLarge = true
    }
  }

  return {
    feed: (piece) => {
      if (tooLarge) return "tooLarge"
      if (piece === "") return undefined
      const text = rest + piece
      let at = afterCr && text.charCodeAt(0) === LF ? 1 : 0
      afterCr = false
      let lf = text.indexOf("\n", at)
      let cr = text.indexOf("\r", at)
      while ((lf >= 0 || cr >= 0) && !tooLarge) {
        const end = cr < 0 || (lf >= 0 && lf < cr) ? lf : cr
        line(text, at, end)
        at = end + 1
        if (end === cr) {
          if (at === text.length) afterCr = true
          else if (text.charCodeAt(at) === LF) at += 1
        }
        if (lf >= 0 && lf < at) lf = text.indexOf("\n", at)
        if (cr >= 0 && cr < at) cr = text.indexOf("\r", at)
      }
      rest = at === 0 ? text : text.slice(at)
      // A line not ended yet that is already too long is refused now, not once it ends.
      if (rest.length > maxEventSize) tooLarge = true
      if (tooLarge) {
        rest = ""
        data = ""
        return "tooLarge"
      }
      return undefined
    }
  }
}

/**
 * The data of each Server-Sent Event in a text that arrives in pieces: the part of
 * `@effect/experimental`'s `Sse.makeParser` that the providers use (no event names, ids or retry
 * times). That parser looks at every character of the stream one at a time, which cost a streamed
 * answer ~9% of its CPU (bench/README.md); this one finds each line's end with `indexOf`. Its tests
 * hold it to the library's parser over random streams cut at random places.
 */

/** The most an event may hold, as the library's default: 64 KiB of unfinished line and data. */
export const MAX_EVENT_SIZE = 64 * 1024

const LF = 10
const COLON = 58
const SPACE = 32

export interface DataParser {
  /** Reads a piece of the stream; `tooLarge` when an event outgrows `maxEventSize` (the parser then starts over). */
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

  const line = (text: string, from: number, to: number) => {
    if (from === to) {
      if (data !== "") onData(data.slice(0, -1))
      data = ""
    } else if (text.startsWith("data", from) && (to === from + 4 || text.charCodeAt(from + 4) === COLON)) {
      const start = from + 5 < to && text.charCodeAt(from + 5) === SPACE ? from + 6 : from + 5
      data += start < to ? `${text.slice(start, to)}\n` : "\n"
    }
  }

  return {
    feed: (piece) => {
      if (piece === "") return undefined
      const text = rest + piece
      let at = afterCr && text.charCodeAt(0) === LF ? 1 : 0
      afterCr = false
      let lf = text.indexOf("\n", at)
      let cr = text.indexOf("\r", at)
      while (lf >= 0 || cr >= 0) {
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
      if (rest.length + data.length > maxEventSize) {
        rest = ""
        data = ""
        return "tooLarge"
      }
      return undefined
    }
  }
}

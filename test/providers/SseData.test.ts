/**
 * The providers' SSE reader (src/providers/SseData.ts) against `@effect/experimental`'s parser:
 * over random streams of data lines, comments, other fields and every kind of line end, cut into
 * pieces at random places, it gives the data of the same events as the library's parser does when
 * given the whole stream. Unlike the library, which caps what is unfinished when a piece ends, it
 * refuses an event whose data, or a line, is over the limit however the stream is cut, and only those.
 */
import * as Sse from "@effect/experimental/Sse"
import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import { makeDataParser } from "../../src/providers/SseData.js"

/** What the library's parser gives for a whole stream: each event's data, and whether it refused it. */
const libraryData = (text: string, maxEventSize?: number) => {
  const data: Array<string> = []
  const parser = Sse.makeParser((event) => {
    if (event._tag === "Event") data.push(event.data)
  }, maxEventSize === undefined ? undefined : { maxEventSize })
  const refused = parser.feed(text) !== undefined
  return { data, refused }
}

/** What this parser gives for the stream cut at `cuts`. */
const ourData = (text: string, cuts: ReadonlyArray<number>, maxEventSize?: number) => {
  const data: Array<string> = []
  const parser = makeDataParser((event) => data.push(event), maxEventSize)
  let refused = false
  let from = 0
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b).concat(text.length)) {
    if (parser.feed(text.slice(from, cut)) !== undefined) refused = true
    from = cut
  }
  return { data, refused }
}

const lineEnd = FastCheck.constantFrom("\n", "\r\n", "\r")
const value = FastCheck.string({ unit: FastCheck.constantFrom("a", "b", " ", ":", "é", "{", "}", "\"", "\u2028") })
const line = FastCheck.oneof(
  value.map((text) => `data: ${text}`),
  value.map((text) => `data:${text}`),
  FastCheck.constant("data"),
  value.map((text) => `: ${text}`),
  value.map((text) => `event: ${text}`),
  value.map((text) => `id: ${text}`),
  value.map((text) => `datum: ${text}`),
  FastCheck.constant("")
)
/**
 * A stream: its text with `\n` line ends, the same lines with any line ends (`\n`, `\r\n`, `\r`:
 * one and the same to SSE), and the places to cut the latter. (The library's parser is given `\n`
 * line ends only: after a lone `\r` it misreads the lines that follow in the same piece.)
 */
const stream = FastCheck.array(FastCheck.tuple(line, lineEnd), { maxLength: 30 }).chain((lines) => {
  // (A blank line ended by `\n` right after a `\r` would make a `\r\n`: it is ended by `\r\n` instead.)
  const text = lines.map(([line, end], i) =>
    line + (line === "" && end === "\n" && lines[i - 1]?.[1] === "\r" ? "\r\n" : end)
  )
    .join("")
  return FastCheck.record({
    lf: FastCheck.constant(lines.map(([line]) => `${line}\n`).join("")),
    text: FastCheck.constant(text),
    cuts: FastCheck.array(FastCheck.integer({ min: 0, max: text.length }), { maxLength: 12 })
  })
})

describe("the providers' SSE reader", () => {
  it.prop("gives the data of the events the library's parser gives, whatever the line ends and cuts", [stream], ([
    { cuts, lf, text }
  ]) => {
    expect(ourData(text, cuts).data).toEqual(libraryData(lf).data)
  })

  it.prop(
    "refuses a stream with an event's data or a line over the limit, wherever it is cut, and reads the others",
    [stream],
    ([{ cuts, lf, text }]) => {
      const limit = 16
      // every event's data, the last one's too when no blank line ends it
      const events = libraryData(`${lf}\n`).data
      const tooLarge = events.some((data) => data.length > limit) ||
        lf.split("\n").some((line) => line.length > limit)
      const ours = ourData(text, cuts, limit)
      expect(ours.refused).toBe(tooLarge)
      if (!tooLarge) expect(ours.data).toEqual(libraryData(lf).data)
    }
  )

  it("reads an OpenAI stream's events", () => {
    const text = "data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":2}\r\n\r\ndata: [DONE]\n\n"
    expect(ourData(text, [3, 9, 27, 28, 40]).data).toEqual(["{\"a\":1}", "{\"b\":2}", "[DONE]"])
  })
})

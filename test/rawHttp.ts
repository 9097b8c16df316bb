/**
 * Chat requests over raw node:http, for tests that need an answer as it arrives (its head first,
 * then its SSE events on demand) or a gateway in another process.
 */
import * as Effect from "effect/Effect"
import * as NodeHttp from "node:http"

const PATH = "/v1/chat/completions"

/** A body's SSE events (each event's text, without the blank line), read on demand. */
export interface SseEvents {
  /** Events up to and including the first that passes `test`. */
  readonly until: (test: (event: string) => boolean) => Effect.Effect<ReadonlyArray<string>>
  /** Every event to the end of the body. */
  readonly rest: Effect.Effect<ReadonlyArray<string>>
  /** The body's raw text to its end (for answers that are not SSE). */
  readonly text: Effect.Effect<string>
}

/** Reads the SSE events of a body given as its text chunks. */
export const sseEvents = (chunks: AsyncIterator<unknown>): SseEvents => {
  let buffer = ""
  let done = false
  const more = async () => {
    const read = await chunks.next()
    if (read.done === true) done = true
    else buffer += String(read.value)
  }
  const nextEvent = async (): Promise<string | undefined> => {
    while (true) {
      const end = buffer.indexOf("\n\n")
      if (end >= 0) {
        const event = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        return event
      }
      if (done) return undefined
      await more()
    }
  }
  return {
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
      if (buffer !== "") throw new Error(`the body ended inside an event: ${JSON.stringify(buffer)}`)
      return events
    }),
    text: Effect.promise(async () => {
      while (!done) await more()
      return buffer
    })
  }
}

/** An answer as it arrives: its head, and its SSE events read on demand. */
export interface OpenAnswer extends SseEvents {
  readonly status: number
  readonly header: (name: string) => string | undefined
}

/**
 * POSTs a chat request to `url` on a connection of its own (no agent, so no idle keep-alive
 * socket holds up a server's close) and gives the answer once its head arrives. The request is
 * destroyed when the enclosing scope closes.
 */
export const postTo = (url: string, payload: unknown, token: string) =>
  Effect.gen(function*() {
    const request = NodeHttp.request(`${url}${PATH}`, {
      method: "POST",
      agent: false,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => request.destroy()))
    const response = yield* Effect.async<NodeHttp.IncomingMessage, Error>((resume) => {
      request.on("response", (response) => resume(Effect.succeed(response)))
      request.on("error", (error) => resume(Effect.fail(error)))
      request.end(JSON.stringify(payload))
    })
    response.setEncoding("utf8")
    const events = sseEvents(response[Symbol.asyncIterator]())
    const answer: OpenAnswer = {
      status: response.statusCode ?? 0,
      header: (name) => {
        const value = response.headers[name]
        return Array.isArray(value) ? value.join(", ") : value
      },
      ...events
    }
    return answer
  })

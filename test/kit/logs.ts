/** The gateway's log, captured: give `testGateway` the layer as `logs`, take entries from `entries`. */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import * as Queue from "effect/Queue"

export interface LogEntry {
  readonly level: string
  readonly message: ReadonlyArray<unknown>
  readonly annotations: Readonly<Record<string, unknown>>
  /** Everything in the entry as text, cause included, to look for secrets in. */
  readonly text: string
}

/** A logger that puts every entry in a queue instead of on the console. */
export const capturingLogs = Effect.map(Queue.unbounded<LogEntry>(), (entries) => {
  const logger = Logger.make(({ annotations, cause, logLevel, message }) => {
    const messages: ReadonlyArray<unknown> = Array.isArray(message) ? message : [message]
    const fields = Object.fromEntries(HashMap.toEntries(annotations))
    Queue.unsafeOffer(entries, {
      level: logLevel.label,
      message: messages,
      annotations: fields,
      text: `${JSON.stringify(messages)} ${JSON.stringify(fields)} ${Cause.isEmpty(cause) ? "" : Cause.pretty(cause)}`
    })
  })
  return { entries, layer: Logger.replace(Logger.defaultLogger, logger) }
})

/** The next `request` log line (the one per request), skipping other entries. */
export const nextRequestLine = (entries: Queue.Dequeue<LogEntry>): Effect.Effect<LogEntry> =>
  Effect.flatMap(
    Queue.take(entries),
    (entry) => entry.message[0] === "request" ? Effect.succeed(entry) : nextRequestLine(entries)
  )

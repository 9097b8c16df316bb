/**
 * A streamed run as Server-Sent Events, whatever the protocol's frames (Chat Completions chunks,
 * Responses API events: the `Frames` the endpoint gives).
 *
 * The HTTP status waits for the first content: a run that fails before it gets a real error status.
 * Once the answer has started, a failure is sent in-band (`frames.failed`). If the agent stays
 * silent for `keepAliveMs`, the answer starts anyway and a `: keep-alive` comment goes out each
 * time the silence lasts that long again.
 *
 * How it runs: once started, the answer pulls the run once per read of the provider's answer and
 * sends that read's frames in one write, from the request's own fiber. Silences are watched by one
 * timer for all streams (./Silences.ts) and the keep-alive comments written from there; the
 * drain's deadline ends the answer from the request middleware (with `endInBand`). Only the wait
 * for the first content pulls the run from a fiber of its own, so that a silence can start the
 * answer meanwhile.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { AgentEvent } from "../domain/AgentEvent.js"
import type { AgentError, GatewayError } from "../domain/Errors.js"
import * as Pull from "../domain/Pull.js"
import * as Metrics from "../ops/Metrics.js"
import { CurrentRequest, type RequestFacts } from "./CurrentRequest.js"
import { notOnNode, serverResponseOf } from "./NodeRequest.js"
import * as Silences from "./Silences.js"

/** A protocol's frames of one answer, as text. */
export interface Frames {
  /** What the answer opens with, once it starts. */
  readonly start: string
  /** The frames of some events: empty when none of them is content. */
  readonly of: (events: Chunk.Chunk<AgentEvent>) => string
  /** The answer's end, once the run has ended (it may keep the answer first, and fail doing so). */
  readonly end: Effect.Effect<string, AgentError>
  /** After the 200, a failure goes in-band (none for a defect). */
  readonly failed: (error: GatewayError | undefined) => string
}

export interface SseOptions {
  /** The answer's frames, made once the request's facts are known. */
  readonly frames: (current: RequestFacts) => Frames
  readonly keepAliveMs: number
  readonly headers: Readonly<Record<string, string>>
}

export const SSE_KEEP_ALIVE = ": keep-alive\n\n"

/** The text of what the run said until its first content, and whether it ended there. */
interface Opening {
  readonly text: string
  readonly ended: boolean
}

/** Pulls the run until its first content or its end (then with the end's frames). */
const untilContent = (pull: Pull.Pull<AgentEvent, AgentError>, frames: Frames): Effect.Effect<Opening, AgentError> =>
  Effect.matchEffect(pull, {
    onFailure: Option.match({
      onNone: () => Effect.map(frames.end, (text) => ({ text, ended: true })),
      onSome: Effect.fail
    }),
    onSuccess: (events) => {
      const text = frames.of(events)
      return text === "" ? untilContent(pull, frames) : Effect.succeed({ text, ended: false })
    }
  })

/** Whether the fiber ended before the stream fell silent for `keepAliveMs`. */
const endsBeforeSilence = (fiber: Fiber.RuntimeFiber<unknown, unknown>, keepAliveMs: number) =>
  Effect.async<boolean>((resume) => {
    if (fiber.unsafePoll() !== null) return resume(Effect.succeed(true))
    const settle = (ended: boolean) => () => {
      silence.stop()
      fiber.removeObserver(onExit)
      resume(Effect.succeed(ended))
    }
    const onExit = settle(true)
    const silence = Silences.watch(keepAliveMs, settle(false))
    fiber.addObserver(onExit)
    return Effect.sync(() => {
      silence.stop()
      fiber.removeObserver(onExit)
    })
  })

/**
 * The frames, with the server tools the run calls noted for the log line, whatever the protocol
 * shows of them.
 */
const notingTools = (frames: Frames, current: RequestFacts): Frames => ({
  ...frames,
  of: (events) => {
    for (const event of events) {
      if (event._tag === "ToolActivity" && event.activity.status === "running") {
        current.tools = [...current.tools ?? [], event.activity.name]
      }
    }
    return frames.of(events)
  }
})

const encode = (text: string): Chunk.Chunk<Uint8Array> =>
  text === "" ? Chunk.empty() : Chunk.of(Buffer.from(text, "utf8"))

export const respond = Effect.fnUntraced(function*(
  events: Stream.Stream<AgentEvent, AgentError>,
  options: SseOptions
): Effect.fn.Return<
  HttpServerResponse.HttpServerResponse,
  AgentError,
  CurrentRequest | HttpServerRequest.HttpServerRequest | Scope.Scope
> {
  const current = yield* CurrentRequest
  const res = serverResponseOf(yield* HttpServerRequest.HttpServerRequest)
  if (res === undefined) return yield* notOnNode()
  yield* Metrics.activeStream
  const firstContent = yield* Metrics.timeToFirstContent(current.agentId ?? "-")
  const pull = yield* Pull.open(events)
  const frames = notingTools(options.frames(current), current)

  // Before committing to a 200: the first content, the end, or a failure (its real status); or a
  // silence of keepAliveMs, which starts the answer while the first content is still awaited.
  const opening = yield* Effect.fork(untilContent(pull, frames))
  const opened = yield* endsBeforeSilence(opening, options.keepAliveMs)
  let pending: string | undefined = frames.start
  let finished = false
  let next: Effect.Effect<Opening, AgentError> | undefined
  if (opened) {
    const { ended, text } = yield* Fiber.join(opening)
    if (!ended) yield* firstContent
    pending += text
    finished = ended
  } else {
    next = Effect.tap(Fiber.join(opening), ({ ended }) => ended ? Effect.void : firstContent)
  }

  // The answer has started: from here a failure goes in-band, and silences get keep-alive comments.
  current.endInBand = frames.failed
  const silence = Silences.watch(options.keepAliveMs, () => {
    if (res.headersSent && !res.writableEnded) res.write(SSE_KEEP_ALIVE)
  })
  yield* Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, Effect.sync(silence.stop)))

  /** The answer's next write: the frames of the run's next read, or its end. */
  const write = (text: string) => {
    silence.wrote()
    return encode(text)
  }
  const ending = (cause: Cause.Cause<Option.Option<AgentError>>) => {
    finished = true
    // Interrupted (the client went, or the drain's deadline ended the answer): nothing more to write.
    if (Cause.isInterruptedOnly(cause)) return Effect.failCause(Cause.map(cause, () => Option.none()))
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure)) {
      return Option.match(failure.value, {
        onNone: () =>
          Effect.map(
            Effect.catchAll(frames.end, (error) => Effect.succeed(frames.failed(error))),
            write
          ),
        onSome: (error) => Effect.succeed(write(frames.failed(error)))
      })
    }
    return Effect.as(Effect.logError("The agent run died mid-stream", cause), write(frames.failed(undefined)))
  }
  const nextWrite = Effect.suspend((): Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<never>> => {
    if (pending !== undefined) {
      const text = pending
      pending = undefined
      return Effect.succeed(write(text))
    }
    if (finished) return Effect.fail(Option.none())
    if (next !== undefined) {
      const opening = next
      next = undefined
      return Effect.matchCauseEffect(opening, {
        onFailure: (cause) => ending(Cause.map(cause, Option.some)),
        onSuccess: ({ ended, text }) => {
          finished = ended
          return Effect.succeed(write(text))
        }
      })
    }
    return Effect.matchCauseEffect(pull, {
      onFailure: ending,
      onSuccess: (events) => Effect.succeed(write(frames.of(events)))
    })
  })

  // The writes of the run's reads that need no Effect: the provider's pieces, once the answer is
  // under way; its start, end and failures are the pull's.
  const runFeed = Pull.feedOf(pull)
  const feed = runFeed && Pull.mapFeed(
    Pull.feedOfCurrent(() => pending !== undefined || finished || next !== undefined ? undefined : runFeed),
    (events) => write(frames.of(events))
  )

  return HttpServerResponse.stream(Pull.stream(Effect.succeed(Pull.withFeed(nextWrite, feed))), {
    contentType: "text/event-stream; charset=utf-8",
    headers: { "cache-control": "no-cache", "x-accel-buffering": "no", ...options.headers }
  })
})

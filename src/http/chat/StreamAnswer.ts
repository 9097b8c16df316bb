/**
 * A streamed run as Server-Sent Events, the way OpenAI streams: a role chunk, content and tool
 * call chunks as they come (`delta.tool_calls`: a call's index, id and name first, then pieces of
 * its arguments; in the legacy shape, `delta.function_call` for the first call only), the server
 * tools' activity as `delta.clawgate.tool` when the client opted in (nothing otherwise), one chunk
 * with the finish reason, an optional usage chunk, then `[DONE]`.
 *
 * The HTTP status waits for the first content: a run that fails before it gets a real error status.
 * Once the answer has started, a failure is sent in-band (`data: {"error": ...}`, then `[DONE]`).
 * If the agent stays silent for `keepAliveMs`, the answer starts anyway and a `: keep-alive` comment
 * goes out each time the silence lasts that long again.
 *
 * How it runs: once started, the answer pulls the run once per read of the provider's answer and
 * sends that read's chunks in one write, from the request's own fiber. Silences are watched by one
 * timer for all streams (../Silences.ts) and the keep-alive comments written from there; the
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
import * as Stream from "effect/Stream"
import type { AgentEvent, FinishReason } from "../../domain/AgentEvent.js"
import type { AgentError, GatewayError } from "../../domain/Errors.js"
import * as Pull from "../../domain/Pull.js"
import * as Metrics from "../../ops/Metrics.js"
import * as Telemetry from "../../ops/Telemetry.js"
import { CurrentRequest, type RequestFacts } from "../CurrentRequest.js"
import * as ErrorResponse from "../ErrorResponse.js"
import { notOnNode, serverResponseOf } from "../NodeRequest.js"
import * as Silences from "../Silences.js"
import * as Wire from "./ChatCompletionsWire.js"

export interface StreamOptions {
  readonly envelope: Wire.Envelope
  readonly calls: Wire.CallShape
  readonly includeUsage: boolean
  readonly keepAliveMs: number
  readonly headers: Readonly<Record<string, string>>
  /** Whether the server tools' activity goes out, as `delta.clawgate.tool` (the client opted in). */
  readonly toolEvents: boolean
}

/**
 * The answer's frames, as text: a chunk for each piece of content (none for usage and the finish
 * reason, which the answer's end carries), the end, or an error in-band.
 */
const makeFrames = (options: StreamOptions, current: RequestFacts) => {
  const chunk = Wire.chunkFrames(options.envelope)
  let finishReason: FinishReason = "stop"
  /** Each tool call's index in the answer, by id, in the order they started. */
  const toolCalls = new Map<string, number>()
  const toolCallChunk = (piece: Wire.ToolCallDelta) =>
    chunk(options.calls === "tool_calls" ? { tool_calls: [piece] } : { function_call: piece.function })
  const frameOf = (event: AgentEvent): string => {
    switch (event._tag) {
      case "TextDelta":
        return chunk({ content: event.text })
      case "ToolCallStart": {
        // The legacy shape holds one call: any after the first is left out, its pieces with it.
        if (options.calls === "function_call" && toolCalls.size > 0) return ""
        const index = toolCalls.size
        toolCalls.set(event.id, index)
        return toolCallChunk({ index, id: event.id, type: "function", function: { name: event.name, arguments: "" } })
      }
      case "ToolCallDelta": {
        const index = toolCalls.get(event.id)
        return index === undefined || event.arguments === ""
          ? ""
          : toolCallChunk({ index, function: { arguments: event.arguments } })
      }
      case "Usage":
        current.usage = event.usage
        return ""
      case "Finish":
        finishReason = event.reason
        return ""
      case "ToolActivity":
        if (event.activity.status === "running") (current.tools ??= []).push(event.activity.name)
        return options.toolEvents ? chunk({ clawgate: { tool: event.activity } }) : ""
    }
  }
  return {
    start: chunk({ role: "assistant", content: "" }),
    /** The frames of some events: empty when none of them is content. */
    of: (events: Chunk.Chunk<AgentEvent>) => {
      let text = ""
      for (const event of events) text += frameOf(event)
      return text
    },
    end: () =>
      chunk({}, Wire.finishReasonFor(finishReason, options.calls)) +
      (options.includeUsage && current.usage !== undefined
        ? Wire.sseData(Wire.usageChunk(options.envelope, current.usage))
        : "") +
      Wire.SSE_DONE,
    /** After the 200, a failure goes in-band: its error (none for a defect), then `[DONE]`. */
    failed: (error: GatewayError | undefined) => {
      current.error = error ?? "Defect"
      const answer = error === undefined
        ? ErrorResponse.internal(current.id)
        : ErrorResponse.describe(error, current.id)
      return Wire.sseData(answer.body) + Wire.SSE_DONE
    }
  }
}

/** The text of what the run said until its first content, and whether it ended there. */
interface Opening {
  readonly text: string
  readonly ended: boolean
}

/** Pulls the run until its first content or its end (then with the end's frames). */
const untilContent = (
  pull: Pull.Pull<AgentEvent, AgentError>,
  frames: ReturnType<typeof makeFrames>
): Effect.Effect<Opening, AgentError> =>
  Effect.matchEffect(pull, {
    onFailure: Option.match({
      onNone: () => Effect.succeed({ text: frames.end(), ended: true }),
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

const encode = (text: string): Chunk.Chunk<Uint8Array> =>
  text === "" ? Chunk.empty() : Chunk.of(Buffer.from(text, "utf8"))

export const respond = (
  events: Stream.Stream<AgentEvent, AgentError>,
  options: StreamOptions
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  AgentError,
  CurrentRequest | HttpServerRequest.HttpServerRequest | Scope.Scope
> => Telemetry.traced("StreamAnswer.respond")(answer(events, options))

const answer = Effect.fnUntraced(function*(
  events: Stream.Stream<AgentEvent, AgentError>,
  options: StreamOptions
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
  const frames = makeFrames(options, current)

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
    if (res.headersSent && !res.writableEnded) res.write(Wire.SSE_KEEP_ALIVE)
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
      return Effect.succeed(write(Option.match(failure.value, { onNone: frames.end, onSome: frames.failed })))
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

  return HttpServerResponse.stream(Pull.stream(Effect.succeed(nextWrite)), {
    contentType: "text/event-stream; charset=utf-8",
    headers: { "cache-control": "no-cache", "x-accel-buffering": "no", ...options.headers }
  })
})

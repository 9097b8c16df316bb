/**
 * A streamed run as Server-Sent Events, the way OpenAI streams: a role chunk, content and tool
 * call chunks as they come (`delta.tool_calls`: a call's index, id and name first, then pieces of
 * its arguments; in the legacy shape, `delta.function_call` for the first call only), one chunk
 * with the finish reason, an optional usage chunk, then `[DONE]`.
 *
 * The HTTP status waits for the first content: a run that fails before it gets a real error status.
 * Once the answer has started, a failure is sent in-band (`data: {"error": ...}`, then `[DONE]`).
 * If the agent stays silent for `keepAliveMs`, the answer starts anyway and a `: keep-alive` comment
 * goes out each time the silence lasts that long again.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { AgentEvent, type FinishReason } from "../../domain/AgentEvent.js"
import { type AgentError, GatewayShuttingDown } from "../../domain/Errors.js"
import { Drain } from "../../ops/Drain.js"
import * as Metrics from "../../ops/Metrics.js"
import { CurrentRequest } from "../CurrentRequest.js"
import * as ErrorResponse from "../ErrorResponse.js"
import * as Wire from "./ChatCompletionsWire.js"

export interface StreamOptions {
  readonly envelope: Wire.Envelope
  readonly calls: Wire.CallShape
  readonly includeUsage: boolean
  readonly keepAliveMs: number
  readonly headers: Readonly<Record<string, string>>
}

/** Events buffered between the run and a slow client before the run is held back. */
const BUFFER = 64

/**
 * What the answer waits on: the run's events, its end or failure, a silence of `keepAliveMs`, or
 * the drain's deadline. One queue carries them all, so waiting costs no race per event.
 */
type Next =
  | { readonly _tag: "Event"; readonly event: AgentEvent }
  | { readonly _tag: "End" }
  | { readonly _tag: "Failed"; readonly cause: Cause.Cause<AgentError> }
  | { readonly _tag: "Silence" }
  | { readonly _tag: "Deadline" }

const end: Next = { _tag: "End" }
const silence: Next = { _tag: "Silence" }
const deadline: Next = { _tag: "Deadline" }
const toNext = (event: AgentEvent): Next => ({ _tag: "Event", event })

/** Content that reaches the client: what the time to first token waits for. */
const isContent = (event: AgentEvent) => event._tag === "TextDelta" || event._tag === "ToolCallStart"

export const respond = Effect.fn("StreamResponse.respond")(function*(
  events: Stream.Stream<AgentEvent, AgentError>,
  options: StreamOptions
): Effect.fn.Return<
  HttpServerResponse.HttpServerResponse,
  AgentError | GatewayShuttingDown,
  CurrentRequest | Drain | Scope.Scope
> {
  const current = yield* CurrentRequest
  const drain = yield* Drain
  const { calls, envelope, includeUsage, keepAliveMs } = options
  yield* Metrics.activeStream
  const firstContent = yield* Metrics.timeToFirstContent(current.agentId ?? "-")
  const queue = yield* Queue.bounded<Next>(BUFFER)

  let lastEvent = yield* Clock.currentTimeMillis
  const offer = (events: Chunk.Chunk<AgentEvent>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      lastEvent = now
      return Queue.offerAll(queue, Chunk.map(events, toNext))
    })
  /** The run's end (its pull fails with none) or its failure, as the queue's last item. */
  const ending = (cause: Cause.Cause<Option.Option<AgentError>>) =>
    Queue.offer(
      queue,
      Option.match(Cause.flipCauseOption(cause), {
        onNone: () => end,
        onSome: (cause): Next => ({ _tag: "Failed", cause })
      })
    )
  // The run goes on in a fiber of the request's scope, which lasts until the response has been
  // sent and ends when the client goes away. The fiber pulls the run in a scope of its own, so
  // that interrupting the fiber interrupts the run.
  yield* Effect.scoped(Effect.flatMap(Stream.toPull(events), (pull) => Effect.forever(Effect.flatMap(pull, offer))))
    .pipe(
      Effect.catchAllCause(ending),
      Effect.forkScoped
    )
  // A silence once the run has said nothing for `keepAliveMs`, and again each time it lasts that long.
  yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Clock.currentTimeMillis, (now) => {
    if (now < lastEvent + keepAliveMs) return Effect.sleep(lastEvent + keepAliveMs - now)
    lastEvent = now
    return Queue.offer(queue, silence)
  })))
  // The deadline goes first, even past a full queue.
  let pastDeadline = false
  yield* drain.atDeadline(() => {
    pastDeadline = true
    Queue.unsafeOffer(queue, deadline)
  })
  const next = Effect.suspend(() => pastDeadline ? Effect.succeed(deadline) : Queue.take(queue))

  let finishReason: FinishReason = "stop"
  let contentSeen = false
  /** Each tool call's index in the answer, by id, in the order they started. */
  const toolCalls = new Map<string, number>()
  const toolCallChunk = (piece: Wire.ToolCallDelta) => [
    Wire.sseData(
      Wire.chunk(envelope, calls === "tool_calls" ? { tool_calls: [piece] } : { function_call: piece.function })
    )
  ]
  /** An event's frames: none for the usage and finish, which the end of the answer carries. */
  const frame = (event: AgentEvent): ReadonlyArray<Uint8Array> =>
    AgentEvent.$match(event, {
      TextDelta: ({ text }) => [Wire.sseData(Wire.chunk(envelope, { content: text }))],
      ToolCallStart: ({ id, name }) => {
        // The legacy shape holds one call: any after the first is left out, its pieces with it.
        if (calls === "function_call" && toolCalls.size > 0) return []
        const index = toolCalls.size
        toolCalls.set(id, index)
        return toolCallChunk({ index, id, type: "function", function: { name, arguments: "" } })
      },
      ToolCallDelta: ({ arguments: piece, id }) => {
        const index = toolCalls.get(id)
        return index === undefined || piece === "" ? [] : toolCallChunk({ index, function: { arguments: piece } })
      },
      Usage: (event) => {
        current.usage = event.usage
        return []
      },
      Finish: ({ reason }) => {
        finishReason = reason
        return []
      }
    })
  const onEvent = (event: AgentEvent) => {
    if (contentSeen || !isContent(event)) return Effect.succeed(frame(event))
    contentSeen = true
    return Effect.as(firstContent, frame(event))
  }
  const closing = () => [
    Wire.sseData(Wire.chunk(envelope, {}, Wire.finishReasonFor(finishReason, calls))),
    ...(includeUsage && current.usage !== undefined ? [Wire.sseData(Wire.usageChunk(envelope, current.usage))] : []),
    Wire.sseDone
  ]
  /** After the 200, a failure goes in-band: its error, then `[DONE]`. */
  const failing = (cause: Cause.Cause<AgentError | GatewayShuttingDown>) =>
    Effect.gen(function*() {
      const failure = Cause.failureOption(cause)
      current.error = Option.getOrElse(failure, () => "Defect" as const)
      if (Option.isNone(failure)) yield* Effect.logError("The agent run died mid-stream", cause)
      const answer = Option.match(failure, {
        onNone: () => ErrorResponse.internal(current.id),
        onSome: (error) => ErrorResponse.describe(error, current.id)
      })
      return [Wire.sseData(answer.body), Wire.sseDone]
    })

  // Before committing to a 200: wait for the first content, the end, or a silence. A failure or
  // the deadline until then gets its real status.
  let pending: Array<Uint8Array> = [Wire.sseData(Wire.chunk(envelope, { role: "assistant", content: "" }))]
  let finished = false
  waiting: while (true) {
    const step = yield* next
    switch (step._tag) {
      case "Silence":
        break waiting
      case "End":
        pending.push(...closing())
        finished = true
        break waiting
      case "Failed":
        return yield* Effect.failCause(step.cause)
      case "Deadline":
        return yield* Effect.fail(new GatewayShuttingDown())
      case "Event": {
        const frames = yield* onEvent(step.event)
        pending.push(...frames)
        if (frames.length > 0) break waiting
      }
    }
  }

  /** The answer's next frames; one Stream stage for the whole answer. */
  const frames = Effect.suspend((): Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<never>> => {
    if (pending.length > 0) {
      const frames = pending
      pending = []
      return Effect.succeed(Chunk.unsafeFromArray(frames))
    }
    if (finished) return Effect.fail(Option.none())
    return Effect.flatMap(next, (step): Effect.Effect<ReadonlyArray<Uint8Array>> => {
      switch (step._tag) {
        case "Silence":
          return Effect.succeed([Wire.sseKeepAlive])
        case "Event":
          return onEvent(step.event)
        case "End":
          finished = true
          return Effect.sync(closing)
        case "Failed":
          finished = true
          return failing(step.cause)
        case "Deadline":
          finished = true
          return failing(Cause.fail(new GatewayShuttingDown()))
      }
    }).pipe(Effect.map(Chunk.unsafeFromArray))
  })

  return HttpServerResponse.stream(Stream.repeatEffectChunkOption(frames), {
    contentType: "text/event-stream; charset=utf-8",
    headers: { "cache-control": "no-cache", "x-accel-buffering": "no", ...options.headers }
  })
})

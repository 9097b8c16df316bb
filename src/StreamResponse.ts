/**
 * A streamed run as Server-Sent Events, the way OpenAI streams: a role chunk, content and tool
 * call chunks as they come (`delta.tool_calls`: a call's index, id and name first, then pieces of
 * its arguments), one chunk with the finish reason, an optional usage chunk, then `[DONE]`.
 *
 * The HTTP status waits for the first content: a run that fails before it gets a real error status.
 * Once the answer has started, a failure is sent in-band (`data: {"error": ...}`, then `[DONE]`).
 * If the agent stays silent for `keepAliveMs`, the answer starts anyway and a `: keep-alive` comment
 * goes out each time the silence lasts that long again.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { AgentEvent, type FinishReason } from "./AgentRunner.js"
import { CurrentRequest } from "./CurrentRequest.js"
import * as ErrorResponse from "./ErrorResponse.js"
import * as Metrics from "./Metrics.js"
import type { AgentError } from "./Errors.js"
import * as Wire from "./Wire.js"

export interface StreamOptions {
  readonly envelope: Wire.Envelope
  readonly includeUsage: boolean
  readonly keepAliveMs: number
  readonly headers: Readonly<Record<string, string>>
}

/** Events buffered between the run and a slow client before the run is held back. */
const BUFFER = 64

/** What waiting on the run gives: an event, its end, or a silence of `keepAliveMs`. */
type Next =
  | { readonly _tag: "Event"; readonly event: AgentEvent }
  | { readonly _tag: "End" }
  | { readonly _tag: "Silence" }

const nextFrom = (queue: Queue.Dequeue<Exit.Exit<AgentEvent, Option.Option<AgentError>>>, silenceMs: number) =>
  Effect.flatten(Queue.take(queue)).pipe(
    Effect.map((event): Next => ({ _tag: "Event", event })),
    Effect.catchAll(Option.match({
      onNone: () => Effect.succeed<Next>({ _tag: "End" }),
      onSome: (error) => Effect.fail(error)
    })),
    Effect.timeoutTo({
      duration: silenceMs,
      onSuccess: (next) => next,
      onTimeout: (): Next => ({ _tag: "Silence" })
    })
  )

export const respond = Effect.fn("StreamResponse.respond")(function*(
  events: Stream.Stream<AgentEvent, AgentError>,
  options: StreamOptions
): Effect.fn.Return<HttpServerResponse.HttpServerResponse, AgentError, CurrentRequest | Scope.Scope> {
  const current = yield* CurrentRequest
  const { envelope, includeUsage, keepAliveMs } = options
  // The run goes on in the request's scope, which lasts until the response has been sent, and
  // ends (interrupting the run) when the client goes away.
  yield* Metrics.activeStream
  const queue = yield* Stream.toQueueOfElements(Metrics.timingFirstContent(events, current.agentId ?? "-"), {
    capacity: BUFFER
  })
  const next = nextFrom(queue, keepAliveMs)
  let finishReason: FinishReason = "stop"
  /** Each tool call's index in the answer, by id, in the order they started. */
  const toolCalls = new Map<string, number>()
  const toolCallChunk = (piece: Wire.ToolCallDelta) =>
    Option.some(Wire.sseData(Wire.chunk(envelope, { tool_calls: [piece] })))
  const frame = (event: AgentEvent): Option.Option<Uint8Array> =>
    AgentEvent.$match(event, {
      TextDelta: ({ text }) => Option.some(Wire.sseData(Wire.chunk(envelope, { content: text }))),
      ToolCallStart: ({ id, name }) => {
        const index = toolCalls.size
        toolCalls.set(id, index)
        return toolCallChunk({ index, id, type: "function", function: { name, arguments: "" } })
      },
      ToolCallDelta: ({ arguments: piece, id }) => {
        const index = toolCalls.get(id)
        return index === undefined || piece === "" ? Option.none() : toolCallChunk({ index, function: { arguments: piece } })
      },
      Usage: (event) => {
        current.usage = event.usage
        return Option.none()
      },
      Finish: ({ reason }) => {
        finishReason = reason
        return Option.none()
      }
    })

  // Before committing to a 200: wait for the first content, the end, or a silence.
  const head: Array<Uint8Array> = [Wire.sseData(Wire.chunk(envelope, { role: "assistant", content: "" }))]
  let ended = false
  waiting: while (true) {
    const step = yield* next
    switch (step._tag) {
      case "Silence":
        break waiting
      case "End":
        ended = true
        break waiting
      case "Event": {
        const bytes = frame(step.event)
        if (Option.isSome(bytes)) {
          head.push(bytes.value)
          break waiting
        }
      }
    }
  }

  const rest: Stream.Stream<Uint8Array, AgentError> = ended ? Stream.empty : Stream.repeatEffectOption(
    next.pipe(
      Effect.mapError(Option.some),
      Effect.flatMap((step) => {
        switch (step._tag) {
          case "Silence":
            return Effect.succeed(Option.some(Wire.sseKeepAlive))
          case "End":
            return Effect.fail(Option.none())
          case "Event":
            return Effect.succeed(frame(step.event))
        }
      })
    )
  ).pipe(Stream.filterMap((bytes) => bytes))

  const tail = Stream.suspend(() =>
    Stream.make(
      Wire.sseData(Wire.chunk(envelope, {}, finishReason)),
      ...(includeUsage && current.usage !== undefined ? [Wire.sseData(Wire.usageChunk(envelope, current.usage))] : []),
      Wire.sseDone
    )
  )

  const body = Stream.fromIterable(head).pipe(
    Stream.concat(rest),
    Stream.concat(tail),
    Stream.catchAllCause((cause) =>
      Stream.unwrap(Effect.gen(function*() {
        const failure = Cause.failureOption(cause)
        current.error = Option.getOrElse(failure, () => "Defect" as const)
        if (Option.isNone(failure)) yield* Effect.logError("The agent run died mid-stream", cause)
        const answer = Option.match(failure, {
          onNone: () => ErrorResponse.internal(current.id),
          onSome: (error) => ErrorResponse.describe(error, current.id)
        })
        return Stream.make(Wire.sseData(answer.body), Wire.sseDone)
      }))
    )
  )
  return HttpServerResponse.stream(body, {
    contentType: "text/event-stream; charset=utf-8",
    headers: { "cache-control": "no-cache", "x-accel-buffering": "no", ...options.headers }
  })
})

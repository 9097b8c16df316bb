/**
 * `clawgate/testing`: fake AgentRunner layers for your own tests, plus the accept-all and
 * reject-all Auth layers. Timed fakes sleep on Effect's Clock, so they run on the TestClock too.
 *
 * ```ts
 * import { FakeAgentRunner } from "clawgate/testing"
 * const runner = FakeAgentRunner.layerReplies("Hello!", "Again?")
 * // A model that calls the client's tool, then answers the tool's result:
 * const caller = FakeAgentRunner.layerToolCalls([{ id: "call_1", name: "lookup", arguments: "{\"word\":\"claw\"}" }])
 * ```
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { AgentRunner } from "./agent/AgentRunner.js"
import { AgentEvent, type FinishReason, type ToolCall, type Usage } from "./domain/AgentEvent.js"
import type { AgentError } from "./domain/Errors.js"
import { type ChatMessage, type RunRequest } from "./domain/Run.js"

export { Auth } from "./access/Auth.js"

const wordsOf = (text: string) => text.match(/\s*\S+/g) ?? []

/** A reply as a run's events: its words, then usage (words counted as tokens) and a finish reason. */
export const replyEvents = (
  text: string,
  options: { readonly finishReason?: FinishReason; readonly usage?: Usage } = {}
): ReadonlyArray<AgentEvent> => [
  ...wordsOf(text).map((word) => AgentEvent.TextDelta({ text: word })),
  AgentEvent.Usage({ usage: options.usage ?? { promptTokens: 1, completionTokens: wordsOf(text).length } }),
  AgentEvent.Finish({ reason: options.finishReason ?? "stop" })
]

/** A tool call's arguments in two pieces, as providers stream them. */
const piecesOf = (text: string) => [text.slice(0, Math.ceil(text.length / 2)), text.slice(Math.ceil(text.length / 2))]

/**
 * Tool calls as a run's events: `text` first (if any), then each call (its start, then its
 * arguments in pieces), then usage and finish reason `tool_calls`.
 */
export const toolCallEvents = (
  calls: ReadonlyArray<ToolCall>,
  options: { readonly text?: string; readonly usage?: Usage } = {}
): ReadonlyArray<AgentEvent> => [
  ...wordsOf(options.text ?? "").map((word) => AgentEvent.TextDelta({ text: word })),
  ...calls.flatMap((call) => [
    AgentEvent.ToolCallStart({ id: call.id, name: call.name }),
    ...piecesOf(call.arguments).filter((piece) => piece !== "").map((piece) =>
      AgentEvent.ToolCallDelta({ id: call.id, arguments: piece })
    )
  ]),
  AgentEvent.Usage({ usage: options.usage ?? { promptTokens: 1, completionTokens: calls.length } }),
  AgentEvent.Finish({ reason: "tool_calls" })
]

/** The tool results a run ends with (none when its last message is not one). */
const trailingToolResults = (request: RunRequest): ReadonlyArray<ChatMessage> =>
  request.messages.slice(request.messages.findLastIndex((message) => message.role !== "tool") + 1)

/** The runs a recording runner has seen, oldest first. */
export class RecordedRuns extends Context.Tag("clawgate/testing/RecordedRuns")<
  RecordedRuns,
  { readonly all: Effect.Effect<ReadonlyArray<RunRequest>> }
>() {}

export const FakeAgentRunner = {
  /** A runner whose every run is `script(request)`. */
  layer: (script: (request: RunRequest) => Stream.Stream<AgentEvent, AgentError>): Layer.Layer<AgentRunner> =>
    Layer.succeed(AgentRunner, AgentRunner.fromStream(script)),

  /** Answers with the given replies in turn, starting over after the last. */
  layerReplies: (...replies: [string, ...Array<string>]): Layer.Layer<AgentRunner> =>
    Layer.effect(
      AgentRunner,
      Effect.map(Ref.make(0), (turn) =>
        AgentRunner.fromStream(() =>
          Stream.unwrap(
            Ref.getAndUpdate(turn, (n) => n + 1).pipe(
              Effect.map((n) => Stream.fromIterable(replyEvents(replies[n % replies.length]!)))
            )
          )
        ))
    ),

  /**
   * A model that calls tools: a run that ends with tool results is answered with
   * `reply(results)` (default: the results' text, joined); any other run makes the `calls`.
   */
  layerToolCalls: (
    calls: readonly [ToolCall, ...Array<ToolCall>],
    options: { readonly reply?: (results: ReadonlyArray<ChatMessage>) => string } = {}
  ): Layer.Layer<AgentRunner> =>
    Layer.succeed(
      AgentRunner,
      AgentRunner.fromStream((request) => {
        const results = trailingToolResults(request)
        const reply = options.reply ?? ((results) => results.map((result) => result.content).join("\n"))
        return Stream.fromIterable(results.length > 0 ? replyEvents(reply(results)) : toolCallEvents(calls))
      })
    ),

  /** Fails every run with `error` before any text: the client gets an HTTP error status. */
  layerFailing: (error: AgentError): Layer.Layer<AgentRunner> =>
    Layer.succeed(AgentRunner, AgentRunner.fromStream(() => Stream.fail(error))),

  /** Streams `text`, then fails with `error`: a stream gets the error in-band. */
  layerFailingAfter: (text: string, error: AgentError): Layer.Layer<AgentRunner> =>
    Layer.succeed(
      AgentRunner,
      AgentRunner.fromStream(() =>
        Stream.fromIterable(wordsOf(text).map((word) => AgentEvent.TextDelta({ text: word }))).pipe(
          Stream.concat(Stream.fail(error))
        )
      )
    ),

  /**
   * Streams `text` one word every `interval` (the first word one `interval` after the start), after
   * an initial `delay` (default: none); usage and the finish reason come right after the last word.
   */
  layerSlow: (options: {
    readonly text: string
    readonly interval: Duration.DurationInput
    readonly delay?: Duration.DurationInput
  }): Layer.Layer<AgentRunner> =>
    Layer.succeed(
      AgentRunner,
      AgentRunner.fromStream(() =>
        Stream.fromIterable(replyEvents(options.text).filter((event) => event._tag === "TextDelta")).pipe(
          Stream.schedule(Schedule.spaced(options.interval)),
          // Usage and finish follow the last word at once, as a real stream ends.
          Stream.concat(Stream.fromIterable(replyEvents(options.text).filter((event) => event._tag !== "TextDelta"))),
          Stream.onStart(Effect.sleep(options.delay ?? Duration.zero))
        )
      )
    ),

  /**
   * Streams `text` (if any), then never ends. `onInterrupt` runs when the run is cancelled, for
   * example when the client goes away.
   */
  layerHanging: (options: { readonly text?: string; readonly onInterrupt: Effect.Effect<void> }): Layer.Layer<
    AgentRunner
  > =>
    Layer.succeed(
      AgentRunner,
      AgentRunner.fromStream(() =>
        Stream.fromIterable(wordsOf(options.text ?? "").map((word) => AgentEvent.TextDelta({ text: word }))).pipe(
          Stream.concat(Stream.never),
          Stream.ensuring(options.onInterrupt)
        )
      )
    ),

  /** Wraps a runner layer, recording every run request; read them from `RecordedRuns`. */
  layerRecording: <E, R>(inner: Layer.Layer<AgentRunner, E, R>): Layer.Layer<AgentRunner | RecordedRuns, E, R> =>
    Layer.effectContext(
      Effect.gen(function*() {
        const runner = yield* AgentRunner
        const runs = yield* Ref.make<ReadonlyArray<RunRequest>>([])
        const record = (request: RunRequest) => Ref.update(runs, (all) => [...all, request])
        return Context.make(
          AgentRunner,
          AgentRunner.of({
            stream: (request) => Stream.unwrap(Effect.as(record(request), runner.stream(request))),
            complete: (request) => Effect.zipRight(record(request), runner.complete(request))
          })
        ).pipe(Context.add(RecordedRuns, { all: Ref.get(runs) }))
      })
    ).pipe(Layer.provide(inner))
}

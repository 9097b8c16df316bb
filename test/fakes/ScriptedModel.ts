/**
 * A scripted model for the session tests: a Model whose every call is recorded (the prompt it
 * got, the sampling the runner gave it) and answered the way the test says, when the test says. It
 * keeps the call's time limit on the Effect Clock (so the TestClock drives it).
 *
 *   const model = yield* ScriptedModel
 *   const call = yield* model.nextCall          // waits until the runner calls the model
 *   expect(call.prompt).toEqual([...])          // what the model was given
 *   yield* call.say("Hel")                      // a text delta
 *   yield* call.finish()                        // finish "stop" with usage
 *   yield* call.ended                           // "finished" | "failed" | "interrupted"
 *
 * With `answer`, every call is answered at once with that text (word by word) and still recorded.
 * Provide `ScriptedModel.layer(...)`: it gives `ScriptedModel` and the gateway's `ModelRegistry` (every
 * agent on this one model).
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { ModelRegistry } from "../../src/agent/ModelRegistry.js"
import { AgentEvent, type AgentReply, type FinishReason } from "../../src/domain/AgentEvent.js"
import { type AgentError, ProviderFailed } from "../../src/domain/Errors.js"
import * as Pull from "../../src/domain/Pull.js"
import type { Sampling } from "../../src/domain/Run.js"
import type { Model, ModelRequest } from "../../src/providers/Provider.js"

/** A prompt message as the model got it: its role and its text. */
export interface SeenMessage {
  readonly role: "system" | "user" | "assistant" | "tool"
  readonly text: string
}

export type Outcome = "finished" | "failed" | "interrupted"

export interface FinishOptions {
  readonly reason?: FinishReason
  readonly inputTokens?: number
  readonly outputTokens?: number
}

type Step = Data.TaggedEnum<{
  Text: { readonly text: string }
  Finish: { readonly reason: FinishReason; readonly inputTokens: number; readonly outputTokens: number }
  Fail: { readonly description: string }
}>
const Step = Data.taggedEnum<Step>()

/** One call of the model by the runner. */
export interface Call {
  /** 1 for the first call of this model, and so on. */
  readonly number: number
  readonly mode: "stream" | "generate"
  readonly prompt: ReadonlyArray<SeenMessage>
  /** The text of the prompt's last user message. */
  readonly lastUser: string
  /** The sampling the runner asked for. */
  readonly sampling: Sampling
  /** Sends a piece of text. */
  readonly say: (text: string) => Effect.Effect<void>
  /** Ends the answer with a finish reason and usage (default: "stop", 3 in, 2 out). */
  readonly finish: (options?: FinishOptions) => Effect.Effect<void>
  /** Fails the call with a provider error (after what was said so far). */
  readonly fail: (description?: string) => Effect.Effect<void>
  /** Says `text` word by word, then finishes. */
  readonly reply: (text: string, options?: FinishOptions) => Effect.Effect<void>
  /** Completes when the call is over: finished, failed, or interrupted by the runner. */
  readonly ended: Effect.Effect<Outcome>
}

export class ScriptedModel extends Context.Tag("test/ScriptedModel")<ScriptedModel, {
  /** The next call, in the order the calls started; waits for it. */
  readonly nextCall: Effect.Effect<Call>
  /** Every call so far, oldest first. */
  readonly calls: Effect.Effect<ReadonlyArray<Call>>
  /** What happened, in order: `start <n>` when call n began, `end <n> <outcome>` when it ended. */
  readonly log: Effect.Effect<ReadonlyArray<string>>
}>() {
  /**
   * The scripted model, and `ModelRegistry` giving it to every agent. With `answer`, each call is
   * answered at once with `answer(call)`; without, each call waits for the test's script.
   */
  static readonly layer = (options: { readonly answer?: (call: Call) => string } = {}) =>
    Layer.unwrapEffect(Effect.map(make(options), ({ model, service }) =>
      Layer.merge(
        Layer.succeed(ScriptedModel, service),
        Layer.succeed(ModelRegistry, ModelRegistry.of({ forAgent: () => Option.some(model) }))
      )))
}

/** What the model was given, as role and text: the system text first, then the messages. */
const seenOf = (request: ModelRequest): ReadonlyArray<SeenMessage> => [
  ...(request.system === undefined ? [] : [{ role: "system" as const, text: request.system }]),
  ...request.messages.map((message): SeenMessage => ({ role: message.role, text: message.content }))
]

const wordsOf = (text: string) => text.match(/\s*\S+/g) ?? []

const make = (options: { readonly answer?: (call: Call) => string }) =>
  Effect.gen(function*() {
    const started = yield* Queue.unbounded<Call>()
    const all: Array<Call> = []
    const log: Array<string> = []

    /** Records a new call; its steps come from the test (or from `answer`). */
    const open = (mode: Call["mode"], request: ModelRequest) =>
      Effect.gen(function*() {
        const steps = yield* Queue.unbounded<Step>()
        const outcome = yield* Deferred.make<Outcome>()
        const number = all.length + 1
        const seen = seenOf(request)
        const settle = (result: Outcome) =>
          Effect.flatMap(Deferred.succeed(outcome, result), (first) =>
            Effect.sync(() => {
              if (first) log.push(`end ${number} ${result}`)
            }))
        const say = (text: string) => Queue.offer(steps, Step.Text({ text })).pipe(Effect.asVoid)
        const finish = (finishOptions: FinishOptions = {}) =>
          Queue.offer(
            steps,
            Step.Finish({
              reason: finishOptions.reason ?? "stop",
              inputTokens: finishOptions.inputTokens ?? 3,
              outputTokens: finishOptions.outputTokens ?? 2
            })
          ).pipe(Effect.asVoid)
        const call: Call = {
          number,
          mode,
          prompt: seen,
          lastUser: seen.findLast((message) => message.role === "user")?.text ?? "",
          sampling: request.sampling,
          say,
          finish,
          fail: (description = "scripted failure") =>
            Queue.offer(steps, Step.Fail({ description })).pipe(Effect.asVoid),
          reply: (text, finishOptions) => Effect.zipRight(Effect.forEach(wordsOf(text), say), finish(finishOptions)),
          ended: Deferred.await(outcome)
        }
        all.push(call)
        log.push(`start ${number}`)
        // Whatever way the call ends, it is settled; "interrupted" when nothing settled it before.
        yield* Effect.addFinalizer(() => settle("interrupted"))
        yield* Queue.offer(started, call)
        if (options.answer !== undefined) yield* call.reply(options.answer(call))
        return { call, steps, settle }
      })

    const failure = (description: string) => new ProviderFailed({ provider: "scripted", detail: description })
    const finished = (step: Extract<Step, { readonly _tag: "Finish" }>) => [
      AgentEvent.Usage({ usage: { promptTokens: step.inputTokens, completionTokens: step.outputTokens } }),
      AgentEvent.Finish({ reason: step.reason })
    ]

    const model: Model = {
      provider: "scripted",
      model: "scripted",
      open: (request): Effect.Effect<Pull.Pull<AgentEvent, AgentError>, AgentError, Scope.Scope> =>
        Effect.gen(function*() {
          const since = yield* Clock.currentTimeMillis
          const { settle, steps } = yield* open("stream", request)
          let done = false
          let started = false
          const next: Pull.Pull<AgentEvent, AgentError> = Effect.suspend(() => {
            if (done) return Pull.end
            return Effect.flatMap(Queue.take(steps), (step): Pull.Pull<AgentEvent, AgentError> => {
              switch (step._tag) {
                case "Text":
                  return Pull.emit([AgentEvent.TextDelta({ text: step.text })])
                case "Fail":
                  done = true
                  return Effect.zipRight(settle("failed"), Pull.fail(failure(step.description)))
                case "Finish":
                  done = true
                  return Effect.as(settle("finished"), Chunk.unsafeFromArray(finished(step)))
              }
            })
          })
          // Within the time limit until the first events.
          return Effect.suspend(() =>
            started ? next : Effect.flatMap(Clock.currentTimeMillis, (now) =>
              next.pipe(
                Effect.timeoutFail({
                  duration: Math.max(0, request.timeLimit.ms - (now - since)),
                  onTimeout: () => Option.some(request.timeLimit.error())
                }),
                Effect.tap(() => {
                  started = true
                })
              ))
          )
        }),
      complete: (request) =>
        Effect.timeoutFail(
          Effect.scoped(Effect.gen(function*() {
            const { settle, steps } = yield* open("generate", request)
            let text = ""
            while (true) {
              const step = yield* Queue.take(steps)
              switch (step._tag) {
                case "Text":
                  text += step.text
                  break
                case "Fail":
                  yield* settle("failed")
                  return yield* failure(step.description)
                case "Finish": {
                  yield* settle("finished")
                  const reply: AgentReply = {
                    text,
                    finishReason: step.reason,
                    usage: { promptTokens: step.inputTokens, completionTokens: step.outputTokens }
                  }
                  return reply
                }
              }
            }
          })),
          { duration: request.timeLimit.ms, onTimeout: request.timeLimit.error }
        )
    }
    const service: Context.Tag.Service<ScriptedModel> = {
      nextCall: Queue.take(started),
      calls: Effect.sync(() => [...all]),
      log: Effect.sync(() => [...log])
    }
    return { model, service }
  })

/**
 * A scripted model for the session tests: an @effect/ai LanguageModel whose every call is
 * recorded (the prompt it got, the sampling settings the runner gave it) and answered the way the
 * test says, when the test says.
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
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { ModelRegistry } from "../../src/agent/ModelRegistry.js"
import type { Sampling } from "../../src/domain/Run.js"
import type { Model } from "../../src/providers/Provider.js"

/** A prompt message as the model got it: its role and its text. */
export interface SeenMessage {
  readonly role: Prompt.Message["role"]
  readonly text: string
}

export type Outcome = "finished" | "failed" | "interrupted"

export interface FinishOptions {
  readonly reason?: Response.FinishReason
  readonly inputTokens?: number
  readonly outputTokens?: number
}

type Step = Data.TaggedEnum<{
  Text: { readonly text: string }
  Finish: { readonly reason: Response.FinishReason; readonly inputTokens: number; readonly outputTokens: number }
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
  /** The sampling settings the runner provided around the call. */
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

/** The run's sampling as the scripted model reads it (like a provider's request config). */
export class ScriptedSettings extends Context.Reference<ScriptedSettings>()("test/ScriptedModel/ScriptedSettings", {
  defaultValue: (): Sampling => ({})
}) {}

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

const messageText = (message: Prompt.Message): string =>
  typeof message.content === "string"
    ? message.content
    : message.content.flatMap((part) => part.type === "text" ? [part.text] : []).join("\n")

/** The finish part of a call the test finished, with its usage. */
const finishPart = (step: Extract<Step, { readonly _tag: "Finish" }>): Response.FinishPartEncoded => ({
  type: "finish",
  reason: step.reason,
  usage: {
    inputTokens: step.inputTokens,
    outputTokens: step.outputTokens,
    totalTokens: step.inputTokens + step.outputTokens
  }
})

const wordsOf = (text: string) => text.match(/\s*\S+/g) ?? []

const make = (options: { readonly answer?: (call: Call) => string }) =>
  Effect.gen(function*() {
    const started = yield* Queue.unbounded<Call>()
    const all: Array<Call> = []
    const log: Array<string> = []

    /** Records a new call; its steps come from the test (or from `answer`). */
    const open = (mode: Call["mode"], prompt: Prompt.Prompt) =>
      Effect.gen(function*() {
        const sampling = yield* ScriptedSettings
        const steps = yield* Queue.unbounded<Step>()
        const outcome = yield* Deferred.make<Outcome>()
        const number = all.length + 1
        const seen = prompt.content.map((message): SeenMessage => ({ role: message.role, text: messageText(message) }))
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
          sampling,
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

    const failure = (method: string, description: string) =>
      new AiError.UnknownError({ module: "ScriptedModel", method, description })

    const languageModel = yield* LanguageModel.make({
      generateText: (request) =>
        Effect.scoped(Effect.gen(function*() {
          const { settle, steps } = yield* open("generate", request.prompt)
          let text = ""
          while (true) {
            const step = yield* Queue.take(steps)
            switch (step._tag) {
              case "Text":
                text += step.text
                break
              case "Fail":
                yield* settle("failed")
                return yield* failure("generateText", step.description)
              case "Finish": {
                yield* settle("finished")
                const parts: Array<Response.PartEncoded> = [{ type: "text", text }, finishPart(step)]
                return parts
              }
            }
          }
        })),
      streamText: (request) =>
        Stream.unwrapScoped(Effect.map(open("stream", request.prompt), ({ settle, steps }) =>
          Stream.succeed<ReadonlyArray<Response.StreamPartEncoded>>([{ type: "text-start", id: "scripted" }]).pipe(
            Stream.concat(
              Stream.fromQueue(steps).pipe(
                Stream.takeUntil((step) => step._tag !== "Text"),
                Stream.mapEffect((step): Effect.Effect<ReadonlyArray<Response.StreamPartEncoded>, AiError.AiError> => {
                  switch (step._tag) {
                    case "Text":
                      return Effect.succeed([{ type: "text-delta", id: "scripted", delta: step.text }])
                    case "Fail":
                      return Effect.zipRight(settle("failed"), Effect.fail(failure("streamText", step.description)))
                    case "Finish":
                      return Effect.as(settle("finished"), [{ type: "text-end", id: "scripted" }, finishPart(step)])
                  }
                })
              )
            ),
            Stream.flattenIterables
          )))
    })

    const model: Model = {
      provider: "scripted",
      model: "scripted",
      languageModel,
      settings: (sampling) =>
        Context.make(ScriptedSettings, sampling)
    }
    const service: Context.Tag.Service<ScriptedModel> = {
      nextCall: Queue.take(started),
      calls: Effect.sync(() => [...all]),
      log: Effect.sync(() => [...log])
    }
    return { model, service }
  })

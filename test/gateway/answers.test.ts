/**
 * A client of the gateway (fetch over loopback) gets the provider's own text,
 * usage and finish reason (stop, and length), as JSON and streamed, from an agent on each provider
 * api (the live runner against a fake provider server); the request's sampling reaches the
 * provider under that api's names, the agent's sampling defaults fill in what the request leaves
 * out, and the agent's `limits.maxTokens` caps what a request asks for.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { chat, completionBody, hello, openChat } from "../kit/http.js"
import { field } from "../kit/json.js"
import { maxTokensField, samplingAsSent } from "../kit/sent.js"
import { sseReader } from "../kit/sse.js"
import { against, APIS, MODEL, type TextOptions, Upstream } from "../kit/upstream.js"
import { type Chunk, chunkOf, isChunk, isContent } from "../kit/wire.js"

/** The whole streamed answer to `request`: its content pieces, finish chunks, usage chunks, last event. */
const streamed = (request: Record<string, unknown>) =>
  Effect.gen(function*() {
    const { response } = yield* openChat(hello({ stream: true, ...request }))
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
    const events = yield* sseReader(response).rest
    const chunks = events.filter(isChunk).map(chunkOf)
    return {
      contents: events.filter(isContent).map((event) => chunkOf(event).choices[0]?.delta.content),
      finishReasons: chunks.flatMap((chunk: Chunk) =>
        chunk.choices.flatMap((choice) => choice.finish_reason === null ? [] : [choice.finish_reason])
      ),
      usages: chunks.filter((chunk) => chunk.choices.length === 0).map((chunk) => chunk.usage),
      last: events.at(-1)
    }
  })

/** An answer of the provider's, with its usage and finish reason. */
interface TextAnswer extends Required<TextOptions> {
  readonly pieces: ReadonlyArray<string>
}

const usageOf = (answer: TextAnswer) => ({
  prompt_tokens: answer.inputTokens,
  completion_tokens: answer.outputTokens,
  total_tokens: answer.inputTokens + answer.outputTokens
})

const stopped: TextAnswer = {
  pieces: ["The", " sky", " is", " blue."],
  finish: "stop",
  inputTokens: 13,
  outputTokens: 4
}
const cutShort: TextAnswer = { pieces: ["Once", " upon"], finish: "length", inputTokens: 21, outputTokens: 2 }

for (const api of APIS) {
  describe(`an agent on ${api}`, () => {
    for (const answer of [stopped, cutShort]) {
      it.scopedLive(`JSON: the provider's text, usage and finish_reason "${answer.finish}"`, () =>
        against(
          api,
          Effect.gen(function*() {
            const upstream = yield* Upstream
            yield* upstream.answerText(answer.pieces, answer)
            const response = yield* chat(hello())
            expect(response.status).toBe(200)
            const completion = yield* completionBody(response)
            expect(completion.choices[0]?.message.content).toBe(answer.pieces.join(""))
            expect(completion.choices[0]?.finish_reason).toBe(answer.finish)
            expect(completion.usage).toEqual(usageOf(answer))

            const request = yield* upstream.nextRequest
            expect(field(request.body, "model")).toBe(MODEL)
            expect(field(request.body, "stream")).not.toBe(true)
          })
        ))

      it.scopedLive(`stream: the provider's pieces, usage and finish_reason "${answer.finish}"`, () =>
        against(
          api,
          Effect.gen(function*() {
            const upstream = yield* Upstream
            yield* upstream.answerText(answer.pieces, answer)
            const answered = yield* streamed({ stream_options: { include_usage: true } })
            expect(answered.contents).toEqual(answer.pieces)
            expect(answered.finishReasons).toEqual([answer.finish])
            expect(answered.usages).toEqual([usageOf(answer)])
            expect(answered.last).toBe("data: [DONE]")

            const request = yield* upstream.nextRequest
            expect(field(request.body, "model")).toBe(MODEL)
            expect(field(request.body, "stream")).toBe(true)
          })
        ))
    }

    it.scopedLive("the request's temperature, top_p, max_tokens, stop and seed reach the provider (over the agent's defaults)", () =>
      against(
        api,
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const response = yield* chat(hello({ temperature: 0.3, top_p: 0.9, max_tokens: 50, stop: "END", seed: 7 }))
          expect(response.status).toBe(200)
          const request = yield* upstream.nextRequest
          expect(request.body).toMatchObject(
            samplingAsSent(api, { temperature: 0.3, topP: 0.9, maxTokens: 50, stop: ["END"], seed: 7 })
          )
        }),
        { agent: { sampling: { temperature: 0.95, topP: 0.2, maxTokens: 900, stop: ["NEVER"], seed: 99 } } }
      ))

    it.scopedLive("the agent's sampling defaults reach the provider when the request sets none", () =>
      against(
        api,
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const response = yield* chat(hello({ stream: true }))
          expect(response.status).toBe(200)
          yield* Effect.promise(() => response.text())
          const request = yield* upstream.nextRequest
          expect(request.body).toMatchObject(
            samplingAsSent(api, { temperature: 0.6, topP: 0.4, maxTokens: 64, stop: ["STOP"], seed: 11 })
          )
        }),
        { agent: { sampling: { temperature: 0.6, topP: 0.4, maxTokens: 64, stop: ["STOP"], seed: 11 } } }
      ))

    it.scopedLive("the agent's limits.maxTokens caps a larger request (max_tokens or max_completion_tokens)", () =>
      against(
        api,
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const sentFor = (extra: Record<string, unknown>) =>
            Effect.gen(function*() {
              const response = yield* chat(hello(extra))
              expect(response.status).toBe(200)
              yield* Effect.promise(() => response.text())
              return field((yield* upstream.nextRequest).body, maxTokensField(api))
            })
          expect(yield* sentFor({ max_tokens: 500 })).toBe(20)
          expect(yield* sentFor({ max_completion_tokens: 300 })).toBe(20)
          // A request under the cap keeps its own limit.
          expect(yield* sentFor({ max_tokens: 12 })).toBe(12)
        }),
        { agent: { limits: { maxTokens: 20 } } }
      ))
  })
}

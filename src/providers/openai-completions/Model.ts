/**
 * The `openai-completions` provider: any OpenAI-compatible Chat Completions server (OpenAI, Ollama,
 * vLLM, llama.cpp, LM Studio, OpenRouter, Groq, another clawgate): `POST {baseUrl}/chat/completions`,
 * JSON or SSE with `stream_options.include_usage` (the request: ./Request.ts, the answer: ./Wire.ts).
 *
 * A streamed answer goes from the provider's bytes to the run's events in one step per read: the
 * read is parsed as SSE and each event's chunk read into events, with no Stream stage or fiber of
 * its own, and the next read waits until the events have been pulled (so a client that stops
 * reading holds the provider back, instead of the gateway buffering).
 *
 * Faults are the gateway's provider errors: no answer at all `ProviderUnreachable`; a status
 * answered `ProviderAuthRejected` (401, 403), `ProviderRateLimited` (429) or `ProviderFailed`
 * (with the status); an answer that breaks off, an in-band `{"error": ...}` event, a stream cut
 * short or a body of the wrong shape `ProviderFailed`. The API key and the configured headers never
 * appear in an error.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import type { AgentEvent } from "../../domain/AgentEvent.js"
import { type AgentError, ProviderFailed } from "../../domain/Errors.js"
import * as Pull from "../../domain/Pull.js"
import * as HttpCall from "../HttpCall.js"
import type { MakeModel } from "../Provider.js"
import * as SseData from "../SseData.js"
import { bodyOf, DEFAULT_BASE_URL, maxTokensFieldOf } from "./Request.js"
import { makeStreamReader, replyOf } from "./Wire.js"

const STREAMING = { stream: true }

/** The events of the answer's next reads, until `[DONE]` or the body's end. */
const eventsOf = (
  provider: string,
  answer: HttpCall.Answer
): Pull.Pull<AgentEvent, AgentError> => {
  const reader = makeStreamReader(provider)
  const decoder = new TextDecoder()
  let done = false
  /** A failure in a piece, kept for the next pull, so that the events before it still go out. */
  let failure: ProviderFailed | undefined
  /** The events of the piece being read, while it is. */
  let reading: Array<AgentEvent> | undefined
  const parser = SseData.makeDataParser((data) => {
    if (reading === undefined || failure !== undefined || done) return
    const read = reader.onEvent(data, reading)
    if (Either.isLeft(read)) failure = read.left
    // `[DONE]` ends the answer: what follows it is not read.
    else if (read.right === "done") done = true
  })

  /**
   * The events in a piece of the body (none yet, for a piece in the middle of an event); once some
   * come, the answer has started as far as its time limit goes. Nothing of the piece is kept until
   * the next one: what lives that long (a second, for a model's tokens) is promoted to the old
   * generation, with all it points to, and becomes garbage only a full collection frees.
   */
  const eventsIn = (piece: Buffer): Array<AgentEvent> => {
    const events: Array<AgentEvent> = []
    reading = events
    if (parser.feed(decoder.decode(piece, STREAMING)) !== undefined) {
      failure ??= new ProviderFailed({ provider, detail: `${provider} sent an event too large to read` })
    }
    reading = undefined
    if (events.length > 0) answer.started()
    return events
  }

  /** The events of the reads there now, without an Effect; the end and failures are the pull's. */
  const feed: Pull.Feed<AgentEvent> = {
    take: () => {
      for (;;) {
        if (failure !== undefined || done) return "pull"
        const piece = answer.take()
        if (piece === "later") return "later"
        if (piece === "read") return "pull"
        const events = eventsIn(piece)
        if (events.length > 0) return Chunk.unsafeFromArray(events)
      }
    },
    whenReady: answer.whenReady
  }

  const next: Pull.Pull<AgentEvent, AgentError> = Effect.suspend(() => {
    if (failure !== undefined) {
      done = true
      const error = failure
      failure = undefined
      return Pull.fail(error)
    }
    if (done) return Pull.end
    return Effect.matchEffect(answer.read, {
      onFailure: Pull.fail,
      onSuccess: (piece) => {
        if (piece === undefined) {
          done = true
          return Either.match(reader.onEnd(), { onLeft: Pull.fail, onRight: Pull.emit })
        }
        const events = eventsIn(piece)
        return events.length === 0 ? next : Pull.emit(events)
      }
    })
  })
  return Pull.withFeed(next, feed)
}

export const make: MakeModel = ({ entry, model, provider }) =>
  Effect.sync(() => {
    const endpoint: HttpCall.Endpoint = {
      provider,
      url: new URL(`${(entry.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "")}/chat/completions`),
      headers: {
        ...(entry.apiKey !== undefined && { authorization: `Bearer ${Redacted.value(entry.apiKey)}` }),
        // Lowercased as HTTP has them, so that a configured header replaces ours.
        ...Object.fromEntries(Object.entries(entry.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]))
      }
    }
    const maxTokensField = maxTokensFieldOf(entry)
    return {
      provider,
      model,
      open: (request) =>
        Effect.map(
          HttpCall.post(
            endpoint,
            bodyOf(model, request, { maxTokensField, stream: true }),
            "text/event-stream",
            request.timeLimit
          ),
          (answer) => eventsOf(provider, answer)
        ),
      complete: (request) =>
        Effect.flatMap(
          HttpCall.postForText(
            endpoint,
            bodyOf(model, request, { maxTokensField, stream: false }),
            "application/json",
            request.timeLimit
          ),
          (text) => replyOf(provider, text)
        )
    }
  })

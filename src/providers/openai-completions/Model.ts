/**
 * The `openai-completions` provider: any OpenAI-compatible Chat Completions server (OpenAI, Ollama,
 * vLLM, llama.cpp, LM Studio, OpenRouter, Groq, another clawgate): `POST {baseUrl}/chat/completions`,
 * JSON or SSE with `stream_options.include_usage` (the request: ./Request.ts, the answer: ./Wire.ts).
 *
 * A streamed answer goes from the provider's bytes to the run's events in one step per read
 * (../SseStream.ts), each event's chunk read by ./Wire.ts.
 *
 * Faults are the gateway's provider errors: no answer at all `ProviderUnreachable`; a status
 * answered `ProviderAuthRejected` (401, 403), `ProviderRateLimited` (429) or `ProviderFailed`
 * (with the status); an answer that breaks off, an in-band `{"error": ...}` event, a stream cut
 * short or a body of the wrong shape `ProviderFailed`. The API key and the configured headers never
 * appear in an error.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as HttpCall from "../HttpCall.js"
import type { MakeModel } from "../Provider.js"
import { eventsOf } from "../SseStream.js"
import { bodyOf, DEFAULT_BASE_URL, maxTokensFieldOf } from "./Request.js"
import { makeStreamReader, replyOf } from "./Wire.js"

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
          (answer) => eventsOf(provider, answer, makeStreamReader(provider))
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

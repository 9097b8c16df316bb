/**
 * The `anthropic-messages` provider: Anthropic's Messages API, `POST {baseUrl}/v1/messages`, JSON or
 * SSE (the request: ./Request.ts, the answer: ./Wire.ts), over the gateway's own transport
 * (../HttpCall.ts): a streamed answer goes from the provider's bytes to the run's events in one step
 * per read (../SseStream.ts), as `openai-completions` does. Through @effect/ai-anthropic, each token
 * went through a Stream's stages as Effects, ~0.6 ms of CPU a token against ~0.1, and what they
 * allocated for it lived until the next token (bench/README.md).
 *
 * - `baseUrl` is the API's root (`https://api.anthropic.com`, the default); a `baseUrl` given with
 *   a trailing `/v1` is accepted too.
 * - `apiKey` goes in `x-api-key`, with `anthropic-version`; `headers` are added to every request
 *   (and win over these).
 * - Faults are the gateway's provider errors, as for `openai-completions`: no answer at all
 *   `ProviderUnreachable`; a status answered `ProviderAuthRejected` (401, 403), `ProviderRateLimited`
 *   (429) or `ProviderFailed` (with the status and what the provider said, for the log); an
 *   in-band `error` event, a stream cut short or a body of the wrong shape `ProviderFailed`.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as HttpCall from "../HttpCall.js"
import type { MakeModel } from "../Provider.js"
import { eventsOf } from "../SseStream.js"
import { API_VERSION, apiUrl, bodyOf, DEFAULT_BASE_URL } from "./Request.js"
import { makeStreamReader, replyOf } from "./Wire.js"

export const make: MakeModel = ({ entry, model, provider }) =>
  Effect.sync(() => {
    const endpoint: HttpCall.Endpoint = {
      provider,
      url: new URL(`${apiUrl(entry.baseUrl ?? DEFAULT_BASE_URL)}/v1/messages`),
      headers: {
        ...(entry.apiKey !== undefined && { "x-api-key": Redacted.value(entry.apiKey) }),
        "anthropic-version": API_VERSION,
        // Lowercased as HTTP has them, so that a configured header replaces ours.
        ...Object.fromEntries(Object.entries(entry.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]))
      }
    }
    return {
      provider,
      model,
      open: (request) =>
        Effect.map(
          HttpCall.post(endpoint, bodyOf(model, request, { stream: true }), "text/event-stream", request.timeLimit),
          (answer) => eventsOf(provider, answer, makeStreamReader(provider))
        ),
      complete: (request) =>
        Effect.flatMap(
          HttpCall.postForText(
            endpoint,
            bodyOf(model, request, { stream: false }),
            "application/json",
            request.timeLimit
          ),
          (text) => replyOf(provider, text)
        )
    }
  })

/**
 * `api: "openai-responses"`: OpenAI's Responses API (`POST /responses`, JSON and SSE) through
 * @effect/ai-openai's OpenAiClient and OpenAiLanguageModel.
 *
 * - `baseUrl` is the API's root including its version (`https://api.openai.com/v1`, the default);
 *   the library adds `/responses`.
 * - `apiKey` goes in `Authorization: Bearer`; `headers` are added to every request (and win over the
 *   library's).
 * - Every non-2xx answer fails as an `HttpResponseError` with its status and headers (the library
 *   does that for both the JSON and the stream call) and the library makes no retries of its own;
 *   the gateway does its bounded retry.
 * - The Responses API has no `stop` and no `seed`: a run's `stop` and `seed` are not sent.
 */
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as OpenAiLanguageModel from "@effect/ai-openai/OpenAiLanguageModel"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { Sampling } from "../AgentRunner.js"
import type { MakeModel, Model } from "./Provider.js"

/** The run's sampling as the Responses API's fields; only the fields the run sets. */
export const settings = (sampling: Sampling): Context.Context<never> =>
  Context.make(OpenAiLanguageModel.Config, {
    ...(sampling.maxTokens !== undefined && { max_output_tokens: sampling.maxTokens }),
    ...(sampling.temperature !== undefined && { temperature: sampling.temperature }),
    ...(sampling.topP !== undefined && { top_p: sampling.topP })
  })

export const make: MakeModel = ({ entry, model, provider }) =>
  Effect.gen(function*() {
    const headers = entry.headers
    const client = yield* OpenAiClient.make({
      apiKey: entry.apiKey,
      apiUrl: entry.baseUrl,
      transformClient: (client) =>
        headers === undefined ? client : HttpClient.mapRequest(client, HttpClientRequest.setHeaders(headers))
    })
    const languageModel = yield* OpenAiLanguageModel.make({ model }).pipe(
      Effect.provideService(OpenAiClient.OpenAiClient, client)
    )
    const built: Model = { provider, model, languageModel, settings }
    return built
  })

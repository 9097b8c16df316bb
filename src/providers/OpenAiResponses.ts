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
 * - The client's tools reach the API as function tools whose `parameters` are the client's JSON
 *   Schema (see ./ClientTools.ts); the library streams their calls as `tool-params-*` parts.
 */
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as OpenAiLanguageModel from "@effect/ai-openai/OpenAiLanguageModel"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { RunTools, Sampling } from "../AgentRunner.js"
import type { MakeModel, Model } from "./Provider.js"

/**
 * The run's sampling as the Responses API's fields; only the fields the run sets. With tools: the
 * library's `strict` applies to every tool at once, so it is on only when the client asked for it
 * on each of them; and `parallel_tool_calls` when the client set it.
 */
export const settings = (sampling: Sampling, tools?: RunTools): Context.Context<never> =>
  Context.make(OpenAiLanguageModel.Config, {
    ...(sampling.maxTokens !== undefined && { max_output_tokens: sampling.maxTokens }),
    ...(sampling.temperature !== undefined && { temperature: sampling.temperature }),
    ...(sampling.topP !== undefined && { top_p: sampling.topP }),
    ...(tools !== undefined && { strict: tools.tools.every((tool) => tool.strict === true) }),
    ...(tools?.parallel !== undefined && { parallel_tool_calls: tools.parallel })
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

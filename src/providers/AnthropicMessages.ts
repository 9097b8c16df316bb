/**
 * `api: "anthropic-messages"`: Anthropic's Messages API (`POST /v1/messages`, JSON and SSE) through
 * @effect/ai-anthropic's AnthropicClient and AnthropicLanguageModel.
 *
 * - `baseUrl` is the API's root (`https://api.anthropic.com`, the default); the library adds
 *   `/v1/messages`, so a `baseUrl` given with a trailing `/v1` is accepted too.
 * - `apiKey` goes in `x-api-key`; `headers` are added to every request (and win over the library's).
 * - Every non-2xx answer fails as an `HttpResponseError` carrying its status and headers, whatever
 *   its body: the library decodes the 4xx body of a non-stream call as an Anthropic error object
 *   and would report any other JSON body (a proxy's own error, for instance) as malformed output,
 *   losing the status (401, 429) the gateway maps.
 * - The library makes no retries of its own; the gateway does its bounded retry.
 * - The client's tools reach the API as tools whose `input_schema` is the client's JSON Schema
 *   (see ./ClientTools.ts); the library streams their calls as `tool-params-*` parts.
 * - Images reach the API as `image` blocks with a base64 source and their media type (the
 *   library's conversion of an @effect/ai file part, whose base64 it sends as it is).
 * - The Messages API has no JSON output mode: a request with a JSON `response_format` for an agent
 *   on this provider is answered 400 by the endpoint (see ../http/chat/AnswerFormat.ts) and never gets
 *   here, so `settings` takes no response format.
 */
import * as AnthropicClient from "@effect/ai-anthropic/AnthropicClient"
import * as AnthropicLanguageModel from "@effect/ai-anthropic/AnthropicLanguageModel"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { RunTools, Sampling } from "../domain/Run.js"
import * as LanguageModelModel from "./LanguageModelModel.js"
import type { MakeModel } from "./Provider.js"

/** The API requires `max_tokens`; this is sent when neither the request nor the agent sets one. */
export const DEFAULT_MAX_TOKENS = 4096

/** The API root the library expects: no trailing slash, no trailing `/v1`. */
export const apiUrl = (baseUrl: string): string => baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "")

/**
 * The run's sampling as the Messages API's fields; only the fields the run sets (and max_tokens).
 * A client that asks for one tool call at a time gets `disable_parallel_tool_use`.
 */
export const settings = (sampling: Sampling, tools?: RunTools): Context.Context<never> =>
  Context.make(AnthropicLanguageModel.Config, {
    max_tokens: sampling.maxTokens ?? DEFAULT_MAX_TOKENS,
    ...(sampling.temperature !== undefined && { temperature: sampling.temperature }),
    ...(sampling.topP !== undefined && { top_p: sampling.topP }),
    ...(sampling.stop !== undefined && sampling.stop.length > 0 && { stop_sequences: sampling.stop }),
    ...(tools?.parallel === false && { disableParallelToolCalls: true })
  })

export const make: MakeModel = ({ entry, model, provider }) =>
  Effect.gen(function*() {
    const headers = entry.headers
    const client = yield* AnthropicClient.make({
      apiKey: entry.apiKey,
      apiUrl: entry.baseUrl === undefined ? undefined : apiUrl(entry.baseUrl),
      transformClient: (client) =>
        HttpClient.filterStatusOk(
          headers === undefined ? client : HttpClient.mapRequest(client, HttpClientRequest.setHeaders(headers))
        )
    })
    const languageModel = yield* AnthropicLanguageModel.make({ model }).pipe(
      Effect.provideService(AnthropicClient.AnthropicClient, client)
    )
    return LanguageModelModel.make({ provider, model, languageModel, settings })
  })

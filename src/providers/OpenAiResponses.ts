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
 * - A run's `response_format` goes out as the request's `text.format` (`json_object`, or
 *   `json_schema` with the client's name, schema and strictness). The library only sends a format
 *   of its own making (from an Effect Schema, for `generateObject`), so the gateway sets it on the
 *   request body as the request leaves, from the `TextFormat` the run's settings provide.
 * - Images reach the API as `input_image` parts with a data URL, with OpenAI's `detail` when the
 *   client gave one. The library sends an image only from a URL: bytes it would encode to base64
 *   in pure JavaScript (seconds on the event loop for a large image) and a base64 string it leaves
 *   out, so the prompt's base64 images go to it as data URLs (see `DataUrl`).
 */
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as OpenAiLanguageModel from "@effect/ai-openai/OpenAiLanguageModel"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { AnswerFormat, RunTools, Sampling } from "../domain/Run.js"
import * as LanguageModelModel from "./LanguageModelModel.js"
import type { MakeModel } from "./Provider.js"

/**
 * The run's sampling as the Responses API's fields; only the fields the run sets. With tools: the
 * library's `strict` applies to every tool at once, so it is on only when the client asked for it
 * on each of them; and `parallel_tool_calls` when the client set it.
 */
export const settings = (sampling: Sampling, tools?: RunTools, format?: AnswerFormat): Context.Context<never> => {
  const config = Context.make(OpenAiLanguageModel.Config, {
    ...(sampling.maxTokens !== undefined && { max_output_tokens: sampling.maxTokens }),
    ...(sampling.temperature !== undefined && { temperature: sampling.temperature }),
    ...(sampling.topP !== undefined && { top_p: sampling.topP }),
    ...(tools !== undefined && { strict: tools.tools.every((tool) => tool.strict === true) }),
    ...(tools?.parallel !== undefined && { parallel_tool_calls: tools.parallel })
  })
  return format === undefined ? config : Context.add(config, TextFormat, format)
}

/** The run's response format, for the request's `text.format` (absent: the library's, text). */
export class TextFormat
  extends Context.Tag("clawgate/providers/OpenAiResponses/TextFormat")<TextFormat, AnswerFormat>()
{}

/** A response format as the Responses API's `text.format`: the client's fields, as it sent them. */
export const textFormatOf = (format: AnswerFormat): Record<string, unknown> =>
  format.type === "json_object"
    ? { type: "json_object" }
    : {
      type: "json_schema",
      name: format.name,
      ...(format.description !== undefined && { description: format.description }),
      ...(format.schema !== undefined && { schema: format.schema }),
      ...(format.strict !== undefined && { strict: format.strict })
    }

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const decoder = new TextDecoder()

/**
 * The request with the run's `text.format`, when the run has a response format and the request
 * has a JSON body (the library's requests do); any other request as it is.
 */
const withTextFormat = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.map(Effect.serviceOption(TextFormat), (format) => {
    if (Option.isNone(format) || request.body._tag !== "Uint8Array") return request
    const body: unknown = JSON.parse(decoder.decode(request.body.body))
    if (!isRecord(body)) return request
    const text = isRecord(body.text) ? body.text : {}
    return HttpClientRequest.bodyUnsafeJson(request, { ...body, text: { ...text, format: textFormatOf(format.value) } })
  })

/**
 * A data URL for the library, which sends an image's URL as `url.toString()`. `new URL` of a large
 * data URL holds the event loop for hundreds of milliseconds, so this one parses only the URL's
 * head (its `href`), and its text is the head and the client's base64 as it came.
 */
class DataUrl extends URL {
  constructor(mediaType: string, private readonly base64: string) {
    super(`data:${mediaType};base64,`)
  }
  override toString(): string {
    return `${super.toString()}${this.base64}`
  }
}

const isBase64Image = (part: Prompt.UserMessagePart): part is Prompt.FilePart & { readonly data: string } =>
  part.type === "file" && typeof part.data === "string" && part.mediaType.startsWith("image/")

/** The prompt with its base64 images as data URLs; the prompt as it is when it has none. */
const withDataUrlImages = (input: Prompt.RawInput): Prompt.RawInput => {
  const prompt = Prompt.make(input)
  const hasImages = prompt.content.some((message) => message.role === "user" && message.content.some(isBase64Image))
  if (!hasImages) return prompt
  return Prompt.fromMessages(prompt.content.map((message) =>
    message.role !== "user" ? message : {
      ...message,
      content: message.content.map((part) =>
        isBase64Image(part) ? { ...part, data: new DataUrl(part.mediaType, part.data) } : part
      )
    }
  ))
}

/** The library's model, its prompts' base64 images sent as data URLs. */
const sendingImages = (library: LanguageModel.Service): LanguageModel.Service => ({
  ...library,
  generateText: (options) => library.generateText({ ...options, prompt: withDataUrlImages(options.prompt) }),
  streamText: (options) => library.streamText({ ...options, prompt: withDataUrlImages(options.prompt) })
})

export const make: MakeModel = ({ entry, model, provider }) =>
  Effect.gen(function*() {
    const headers = entry.headers
    const client = yield* OpenAiClient.make({
      apiKey: entry.apiKey,
      apiUrl: entry.baseUrl,
      transformClient: (client) =>
        HttpClient.mapRequestEffect(
          headers === undefined ? client : HttpClient.mapRequest(client, HttpClientRequest.setHeaders(headers)),
          withTextFormat
        )
    })
    const library = yield* OpenAiLanguageModel.make({ model }).pipe(
      Effect.provideService(OpenAiClient.OpenAiClient, client)
    )
    return LanguageModelModel.make({ provider, model, languageModel: sendingImages(library), settings })
  })

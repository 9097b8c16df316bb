/**
 * The `openai-completions` provider: any OpenAI-compatible Chat Completions server (OpenAI, Ollama,
 * vLLM, llama.cpp, LM Studio, OpenRouter, Groq, another clawgate) as an @effect/ai LanguageModel (requests: ./Request.ts, answers: ./Wire.ts).
 * @effect/ai-openai speaks only the Responses API, so this is a small model of our own over
 * @effect/platform's HttpClient: `POST {baseUrl}/chat/completions`, JSON or SSE with
 * `stream_options.include_usage`.
 *
 * A run's `response_format` (`json_object`, `json_schema`) goes out as the request's
 * `response_format`, as the client sent it. Images of the current turn go out as `image_url` parts
 * with a data URL (and OpenAI's `detail` when the client gave one).
 *
 * The client's tools go out as Chat Completions function tools (their JSON Schema as the client
 * sent it) with `tool_choice`; the model's tool calls come back as tool-call parts, and when
 * streaming, as `tool-params-start` / `tool-params-delta` parts as the server streams them.
 *
 * Faults come out as @effect/ai `AiError`s that `ProviderErrors.fromAiError` maps: transport failures
 * before the answer's head as `HttpRequestError` ("Transport"), an answer whose body then fails as
 * `HttpResponseError` ("Decode"), non-2xx answers as `HttpResponseError` with status and headers,
 * an in-band `{"error": ...}` event or a stream cut short as `UnknownError`, an answer of the wrong
 * shape as `MalformedOutput`. The API key and the configured headers never appear in an error.
 */
import * as AiError from "@effect/ai/AiError"
import type * as IdGenerator from "@effect/ai/IdGenerator"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Response from "@effect/ai/Response"
import * as Sse from "@effect/experimental/Sse"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { MakeModel } from "../Provider.js"
import {
  DEFAULT_BASE_URL,
  maxTokensFieldOf,
  RequestConfig,
  requestSettings,
  toMessages,
  toolFields
} from "./Request.js"
import {
  callId,
  Completion,
  decodeChunk,
  errorText,
  MODULE,
  parseArguments,
  type StreamChunk,
  toFinishReason,
  toUsage,
  type WireToolCallDelta,
  type WireUsage
} from "./Wire.js"

/** How much of an error answer's body is kept (for the log), and how long it may take to read. */
const MAX_ERROR_BODY = 4096
const ERROR_BODY_TIMEOUT = "5 seconds"

/** Header names whose values never go into an error: credentials and whatever the config adds. */
const secretHeaders = (configured: Record<string, string> | undefined): ReadonlySet<string> =>
  new Set([
    "authorization",
    "proxy-authorization",
    "api-key",
    "x-api-key",
    "cookie",
    "set-cookie",
    ...Object.keys(configured ?? {}).map((name) => name.toLowerCase())
  ])

const scrub = (headers: Readonly<Record<string, unknown>>, secret: ReadonlySet<string>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(headers).map((
      [name, value]
    ) => [name, secret.has(name.toLowerCase()) ? "<redacted>" : String(value)])
  )

export const make: MakeModel = ({ entry, model, provider }) =>
  Effect.gen(function*() {
    const client = HttpClient.filterStatusOk(yield* HttpClient.HttpClient)
    const url = `${(entry.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "")}/chat/completions`
    const secret = secretHeaders(entry.headers)
    const maxTokensField = maxTokensFieldOf(entry)

    const request = (body: Record<string, unknown>, accept: string) =>
      HttpClientRequest.post(url).pipe(
        HttpClientRequest.setHeader("accept", accept),
        entry.apiKey === undefined ? (r) => r : HttpClientRequest.bearerToken(Redacted.value(entry.apiKey)),
        HttpClientRequest.setHeaders(entry.headers ?? {}),
        HttpClientRequest.setBody(HttpBody.unsafeJson(body))
      )

    const body = (options: LanguageModel.ProviderOptions) =>
      Effect.map(Effect.serviceOption(RequestConfig), (settings) => ({
        model,
        messages: toMessages(options.prompt),
        ...toolFields(options),
        ...Option.getOrElse(settings, () => ({}))
      }))

    /**
     * Platform errors as AiErrors, built here rather than with `fromRequestError` /
     * `fromResponseError`: those keep the platform error (the request with its Authorization
     * header, and its body) as the cause or, when the body cannot be read, as the body text.
     */
    const fromHttpError = (method: string) => (error: HttpClientError.HttpClientError) => {
      const request = {
        method: error.request.method,
        url: error.request.url,
        urlParams: error.request.urlParams,
        hash: error.request.hash,
        headers: scrub(error.request.headers, secret)
      }
      const description = error.description ?? (error.cause instanceof Error ? error.cause.message : undefined)
      if (error._tag === "RequestError") {
        return Effect.fail(
          new AiError.HttpRequestError({
            module: MODULE,
            method,
            reason: error.reason,
            request,
            ...(description !== undefined && { description }),
            // The network error itself, not the platform's request with its headers.
            ...(error.cause !== undefined && { cause: error.cause })
          }, { disableValidation: true })
        )
      }
      // The provider's own words on a status error, for the log; nothing when they cannot be read.
      const body = error.reason === "StatusCode"
        ? error.response.text.pipe(
          Effect.map((text) => text.length > MAX_ERROR_BODY ? `${text.slice(0, MAX_ERROR_BODY)}...` : text),
          Effect.timeout(ERROR_BODY_TIMEOUT),
          Effect.option
        )
        : Effect.succeedNone
      return Effect.flatMap(body, (body) =>
        Effect.fail(
          new AiError.HttpResponseError({
            module: MODULE,
            method,
            reason: error.reason,
            request,
            response: { status: error.response.status, headers: scrub(error.response.headers, secret) },
            ...(Option.isSome(body) && { body: body.value }),
            ...(description !== undefined && { description })
          }, { disableValidation: true })
        ))
    }

    const generateText = (options: LanguageModel.ProviderOptions) =>
      Effect.gen(function*() {
        const response = yield* client.execute(request(yield* body(options), "application/json"))
        const completion = yield* Effect.flatMap(response.json, Schema.decodeUnknown(Completion))
        const choice = completion.choices[0]
        const text = choice?.message.content ?? ""
        const toolCalls = yield* Effect.forEach(choice?.message.tool_calls ?? [], (call) =>
          Effect.all({
            id: callId(call.id),
            params: parseArguments(provider, "generateText", call.function.name, call.function.arguments)
          }).pipe(
            Effect.map(({ id, params }): Response.ToolCallPartEncoded => ({
              type: "tool-call",
              id,
              name: call.function.name,
              params
            }))
          ))
        const parts: Array<Response.PartEncoded> = [
          ...(completion.id !== undefined || completion.model !== undefined
            ? [{
              type: "response-metadata" as const,
              ...(completion.id !== undefined && { id: completion.id }),
              ...(completion.model !== undefined && { modelId: completion.model })
            }]
            : []),
          ...(text === "" ? [] : [{ type: "text" as const, text }]),
          ...toolCalls,
          { type: "finish", reason: toFinishReason(choice?.finish_reason), usage: toUsage(completion.usage) }
        ]
        return parts
      }).pipe(
        Effect.catchTags({
          RequestError: fromHttpError("generateText"),
          ResponseError: fromHttpError("generateText"),
          ParseError: (error) =>
            Effect.fail(AiError.MalformedOutput.fromParseError({
              module: MODULE,
              method: "generateText",
              description: `${provider} answered with an unexpected body`,
              error
            }))
        })
      )

    const streamText = (options: LanguageModel.ProviderOptions) =>
      Stream.unwrapScoped(Effect.flatMap(body(options), (body) => {
        // What the stream has said so far: the finish part is built from it at the end.
        let finishReason: string | null | undefined
        let usage: WireUsage | null | undefined
        let done = false
        let textStarted = false
        const textId = "0"
        /** The tool calls under way, by their index in the answer. */
        const toolCalls = new Map<number, { readonly id: string; readonly name: string; args: string }>()

        const onToolCallDelta = Effect.fnUntraced(function*(
          delta: typeof WireToolCallDelta.Type,
          position: number
        ) {
          const parts: Array<Response.StreamPartEncoded> = []
          const index = delta.index ?? position
          let call = toolCalls.get(index)
          if (call === undefined) {
            call = { id: yield* callId(delta.id), name: delta.function?.name ?? "", args: "" }
            toolCalls.set(index, call)
            parts.push({ type: "tool-params-start", id: call.id, name: call.name })
          }
          const piece = delta.function?.arguments
          if (piece !== undefined && piece !== null && piece !== "") {
            call.args += piece
            parts.push({ type: "tool-params-delta", id: call.id, delta: piece })
          }
          return parts
        })

        /** The calls, whole, once the answer is: each one's end and its arguments parsed. */
        const finishedToolCalls = Effect.suspend(() =>
          Effect.forEach(
            [...toolCalls.entries()].sort(([a], [b]) => a - b),
            ([, call]) =>
              Effect.map(
                parseArguments(provider, "streamText", call.name, call.args),
                (params): ReadonlyArray<Response.StreamPartEncoded> => [
                  { type: "tool-params-end", id: call.id },
                  { type: "tool-call", id: call.id, name: call.name, params }
                ]
              )
          )
        ).pipe(Effect.map((parts) => parts.flat()))

        /** The parts of one SSE event's chunk of the answer. */
        const onChunk = (chunk: typeof StreamChunk.Type) => {
          if (chunk.error !== undefined && chunk.error !== null) {
            return Effect.fail(
              new AiError.UnknownError({
                module: MODULE,
                method: "streamText",
                description: `${provider} failed mid-stream: ${errorText(chunk.error)}`
              })
            )
          }
          if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage
          return Effect.gen(function*() {
            const parts: Array<Response.StreamPartEncoded> = []
            for (const choice of chunk.choices ?? []) {
              const delta = choice.delta?.content
              if (delta !== undefined && delta !== null && delta !== "") {
                if (!textStarted) {
                  textStarted = true
                  parts.push({ type: "text-start", id: textId })
                }
                parts.push({ type: "text-delta", id: textId, delta })
              }
              const calls = choice.delta?.tool_calls ?? []
              for (let position = 0; position < calls.length; position++) {
                parts.push(...yield* onToolCallDelta(calls[position]!, position))
              }
              if (choice.finish_reason !== undefined && choice.finish_reason !== null) {
                finishReason = choice.finish_reason
              }
            }
            return parts
          })
        }

        const end = Effect.suspend((): Effect.Effect<Array<Response.StreamPartEncoded>, AiError.AiError> => {
          // A stream that stops with neither `[DONE]` nor a finish reason was cut short upstream.
          if (!done && finishReason === undefined) {
            return Effect.fail(
              new AiError.UnknownError({
                module: MODULE,
                method: "streamText",
                description: `${provider} ended the stream before the answer was finished`
              })
            )
          }
          return Effect.map(finishedToolCalls, (calls) => [
            ...(textStarted ? [{ type: "text-end" as const, id: textId }] : []),
            ...calls,
            { type: "finish" as const, reason: toFinishReason(finishReason), usage: toUsage(usage) }
          ])
        })

        // The answer's bytes become parts in one step (an SSE parser fed as they come, then each
        // event's JSON checked), not a Stream stage per step: an open stream holds every stage.
        const decoder = new TextDecoder()
        let events: Array<string> = []
        const parser = Sse.makeParser((event) => {
          if (event._tag === "Event") events.push(event.data)
        })
        const malformed = (description: string, error?: ParseResult.ParseError) =>
          error === undefined
            ? new AiError.MalformedOutput({ module: MODULE, method: "streamText", description })
            : AiError.MalformedOutput.fromParseError({ module: MODULE, method: "streamText", description, error })

        const httpErrors = { RequestError: fromHttpError("streamText"), ResponseError: fromHttpError("streamText") }

        /** Reads the events in a piece of the answer, adding their parts to `parts`. */
        const readEvents = (bytes: Chunk.Chunk<Uint8Array>, parts: Array<Response.StreamPartEncoded>) =>
          Effect.gen(function*() {
            for (const piece of bytes) {
              if (parser.feed(decoder.decode(piece, { stream: true })) !== undefined) {
                return yield* Effect.fail(malformed(`${provider} sent an event too large to read`))
              }
            }
            const received = events
            events = []
            for (const data of received) {
              // `[DONE]` ends the answer: what follows it is not read.
              if (data.trim() === "[DONE]") {
                done = true
                parts.push(...yield* end)
                return
              }
              const chunk = decodeChunk(data)
              if (Either.isLeft(chunk)) {
                return yield* Effect.fail(malformed(`${provider} sent an unexpected stream event`, chunk.left))
              }
              parts.push(...yield* onChunk(chunk.right))
            }
          })

        /**
         * The answer's bytes as parts, until `[DONE]` or their end: each read's parts go out,
         * then its failure if it had one (a piece before an in-band error still reaches the client).
         */
        const toParts = (): Channel.Channel<
          Chunk.Chunk<Response.StreamPartEncoded>,
          Chunk.Chunk<Uint8Array>,
          AiError.AiError,
          HttpClientError.HttpClientError,
          void,
          unknown,
          IdGenerator.IdGenerator
        > =>
          Channel.readWithCause({
            onInput: (bytes: Chunk.Chunk<Uint8Array>) => {
              const parts: Array<Response.StreamPartEncoded> = []
              return Channel.unwrap(Effect.map(Effect.either(readEvents(bytes, parts)), (read) =>
                Channel.zipRight(
                  Channel.write(Chunk.unsafeFromArray(parts)),
                  Either.isLeft(read) ? Channel.fail(read.left) : done ? Channel.void : Channel.suspend(toParts)
                )))
            },
            onFailure: (cause: Cause.Cause<HttpClientError.HttpClientError>) =>
              Channel.fromEffect(Effect.catchTags(Effect.failCause(cause), httpErrors)),
            onDone: () => Channel.unwrap(Effect.map(end, (parts) => Channel.write(Chunk.unsafeFromArray(parts))))
          })

        return client.execute(request(
          { ...body, stream: true, stream_options: { include_usage: true } },
          "text/event-stream"
        )).pipe(
          Effect.catchTags(httpErrors),
          Effect.map((response) => Stream.pipeThroughChannel(response.stream, toParts()))
        )
      }))

    const calls: LanguageModel.ConstructorParams = { generateText, streamText }
    return {
      provider,
      model,
      languageModel: yield* LanguageModel.make(calls),
      calls,
      settings: (sampling, tools, format) =>
        Context.make(RequestConfig, requestSettings(sampling, tools, format, maxTokensField))
    }
  })

/**
 * The `anthropic-messages` provider's own request and stream reading, held to @effect/ai-anthropic,
 * which the provider was built on first: over random model requests (system text, user text and
 * images, assistant text and tool calls, tool results, client tools and their choice, sampling) it
 * sends the body the library sends, and over random streams of the API's events (text, tool calls
 * whose input streams in pieces or not at all, usage, each stop reason) it gives the run the events
 * the library's parts gave it.
 */
import * as AnthropicClient from "@effect/ai-anthropic/AnthropicClient"
import * as AnthropicLanguageModel from "@effect/ai-anthropic/AnthropicLanguageModel"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import type { AgentEvent } from "../../src/domain/AgentEvent.js"
import { ProviderTimeout } from "../../src/domain/Errors.js"
import type { RunTools, Sampling } from "../../src/domain/Run.js"
import { bodyOf, DEFAULT_MAX_TOKENS } from "../../src/providers/anthropic-messages/Request.js"
import { makeStreamReader, replyOf } from "../../src/providers/anthropic-messages/Wire.js"
import * as LanguageModelModel from "../../src/providers/LanguageModelModel.js"
import type { ModelMessage, ModelRequest } from "../../src/providers/Provider.js"
import { makeDataParser } from "../../src/providers/SseData.js"

const MODEL = "claude-test"

/** The library's provider as it was: its request settings, a model over an HTTP client that answers `body`. */
const libraryModel = (answer: (requestBody: unknown) => Response) =>
  Effect.gen(function*() {
    const client = yield* AnthropicClient.make({ apiUrl: "http://anthropic.test" }).pipe(
      Effect.provideService(
        HttpClient.HttpClient,
        HttpClient.make((request) =>
          Effect.sync(() => {
            const body = request.body._tag === "Uint8Array"
              ? JSON.parse(new TextDecoder().decode(request.body.body))
              : {}
            return HttpClientResponse.fromWeb(request, answer(body))
          })
        )
      )
    )
    const languageModel = yield* AnthropicLanguageModel.make({ model: MODEL }).pipe(
      Effect.provideService(AnthropicClient.AnthropicClient, client)
    )
    return LanguageModelModel.make({
      provider: "anthropic",
      model: MODEL,
      languageModel,
      settings: (sampling: Sampling, tools?: RunTools) =>
        Context.make(AnthropicLanguageModel.Config, {
          max_tokens: sampling.maxTokens ?? DEFAULT_MAX_TOKENS,
          ...(sampling.temperature !== undefined && { temperature: sampling.temperature }),
          ...(sampling.topP !== undefined && { top_p: sampling.topP }),
          ...(sampling.stop !== undefined && sampling.stop.length > 0 && { stop_sequences: sampling.stop }),
          ...(tools?.parallel === false && { disableParallelToolCalls: true })
        })
    })
  })

const sse = (events: ReadonlyArray<unknown>) =>
  events.map((event) => `event: ${(event as { type: string }).type}\ndata: ${JSON.stringify(event)}\n\n`).join("")

const timeLimit = { ms: 60_000, error: () => new ProviderTimeout({ provider: "anthropic", timeoutMs: 60_000 }) }

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

const word = FastCheck.constantFrom("hello", " world", "", "  padded  ", "é", "{\"a\":1}", "[1,2]", "5")
const json = FastCheck.constantFrom("{}", "{\"city\":\"Paris\"}", "{\"n\":[1,2,{\"x\":null}]}", "", "not json")
const callId = FastCheck.constantFrom("toolu_1", "toolu_2", "call_3")
const toolName = FastCheck.constantFrom("get_weather", "calc__add", "search")
const image = FastCheck.record({
  mediaType: FastCheck.constantFrom("image/png", "image/jpeg"),
  base64: FastCheck.constantFrom("iVBORw0KGgo=", "/9j/4AAQ")
})
const message: FastCheck.Arbitrary<ModelMessage> = FastCheck.oneof(
  word.map((content): ModelMessage => ({ role: "user", content })),
  FastCheck.array(
    FastCheck.oneof(
      word.map((text) => ({ type: "text", text }) as const),
      image.map((image) => ({ type: "image", image }) as const)
    ),
    { minLength: 1, maxLength: 3 }
  ).map((parts): ModelMessage => ({ role: "user", content: "[image]", parts })),
  FastCheck.record({
    content: word,
    toolCalls: FastCheck.array(FastCheck.record({ id: callId, name: toolName, arguments: json }), { maxLength: 2 })
  }).map(({ content, toolCalls }): ModelMessage => ({
    role: "assistant",
    content,
    ...(toolCalls.length > 0 && { toolCalls })
  })),
  FastCheck.record({ toolCallId: callId, name: toolName, content: FastCheck.oneof(word, json) }).map(
    (result): ModelMessage => ({ role: "tool", ...result })
  )
)
const tools: FastCheck.Arbitrary<RunTools | undefined> = FastCheck.option(
  FastCheck.record({
    tools: FastCheck.uniqueArray(
      FastCheck.record({
        name: toolName,
        description: FastCheck.option(FastCheck.constant("Looks it up"), { nil: undefined }),
        parameters: FastCheck.option(
          FastCheck.constantFrom(
            { type: "object", properties: { city: { type: "string" } } },
            { properties: { q: { type: "string" } } }
          ),
          { nil: undefined }
        )
      }, { requiredKeys: ["name"] }),
      { minLength: 1, maxLength: 3, selector: (tool) => tool.name }
    ),
    choice: FastCheck.oneof(
      FastCheck.constantFrom("auto", "none", "required") as FastCheck.Arbitrary<RunTools["choice"]>,
      toolName.map((tool) => ({ tool })),
      FastCheck.record({
        oneOf: FastCheck.subarray(["get_weather", "calc__add", "search"], { minLength: 1 }),
        mode: FastCheck.constantFrom("auto", "required") as FastCheck.Arbitrary<"auto" | "required">
      })
    ),
    parallel: FastCheck.option(FastCheck.boolean(), { nil: undefined })
  }, { requiredKeys: ["tools", "choice"] }),
  { nil: undefined }
)
const sampling: FastCheck.Arbitrary<Sampling> = FastCheck.record({
  temperature: FastCheck.constantFrom(0, 0.5, 1),
  topP: FastCheck.constantFrom(0.1, 0.9),
  maxTokens: FastCheck.constantFrom(16, 1000),
  stop: FastCheck.constantFrom([], ["END"], ["a", "b"])
}, { requiredKeys: [] })

const request: FastCheck.Arbitrary<ModelRequest> = FastCheck.record({
  system: FastCheck.option(word, { nil: undefined }),
  // The conversation ends with what to answer: a user message, a tool's result, or the start of
  // the answer (a client's prefill).
  messages: FastCheck.tuple(
    FastCheck.array(message, { maxLength: 6 }),
    FastCheck.oneof(
      word.map((content): ModelMessage => ({ role: "user", content })),
      FastCheck.record({ toolCallId: callId, name: toolName, content: json }).map(
        (result): ModelMessage => ({ role: "tool", ...result })
      ),
      word.map((content): ModelMessage => ({ role: "assistant", content }))
    )
  ).map(([earlier, last]) => [...earlier, last]),
  tools,
  sampling
}).map((fields) => ({ ...fields, answerFormat: undefined, timeLimit }))

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

type Block =
  | { readonly kind: "text"; readonly pieces: ReadonlyArray<string> }
  | { readonly kind: "tool"; readonly id: string; readonly name: string; readonly input: ReadonlyArray<string> }

const block: FastCheck.Arbitrary<Block> = FastCheck.oneof(
  FastCheck.array(FastCheck.constantFrom("Hel", "lo", "", " wörld", "\"q\"", "\\", "\n"), { maxLength: 4 }).map(
    (pieces): Block => ({ kind: "text", pieces })
  ),
  FastCheck.record({
    id: callId,
    name: toolName,
    // the input's JSON cut in pieces, or none at all
    input: FastCheck.constantFrom([], ["{\"ci", "ty\":\"Pa", "ris\"}"], ["{}"], ["", "{\"n\":1}"])
  }).map((call): Block => ({ kind: "tool", ...call }))
)
const stream = FastCheck.record({
  blocks: FastCheck.array(block, { maxLength: 4 }),
  stopReason: FastCheck.constantFrom("end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn"),
  inputTokens: FastCheck.option(FastCheck.nat(99), { nil: undefined }),
  outputTokens: FastCheck.option(FastCheck.nat(99), { nil: undefined })
})

const eventsOfStream = (
  { blocks, inputTokens, outputTokens, stopReason }: typeof stream extends FastCheck.Arbitrary<infer A> ? A : never
) => [
  {
    type: "message_start",
    message: {
      id: "msg_1",
      type: "message",
      role: "assistant",
      content: [],
      model: MODEL,
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: inputTokens ?? 0, output_tokens: 1 }
    }
  },
  { type: "ping" },
  ...blocks.flatMap((block, index): Array<unknown> =>
    block.kind === "text"
      ? [
        { type: "content_block_start", index, content_block: { type: "text", text: "" } },
        ...block.pieces.map((text) => ({ type: "content_block_delta", index, delta: { type: "text_delta", text } })),
        { type: "content_block_stop", index }
      ]
      : [
        {
          type: "content_block_start",
          index,
          content_block: { type: "tool_use", id: block.id, name: block.name, input: {} }
        },
        ...block.input.map((partial_json) => ({
          type: "content_block_delta",
          index,
          delta: { type: "input_json_delta", partial_json }
        })),
        { type: "content_block_stop", index }
      ]
  ),
  {
    type: "message_delta",
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: outputTokens ?? 0 }
  },
  { type: "message_stop" }
]

/** The same answer as one JSON message. */
const messageOf = (
  { blocks, inputTokens, outputTokens, stopReason }: typeof stream extends FastCheck.Arbitrary<infer A> ? A : never
) => ({
  id: "msg_1",
  type: "message",
  role: "assistant",
  model: MODEL,
  content: blocks.map((block) =>
    block.kind === "text"
      ? { type: "text", text: block.pieces.join("") }
      : { type: "tool_use", id: block.id, name: block.name, input: JSON.parse(block.input.join("") || "{}") }
  ),
  stop_reason: stopReason,
  stop_sequence: null,
  usage: { input_tokens: inputTokens ?? 0, output_tokens: outputTokens ?? 0 }
})

/** A request offering the tools the answers call (the library refuses a call of a tool it was not given). */
const answerable: ModelRequest = {
  system: undefined,
  messages: [{ role: "user", content: "hi" }],
  tools: { tools: ["get_weather", "calc__add", "search"].map((name) => ({ name })), choice: "auto" },
  sampling: {},
  answerFormat: undefined,
  timeLimit
}

/** Our reader's events for the stream's text, read whole. */
const ourEvents = (text: string): Array<AgentEvent> => {
  const reader = makeStreamReader("anthropic")
  const events: Array<AgentEvent> = []
  const parser = makeDataParser((data) => {
    const read = reader.onEvent(data, events)
    if (Either.isLeft(read)) throw new Error(read.left.detail)
  })
  parser.feed(text)
  return events
}

/** The library's parts, as the run's events, for the same text. */
const libraryEvents = (text: string) =>
  Effect.gen(function*() {
    const model = yield* libraryModel(() =>
      new Response(text, { status: 200, headers: { "content-type": "text/event-stream" } })
    )
    const pull = yield* model.open(answerable)
    const events: Array<AgentEvent> = []
    for (;;) {
      const next = yield* Effect.either(pull)
      if (Either.isRight(next)) events.push(...Chunk.toReadonlyArray(next.right))
      else if (Option.isNone(next.left)) return events
      else return yield* Effect.die(next.left.value)
    }
  }).pipe(Effect.scoped)

describe("the anthropic-messages provider, against @effect/ai-anthropic", () => {
  it.effect.prop(
    "sends the body the library sends, for any request",
    [request],
    ([modelRequest]) =>
      Effect.scoped(Effect.gen(function*() {
        let sent: unknown
        const model = yield* libraryModel((body) => {
          sent = body
          return new Response(sse([]), { status: 200, headers: { "content-type": "text/event-stream" } })
        })
        yield* Effect.scoped(Effect.ignore(Effect.flatMap(model.open(modelRequest), (pull) => pull)))
        // The library spreads its settings into the body, one of them under a name of its own.
        const { disableParallelToolCalls: _, ...library } = sent as Record<string, unknown>
        expect(JSON.parse(bodyOf(MODEL, modelRequest, { stream: true }))).toEqual(library)
      }))
  )

  it.effect.prop(
    "gives the run the events the library gave, for any stream",
    [stream],
    ([answer]) =>
      Effect.gen(function*() {
        const text = sse(eventsOfStream(answer))
        expect(ourEvents(text)).toEqual(yield* libraryEvents(text))
      })
  )

  it.effect.prop(
    "reads a plain answer as the library did, for any answer",
    [stream],
    ([answer]) =>
      Effect.scoped(Effect.gen(function*() {
        const text = JSON.stringify(messageOf(answer))
        const model = yield* libraryModel(() =>
          new Response(text, { status: 200, headers: { "content-type": "application/json" } })
        )
        expect(replyOf("anthropic", text)).toEqual(Either.right(yield* model.complete(answerable)))
      }))
  )
})

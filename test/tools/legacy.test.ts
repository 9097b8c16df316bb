/**
 * Legacy function calling (`functions` and `function_call`, still sent by older clients and
 * instructor's FUNCTIONS mode), over the real loopback gateway with the live runner on the Chat
 * Completions fake and the official `openai` SDK: the functions reach the model as tools, its call
 * comes back in the legacy shape (`message.function_call`, streamed `delta.function_call`,
 * `finish_reason: "function_call"`), and a `function` message with the result continues the turn,
 * in stored sessions too. Then what the runner is given, and the 400s for legacy fields that
 * cannot be honoured.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions"
import type { FunctionDefinition } from "openai/resources/shared"
import { completion, streamedCompletion } from "../kit/clients.js"
import { chat, hello, invalidRequest, text } from "../kit/http.js"
import { lastRun, recordingGateway } from "../kit/runs.js"
import { sentConversation, sentTools } from "../kit/sent.js"
import { eventsOf } from "../kit/sse.js"
import { Upstream, upstreamGateway } from "../kit/upstream.js"
import { chunksOf, finishReasons } from "../kit/wire.js"

const WEATHER = {
  name: "get_weather",
  description: "The current weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
} satisfies FunctionDefinition

/** A function without a description or parameters. */
const CLOCK = { name: "get_time" } satisfies FunctionDefinition

const FUNCTIONS = [WEATHER, CLOCK]

const WEATHER_PIECES = ["{\"city\":", "\"Paris\"}"]
const WEATHER_CALL = { id: "call_weather_1", name: "get_weather", pieces: WEATHER_PIECES }
const CLOCK_CALL = { id: "call_time_2", name: "get_time", pieces: ["{}"] }

const question: ChatCompletionMessageParam = { role: "user", content: "What is the weather in Paris?" }

/** The history a legacy client sends back after running the weather function. */
const withResult = (result: string): Array<ChatCompletionMessageParam> => [
  question,
  { role: "assistant", content: null, function_call: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } },
  { role: "function", name: "get_weather", content: result }
]

/** The deltas of a streamed answer's chunks, in order. */
const deltasOf = (body: string) =>
  chunksOf(eventsOf(body)).flatMap((chunk) => chunk.choices.map((choice) => choice.delta))

describe("legacy function calling on a Chat Completions provider", () => {
  const served = Effect.provide(upstreamGateway("openai-completions"))

  it.scopedLive("functions reach the model as tools, a named function_call as that tool's choice, one call at a time", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      yield* upstream.answerText(["Sunny."])
      yield* completion({
        messages: [question],
        functions: FUNCTIONS,
        function_call: { name: "get_weather" }
      })
      const body = (yield* upstream.nextRequest).body
      expect(sentTools("openai-completions", body)).toEqual([
        { name: "get_weather", description: WEATHER.description, parameters: WEATHER.parameters },
        { name: "get_time", description: undefined, parameters: { type: "object", properties: {} } }
      ])
      expect(body).toHaveProperty("tool_choice", { type: "function", function: { name: "get_weather" } })
      expect(body).toHaveProperty("parallel_tool_calls", false)
    }).pipe(served))

  it.scopedLive("the model's call comes back as message.function_call with finish_reason function_call", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      yield* upstream.answerToolCalls([WEATHER_CALL])
      const answer = yield* completion({ messages: [question], functions: FUNCTIONS })
      const [choice] = answer.choices
      expect(choice?.finish_reason).toBe("function_call")
      expect(choice?.message.content).toBeNull()
      expect(choice?.message.function_call).toEqual({ name: "get_weather", arguments: WEATHER_PIECES.join("") })
      expect(choice?.message).not.toHaveProperty("tool_calls")
    }).pipe(served))

  it.scopedLive("streamed, delta.function_call carries the name with empty arguments, then the argument pieces", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      yield* upstream.answerToolCalls([WEATHER_CALL])
      const response = yield* chat({ model: "clawdbot:main", messages: [question], functions: FUNCTIONS, stream: true })
      expect(response.status).toBe(200)
      const body = yield* text(response)
      const deltas = deltasOf(body)
      expect(deltas.flatMap((delta) => delta.function_call ?? [])).toEqual([
        { name: "get_weather", arguments: "" },
        ...WEATHER_PIECES.map((piece) => ({ arguments: piece }))
      ])
      expect(deltas.some((delta) => delta.tool_calls !== undefined)).toBe(false)
      expect(finishReasons(eventsOf(body))).toEqual(["function_call"])

      // The SDK's stream helper reassembles the call.
      yield* upstream.answerToolCalls([WEATHER_CALL])
      const answer = yield* streamedCompletion({ messages: [question], functions: FUNCTIONS })
      expect(answer.choices[0]?.finish_reason).toBe("function_call")
      expect(answer.choices[0]?.message.function_call).toEqual({
        name: "get_weather",
        arguments: WEATHER_PIECES.join("")
      })
    }).pipe(served))

  it.scopedLive("a model that makes several calls anyway: the answer carries the first one, JSON and streamed", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      yield* upstream.answerToolCalls([WEATHER_CALL, CLOCK_CALL])
      const json = yield* completion({ messages: [question], functions: FUNCTIONS })
      expect(json.choices[0]?.message.function_call).toEqual({
        name: "get_weather",
        arguments: WEATHER_PIECES.join("")
      })

      yield* upstream.answerToolCalls([WEATHER_CALL, CLOCK_CALL])
      const response = yield* chat({ model: "clawdbot:main", messages: [question], functions: FUNCTIONS, stream: true })
      const body = yield* text(response)
      expect(deltasOf(body).flatMap((delta) => delta.function_call ?? [])).toEqual([
        { name: "get_weather", arguments: "" },
        ...WEATHER_PIECES.map((piece) => ({ arguments: piece }))
      ])
      expect(finishReasons(eventsOf(body))).toEqual(["function_call"])
    }).pipe(served))

  it.scopedLive("a function message answers the assistant's function_call before it, under the same stable id", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      const ask = Effect.zipRight(
        upstream.answerText(["It is 21 degrees."]),
        completion({
          messages: withResult("{\"temp\":21}"),
          functions: FUNCTIONS
        })
      ).pipe(
        Effect.zipRight(Effect.map(upstream.nextRequest, (request) => request.body)),
        Effect.map((body) => sentConversation("openai-completions", body))
      )
      const sent = yield* ask
      const id = /^call (\S+) /.exec(sent[1] ?? "")?.[1]
      expect(sent).toEqual([
        `user: ${question.content}`,
        `call ${id} get_weather {"city":"Paris"}`,
        `result ${id} {"temp":21}`
      ])
      // The same history, the same prompt (a provider's prompt cache still applies).
      expect(yield* ask).toEqual(sent)
    }).pipe(served))

  it.scopedLive("in a stored session, the function result answers the stored call; the transcript holds both once", () =>
    Effect.gen(function*() {
      const upstream = yield* Upstream
      const user = "carol-legacy"
      // Turn 1, streamed: the model calls the function.
      yield* upstream.answerToolCalls([WEATHER_CALL])
      const first = yield* streamedCompletion({ messages: [question], functions: FUNCTIONS, user })
      const call = first.choices[0]?.message.function_call
      if (call === undefined || call === null) throw new Error("no function call")
      yield* upstream.nextRequest

      // Turn 2: the client resends its history with the result, which has no call id.
      yield* upstream.answerText(["It is 21 degrees."])
      yield* completion({
        messages: [
          question,
          { role: "assistant", content: null, function_call: call },
          { role: "function", name: call.name, content: "{\"temp\":21}" }
        ],
        functions: FUNCTIONS,
        user
      })
      const turn = [
        `user: ${question.content}`,
        `call ${WEATHER_CALL.id} get_weather {"city":"Paris"}`,
        `result ${WEATHER_CALL.id} {"temp":21}`
      ]
      expect(sentConversation("openai-completions", (yield* upstream.nextRequest).body)).toEqual(turn)

      // Turn 3: only the new message; the stored transcript gives the model the rest, once.
      yield* upstream.answerText(["You are welcome."])
      yield* completion({
        messages: [{ role: "user", content: "Thanks!" }],
        functions: FUNCTIONS,
        user
      })
      expect(sentConversation("openai-completions", (yield* upstream.nextRequest).body)).toEqual([
        ...turn,
        "assistant: It is 21 degrees.",
        "user: Thanks!"
      ])
    }).pipe(served))
})

describe("legacy functions in the run request", () => {
  it.scopedLive("functions and each function_call form reach the runner as tools and a tool choice, one call at a time", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, unknown]> = [
        ["none", "none"],
        ["auto", "auto"],
        [{ name: "get_time" }, { tool: "get_time" }],
        // No function_call: the model decides.
        [undefined, "auto"]
      ]
      for (const [sent, given] of cases) {
        expect((yield* chat(hello({ functions: FUNCTIONS, function_call: sent }))).status).toBe(200)
        expect((yield* lastRun).tools).toEqual({
          tools: [
            { name: "get_weather", description: WEATHER.description, parameters: WEATHER.parameters },
            { name: "get_time" }
          ],
          choice: given,
          parallel: false
        })
      }
    }).pipe(Effect.provide(recordingGateway())))
})

describe("legacy fields that cannot be honoured: 400 naming the field", () => {
  const TOOL = { type: "function", function: WEATHER }
  const cases: ReadonlyArray<
    { readonly name: string; readonly body: Record<string, unknown>; readonly param: string }
  > = [
    { name: "functions together with tools", body: { functions: [WEATHER], tools: [TOOL] }, param: "functions" },
    {
      name: "function_call together with tool_choice",
      body: { tools: [TOOL], function_call: "auto", tool_choice: "auto" },
      param: "function_call"
    },
    {
      name: "a function_call naming a function that is not offered",
      body: { functions: [WEATHER], function_call: { name: "get_time" } },
      param: "function_call"
    },
    {
      name: "a function call required without functions",
      body: { function_call: { name: "get_time" } },
      param: "function_call"
    },
    { name: "two functions with one name", body: { functions: [WEATHER, WEATHER] }, param: "functions" },
    {
      name: "a function name OpenAI would refuse",
      body: { functions: [{ name: "get weather" }] },
      param: "functions[0].name"
    },
    {
      name: "an assistant function_call without its arguments",
      body: {
        messages: [
          { role: "user", content: "hi" },
          { role: "assistant", content: null, function_call: { name: "get_time" } },
          { role: "function", name: "get_time", content: "noon" }
        ]
      },
      param: "messages[1].function_call.arguments"
    }
  ]
  for (const { body, name, param } of cases) {
    it.scopedLive(name, () =>
      Effect.gen(function*() {
        const error = yield* invalidRequest(hello(body), param)
        expect(error.message).toContain(param.split(".")[0]!.split("[")[0])
      }).pipe(Effect.provide(recordingGateway())))
  }
})

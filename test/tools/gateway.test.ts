/**
 * Client tools end to end, over the real loopback gateway with the live
 * runner on each provider api's fake server, with the official `openai` SDK: the request's tools
 * and tool_choice reach the provider in its own format with the client's JSON Schema unchanged;
 * the model's tool calls come back as `message.tool_calls` with `finish_reason: "tool_calls"`, and
 * streamed as `delta.tool_calls` pieces as OpenAI streams them; the next request's tool results
 * continue the turn, in stored sessions too (the transcript holds the call and the result once).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions"
import { completion, streamedCompletion } from "../kit/clients.js"
import { chat, text } from "../kit/http.js"
import { sentConversation, sentTools } from "../kit/sent.js"
import { eventsOf } from "../kit/sse.js"
import { type Api, APIS, Upstream, upstreamGateway } from "../kit/upstream.js"
import { chunksOf } from "../kit/wire.js"

const WEATHER = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The current weather in a city",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string", description: "The city's name" },
        unit: { type: "string", enum: ["celsius", "fahrenheit"] },
        when: { $ref: "#/$defs/moment" }
      },
      required: ["city"],
      additionalProperties: false,
      $defs: { moment: { type: "object", properties: { day: { type: "integer", minimum: 0 } } } }
    }
  }
} satisfies ChatCompletionTool

/** A tool without a description or parameters. */
const CLOCK = { type: "function", function: { name: "get_time" } } satisfies ChatCompletionTool

const TOOLS = [WEATHER, CLOCK]

/** The first call's arguments, in the pieces the provider streams: one key is not in the schema. */
const WEATHER_PIECES = ["{\"city\":\"Paris\",", "\"unit\":\"celsius\",", "\"extra\":{\"nested\":[1,2]}}"]
const WEATHER_CALL = { id: "call_weather_1", name: "get_weather", pieces: WEATHER_PIECES }
const CLOCK_CALL = { id: "call_time_2", name: "get_time", pieces: ["{}"] }

/** `tool_choice` as each api names "this tool" and "some tool". */
const namedChoice = (api: Api, name: string): unknown => {
  switch (api) {
    case "openai-completions":
      return { type: "function", function: { name } }
    case "anthropic-messages":
      return { type: "tool", name }
    case "openai-responses":
      return { type: "function", name }
  }
}
const requiredChoice = (api: Api): unknown => api === "anthropic-messages" ? { type: "any" } : "required"

const question: ChatCompletionMessageParam = { role: "user", content: "What is the weather in Paris?" }

/** The history a client sends back after running the weather tool. */
const withResult = (result: string): Array<ChatCompletionMessageParam> => [
  question,
  {
    role: "assistant",
    content: null,
    tool_calls: [{
      id: WEATHER_CALL.id,
      type: "function",
      function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" }
    }]
  },
  { role: "tool", tool_call_id: WEATHER_CALL.id, content: result }
]

for (const api of APIS) {
  describe(`client tools on ${api}`, () => {
    const served = Effect.provide(upstreamGateway(api))

    it.scopedLive("the tools and tool_choice reach the provider in its format, each JSON Schema unchanged", () =>
      Effect.gen(function*() {
        const upstream = yield* Upstream
        yield* upstream.answerText(["Sunny."])
        yield* completion({
          messages: [question],
          tools: TOOLS,
          tool_choice: { type: "function", function: { name: "get_weather" } }
        })
        const body = (yield* upstream.nextRequest).body
        expect(sentTools(api, body)).toEqual([
          { name: "get_weather", description: WEATHER.function.description, parameters: WEATHER.function.parameters },
          { name: "get_time", description: undefined, parameters: { type: "object", properties: {} } }
        ])
        expect(body).toHaveProperty("tool_choice", namedChoice(api, "get_weather"))

        yield* upstream.answerText(["Sunny."])
        yield* completion({
          messages: [question],
          tools: TOOLS,
          tool_choice: "required"
        })
        expect((yield* upstream.nextRequest).body).toHaveProperty("tool_choice", requiredChoice(api))
      }).pipe(served))

    it.scopedLive("parallel_tool_calls and each tool's strict flag reach the provider as it names them", () =>
      Effect.gen(function*() {
        const upstream = yield* Upstream
        const strictWeather = { ...WEATHER, function: { ...WEATHER.function, strict: true } }
        const ask = (tools: Array<ChatCompletionTool>) =>
          Effect.zipRight(
            upstream.answerText(["Sunny."]),
            completion({
              messages: [question],
              tools,
              parallel_tool_calls: false
            })
          ).pipe(Effect.zipRight(Effect.map(upstream.nextRequest, (request) => request.body)))
        const mixed = yield* ask([strictWeather, CLOCK])
        const allStrict = yield* ask([strictWeather])
        switch (api) {
          case "openai-completions":
            expect(mixed).toHaveProperty("parallel_tool_calls", false)
            expect(mixed).toHaveProperty(["tools", 0, "function", "strict"], true)
            expect(mixed).not.toHaveProperty(["tools", 1, "function", "strict"])
            break
          case "anthropic-messages":
            expect(mixed).toHaveProperty("tool_choice", { type: "auto", disable_parallel_tool_use: true })
            break
          case "openai-responses":
            // The library's strictness is one for all tools: on only when every tool asks for it.
            expect(mixed).toHaveProperty("parallel_tool_calls", false)
            expect(mixed).toHaveProperty(["tools", 0, "strict"], false)
            expect(allStrict).toHaveProperty(["tools", 0, "strict"], true)
            break
        }
      }).pipe(served))

    it.scopedLive("a tool call comes back as message.tool_calls with finish_reason tool_calls, arguments intact", () =>
      Effect.gen(function*() {
        const upstream = yield* Upstream
        yield* upstream.answerToolCalls([WEATHER_CALL])
        const answer = yield* completion({ messages: [question], tools: TOOLS })
        const [choice] = answer.choices
        expect(choice?.finish_reason).toBe("tool_calls")
        expect(choice?.message.content).toBeNull()
        const calls = choice?.message.tool_calls ?? []
        expect(calls.map((call) => call.type === "function" && { id: call.id, name: call.function.name })).toEqual([
          { id: WEATHER_CALL.id, name: "get_weather" }
        ])
        const [call] = calls
        const args: unknown = call?.type === "function" ? JSON.parse(call.function.arguments) : undefined
        expect(args).toEqual(JSON.parse(WEATHER_PIECES.join("")))
        expect(answer.usage?.total_tokens).toBeGreaterThan(0)
      }).pipe(served))

    it.scopedLive("streamed, each call is a delta with index, id, type and name, then its argument pieces", () =>
      Effect.gen(function*() {
        const upstream = yield* Upstream
        yield* upstream.answerToolCalls([WEATHER_CALL, CLOCK_CALL])
        const response = yield* chat({ model: "clawdbot:main", messages: [question], tools: TOOLS, stream: true })
        expect(response.status).toBe(200)
        const chunks = chunksOf(eventsOf(yield* text(response)))
        expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant")
        expect(chunks.flatMap((chunk) => chunk.choices.flatMap((choice) => choice.delta.tool_calls ?? []))).toEqual([
          { index: 0, id: WEATHER_CALL.id, type: "function", function: { name: "get_weather", arguments: "" } },
          ...WEATHER_PIECES.map((piece) => ({ index: 0, function: { arguments: piece } })),
          { index: 1, id: CLOCK_CALL.id, type: "function", function: { name: "get_time", arguments: "" } },
          { index: 1, function: { arguments: "{}" } }
        ])
        const finishes = chunks.flatMap((chunk) => chunk.choices.flatMap((choice) => choice.finish_reason ?? []))
        expect(finishes).toEqual(["tool_calls"])
        expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1)
      }).pipe(served))

    if (api !== "openai-responses") {
      it.scopedLive("text before the tool calls comes first, as content, in JSON and streamed", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          yield* upstream.answerToolCalls([WEATHER_CALL], { text: ["Let me ", "check."] })
          const json = yield* completion({ messages: [question], tools: TOOLS })
          expect(json.choices[0]?.message.content).toBe("Let me check.")
          expect(json.choices[0]?.message.tool_calls?.map((call) => call.id)).toEqual([WEATHER_CALL.id])

          yield* upstream.answerToolCalls([WEATHER_CALL], { text: ["Let me ", "check."] })
          const response = yield* chat({ model: "clawdbot:main", messages: [question], tools: TOOLS, stream: true })
          const deltas = chunksOf(eventsOf(yield* text(response))).flatMap((chunk) =>
            chunk.choices.map((choice) => choice.delta)
          )
          const firstCall = deltas.findIndex((delta) => delta.tool_calls !== undefined)
          expect(deltas.slice(0, firstCall).map((delta) => delta.content ?? "").join("")).toBe("Let me check.")
          expect(deltas.slice(firstCall).some((delta) => (delta.content ?? "") !== "")).toBe(false)
        }).pipe(served))
    }

    if (api !== "openai-responses") {
      it.scopedLive("a provider that calls tools but says stop: the answer still finishes with tool_calls", () =>
        Effect.gen(function*() {
          const upstream = yield* Upstream
          yield* upstream.answerToolCalls([CLOCK_CALL], { saysStop: true })
          const json = yield* completion({ messages: [question], tools: TOOLS })
          expect(json.choices[0]?.finish_reason).toBe("tool_calls")
          yield* upstream.answerToolCalls([CLOCK_CALL], { saysStop: true })
          const streamed = yield* streamedCompletion({ messages: [question], tools: TOOLS })
          expect(streamed.choices[0]?.finish_reason).toBe("tool_calls")
          expect(streamed.choices[0]?.message.tool_calls?.map((call) => call.id)).toEqual([CLOCK_CALL.id])

          // Without tool calls, stop stays stop.
          yield* upstream.answerText(["Noon."])
          const text = yield* completion({ messages: [question], tools: TOOLS })
          expect(text.choices[0]?.finish_reason).toBe("stop")
        }).pipe(served))
    }

    it.scopedLive("the SDK's stream helper reassembles the streamed calls", () =>
      Effect.gen(function*() {
        const upstream = yield* Upstream
        yield* upstream.answerToolCalls([WEATHER_CALL, CLOCK_CALL])
        const answer = yield* streamedCompletion({ messages: [question], tools: TOOLS })
        const [choice] = answer.choices
        expect(choice?.finish_reason).toBe("tool_calls")
        expect(choice?.message.tool_calls).toEqual([
          {
            id: WEATHER_CALL.id,
            type: "function",
            function: { name: "get_weather", arguments: WEATHER_PIECES.join("") }
          },
          { id: CLOCK_CALL.id, type: "function", function: { name: "get_time", arguments: "{}" } }
        ])
        expect(choice?.message.content).toBeNull()
      }).pipe(served))

    it.scopedLive("a follow-up request with the tool result continues the turn", () =>
      Effect.gen(function*() {
        const upstream = yield* Upstream
        yield* upstream.answerText(["It is ", "21 degrees."])
        const answer = yield* completion({
          messages: withResult("{\"temp\": 21, \"sky\": \"clear\"}"),
          tools: TOOLS
        })
        expect(answer.choices[0]?.message.content).toBe("It is 21 degrees.")
        expect(answer.choices[0]?.finish_reason).toBe("stop")
        expect(sentConversation(api, (yield* upstream.nextRequest).body)).toEqual([
          `user: ${question.content}`,
          `call ${WEATHER_CALL.id} get_weather {"city":"Paris"}`,
          `result ${WEATHER_CALL.id} {"temp":21,"sky":"clear"}`
        ])

        // A result in plain text reaches the model as that text.
        yield* upstream.answerText(["Fine."])
        yield* completion({
          messages: withResult("clear, 21 degrees"),
          tools: TOOLS
        })
        expect(sentConversation(api, (yield* upstream.nextRequest).body).at(-1)).toBe(
          `result ${WEATHER_CALL.id} clear, 21 degrees`
        )
      }).pipe(served))

    it.scopedLive("in a stored session, the transcript holds the call and the result once", () =>
      Effect.gen(function*() {
        const upstream = yield* Upstream
        const user = `alice-${api}`
        // Turn 1, streamed: the model calls the tool.
        yield* upstream.answerToolCalls([WEATHER_CALL])
        const first = yield* streamedCompletion({ messages: [question], tools: TOOLS, user })
        const call = first.choices[0]?.message.tool_calls?.[0]
        if (call?.type !== "function") throw new Error("no tool call")
        yield* upstream.nextRequest

        // Turn 2: the client resends its history with the result.
        yield* upstream.answerText(["It is 21 degrees."])
        const assistant: ChatCompletionMessageParam = { role: "assistant", content: null, tool_calls: [call] }
        const result: ChatCompletionMessageParam = { role: "tool", tool_call_id: call.id, content: "{\"temp\":21}" }
        const second = yield* completion({
          messages: [question, assistant, result],
          tools: TOOLS,
          user
        })
        const turn = [
          `user: ${question.content}`,
          `call ${WEATHER_CALL.id} get_weather ${JSON.stringify(JSON.parse(WEATHER_PIECES.join("")))}`,
          `result ${WEATHER_CALL.id} {"temp":21}`
        ]
        expect(sentConversation(api, (yield* upstream.nextRequest).body)).toEqual(turn)

        // Turn 3: only the new message; the stored transcript gives the model the rest, once.
        yield* upstream.answerText(["You are welcome."])
        const third = yield* completion({
          messages: [{ role: "user", content: "Thanks!" }],
          tools: TOOLS,
          user
        })
        expect(third.choices[0]?.message.content).toBe("You are welcome.")
        expect(sentConversation(api, (yield* upstream.nextRequest).body)).toEqual([
          ...turn,
          `assistant: ${second.choices[0]?.message.content}`,
          "user: Thanks!"
        ])
      }).pipe(served))

    it.scopedLive("in a stored session, a request with only the tool result continues the stored call", () =>
      Effect.gen(function*() {
        const upstream = yield* Upstream
        const user = `bob-${api}`
        yield* upstream.answerToolCalls([WEATHER_CALL])
        yield* completion({ messages: [question], tools: TOOLS, user })
        yield* upstream.nextRequest

        yield* upstream.answerText(["It is 21 degrees."])
        const answer = yield* completion({
          messages: [{ role: "tool", tool_call_id: WEATHER_CALL.id, content: "{\"temp\":21}" }],
          tools: TOOLS,
          user
        })
        expect(answer.choices[0]?.message.content).toBe("It is 21 degrees.")
        expect(sentConversation(api, (yield* upstream.nextRequest).body)).toEqual([
          `user: ${question.content}`,
          `call ${WEATHER_CALL.id} get_weather ${JSON.stringify(JSON.parse(WEATHER_PIECES.join("")))}`,
          `result ${WEATHER_CALL.id} {"temp":21}`
        ])
      }).pipe(served))
  })
}

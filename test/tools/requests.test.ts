/**
 * Client tools in the request: what the runner is given
 * (the tools, the tool choice, the turn's tool calls and results), the 400s for tool fields that
 * cannot be honoured, the testing entry's tool-calling fake through the official SDK, and the
 * built-in echo model answering a turn that continues with tool results.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { BadRequestError } from "openai"
import type { ChatCompletionTool } from "openai/resources/chat/completions"
import { FakeAgentRunner } from "../../src/testing.js"
import { completion, sdk } from "../kit/clients.js"
import { testGateway } from "../kit/gateway.js"
import { chat, completionBody, hello, invalidRequest } from "../kit/http.js"
import { lastRun, recordingGateway } from "../kit/runs.js"

const LOOKUP = {
  type: "function",
  function: {
    name: "lookup",
    description: "Looks a word up",
    parameters: { type: "object", properties: { word: { type: "string" } }, required: ["word"] },
    strict: true
  }
} satisfies ChatCompletionTool

const NOTE = { type: "function", function: { name: "note", parameters: { type: "object", properties: {} } } }

describe("tools in the run request", () => {
  it.scopedLive("the tools, the choice and parallel_tool_calls reach the runner as the client sent them", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello({
        tools: [LOOKUP, NOTE],
        tool_choice: { type: "function", function: { name: "note" } },
        parallel_tool_calls: false
      }))
      expect(response.status).toBe(200)
      expect((yield* lastRun).tools).toEqual({
        tools: [
          { name: "lookup", description: "Looks a word up", parameters: LOOKUP.function.parameters, strict: true },
          { name: "note", parameters: { type: "object", properties: {} } }
        ],
        choice: { tool: "note" },
        parallel: false
      })
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("each tool_choice form: none, auto, required, a function, allowed tools", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, unknown]> = [
        ["none", "none"],
        ["auto", "auto"],
        ["required", "required"],
        [{ type: "function", function: { name: "lookup" } }, { tool: "lookup" }],
        [
          {
            type: "allowed_tools",
            allowed_tools: { mode: "required", tools: [{ type: "function", function: { name: "note" } }] }
          },
          { oneOf: ["note"], mode: "required" }
        ]
      ]
      for (const [sent, given] of cases) {
        expect((yield* chat(hello({ tools: [LOOKUP, NOTE], tool_choice: sent }))).status).toBe(200)
        expect((yield* lastRun).tools?.choice).toEqual(given)
      }
      // No tool_choice: the model decides.
      yield* chat(hello({ tools: [LOOKUP] }))
      expect((yield* lastRun).tools?.choice).toBe("auto")
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("no tools, or an empty list, offers none", () =>
    Effect.gen(function*() {
      yield* chat(hello())
      expect((yield* lastRun).tools).toBeUndefined()
      yield* chat(hello({ tools: [], tool_choice: "auto" }))
      expect((yield* lastRun).tools).toBeUndefined()
    }).pipe(Effect.provide(recordingGateway())))

  it.scopedLive("the assistant's tool calls and the tool results are the turn's messages", () =>
    Effect.gen(function*() {
      const response = yield* chat({
        model: "clawdbot:main",
        messages: [
          { role: "user", content: "define clawgate" },
          {
            role: "assistant",
            content: null,
            tool_calls: [
              { id: "call_a", type: "function", function: { name: "lookup", arguments: "{\"word\":\"claw\"}" } },
              { id: "call_b", type: "function", function: { name: "lookup", arguments: "{\"word\":\"gate\"}" } }
            ]
          },
          { role: "tool", tool_call_id: "call_a", content: "a hooked nail" },
          { role: "tool", tool_call_id: "call_b", content: [{ type: "text", text: "a way in" }] }
        ],
        tools: [LOOKUP]
      })
      expect(response.status).toBe(200)
      expect((yield* lastRun).messages).toEqual([
        { role: "user", content: "define clawgate" },
        {
          role: "assistant",
          content: "",
          toolCalls: [
            { id: "call_a", name: "lookup", arguments: "{\"word\":\"claw\"}" },
            { id: "call_b", name: "lookup", arguments: "{\"word\":\"gate\"}" }
          ]
        },
        { role: "tool", content: "a hooked nail", toolCallId: "call_a" },
        { role: "tool", content: "a way in", toolCallId: "call_b" }
      ])
    }).pipe(Effect.provide(recordingGateway())))
})

describe("tool fields that cannot be honoured: 400 naming the field", () => {
  const cases: ReadonlyArray<
    { readonly name: string; readonly body: Record<string, unknown>; readonly param: string }
  > = [
    {
      name: "a tool_choice naming a tool that is not offered",
      body: { tools: [LOOKUP], tool_choice: { type: "function", function: { name: "search" } } },
      param: "tool_choice"
    },
    {
      name: "allowed tools naming a tool that is not offered",
      body: {
        tools: [LOOKUP],
        tool_choice: {
          type: "allowed_tools",
          allowed_tools: { mode: "auto", tools: [{ type: "function", function: { name: "x" } }] }
        }
      },
      param: "tool_choice"
    },
    { name: "a tool call required without tools", body: { tool_choice: "required" }, param: "tool_choice" },
    { name: "two tools with one name", body: { tools: [LOOKUP, LOOKUP] }, param: "tools" },
    {
      name: "a tool name OpenAI would refuse",
      body: { tools: [{ type: "function", function: { name: "look up" } }] },
      param: "tools[0].function.name"
    },
    {
      name: "a tool that is not a function",
      body: { tools: [{ type: "custom", custom: { name: "x" } }] },
      param: "tools[0].type"
    },
    {
      name: "parameters that are not a JSON object",
      body: { tools: [{ type: "function", function: { name: "x", parameters: "{}" } }] },
      param: "tools[0].function.parameters"
    },
    {
      name: "an assistant tool call without its arguments",
      body: {
        messages: [
          { role: "assistant", content: null, tool_calls: [{ id: "c", type: "function", function: { name: "x" } }] },
          { role: "user", content: "hi" }
        ]
      },
      param: "messages[0].tool_calls[0].function.arguments"
    }
  ]
  for (const { body, name, param } of cases) {
    it.scopedLive(name, () =>
      Effect.gen(function*() {
        const error = yield* invalidRequest(hello(body), param)
        expect(error.message).toContain(param.split(".")[0]!.split("[")[0])
      }).pipe(Effect.provide(recordingGateway())))
  }

  it.scopedLive("the openai SDK raises BadRequestError for it", () =>
    Effect.gen(function*() {
      const openai = yield* sdk()
      const error = yield* Effect.flip(Effect.tryPromise({
        try: () =>
          openai.chat.completions.create({
            model: "clawdbot:main",
            messages: [{ role: "user", content: "hi" }],
            tools: [LOOKUP],
            tool_choice: { type: "function", function: { name: "search" } }
          }),
        catch: (error) => error
      }))
      expect(error).toBeInstanceOf(BadRequestError)
      expect(error instanceof BadRequestError ? error.param : undefined).toBe("tool_choice")
    }).pipe(Effect.provide(recordingGateway())))
})

describe("clawgate/testing: FakeAgentRunner.layerToolCalls", () => {
  const runner = FakeAgentRunner.layerToolCalls(
    [{ id: "call_1", name: "lookup", arguments: "{\"word\":\"claw\"}" }],
    { reply: (results) => `Found: ${results.map((result) => result.content).join("; ")}` }
  )

  it.scopedLive("calls its tools, then answers the results, through the official SDK", () =>
    Effect.gen(function*() {
      const openai = yield* sdk()
      const first = yield* Effect.promise(() =>
        openai.chat.completions.stream({
          model: "clawdbot:main",
          messages: [{ role: "user", content: "define claw" }],
          tools: [LOOKUP]
        }).finalChatCompletion()
      )
      const call = first.choices[0]?.message.tool_calls?.[0]
      expect(first.choices[0]?.finish_reason).toBe("tool_calls")
      // (The SDK adds `parsed_arguments` for a strict tool; it goes back with the call, and is ignored.)
      expect(call).toMatchObject({
        id: "call_1",
        type: "function",
        function: { name: "lookup", arguments: "{\"word\":\"claw\"}" }
      })
      if (call === undefined) return
      const second = yield* completion({
        messages: [
          { role: "user", content: "define claw" },
          { role: "assistant", content: null, tool_calls: [call] },
          { role: "tool", tool_call_id: call.id, content: "a hooked nail" }
        ],
        tools: [LOOKUP]
      })
      expect(second.choices[0]?.message.content).toBe("Found: a hooked nail")
      expect(second.choices[0]?.finish_reason).toBe("stop")
    }).pipe(Effect.provide(testGateway({ runner }))))
})

describe("the echo model and tools", () => {
  it.scopedLive("answers a turn that continues with tool results with their text", () =>
    Effect.gen(function*() {
      const response = yield* chat({
        model: "clawdbot:main",
        messages: [
          { role: "user", content: "define claw" },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "c1", type: "function", function: { name: "lookup", arguments: "{}" } }]
          },
          { role: "tool", tool_call_id: "c1", content: "a hooked nail" }
        ],
        tools: [LOOKUP]
      })
      expect(response.status).toBe(200)
      const answer = yield* completionBody(response)
      expect(answer.choices[0]?.message.content).toBe("a hooked nail")
    }).pipe(Effect.provide(testGateway())))
})

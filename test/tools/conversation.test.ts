/**
 * What the model sees of a turn with tools: assistant tool calls and tool
 * results become @effect/ai's tool-call and tool-result prompt parts (the result named after its
 * call), and the transcript's bound never leaves a tool result whose call was cut away.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Conversation from "../../src/agent/Conversation.js"
import type { ChatMessage } from "../../src/domain/Run.js"
import { promptOf } from "../../src/providers/LanguageModelModel.js"
import { assistant, toolResult, user } from "../kit/messages.js"

/** What a library provider's model is prompted with, for system text and messages. */
const toPrompt = (system: ReadonlyArray<string | undefined>, messages: ReadonlyArray<ChatMessage>) =>
  promptOf({ system: Conversation.system(system), messages: Conversation.forModel(messages) })

const called = (...calls: ReadonlyArray<readonly [string, string, string]>): ChatMessage => ({
  role: "assistant",
  content: "",
  toolCalls: calls.map(([id, name, args]) => ({ id, name, arguments: args }))
})

describe("Conversation.toPrompt with tools", () => {
  it("an assistant's tool calls are tool-call parts with their arguments as JSON, after its text", () => {
    const prompt = toPrompt([], [
      user("define claw"),
      {
        ...called(["c1", "lookup", "{\"word\": \"claw\", \"deep\": {\"n\": [1]}}"], ["c2", "note", ""]),
        content: "Looking."
      }
    ])
    expect(prompt[1]).toEqual({
      role: "assistant",
      content: [
        { type: "text", text: "Looking." },
        {
          type: "tool-call",
          id: "c1",
          name: "lookup",
          params: { word: "claw", deep: { n: [1] } },
          providerExecuted: false
        },
        // No arguments at all: none.
        { type: "tool-call", id: "c2", name: "note", params: {}, providerExecuted: false }
      ]
    })
  })

  it("a tool result is a tool-result part for its call, named after the call's tool", () => {
    const prompt = toPrompt([], [
      user("define claw"),
      called(["c1", "lookup", "{}"]),
      toolResult("c1", "{\"meaning\": \"a hooked nail\"}"),
      toolResult("c2", "plain text")
    ])
    expect(prompt.slice(2)).toEqual([
      {
        role: "tool",
        content: [{
          type: "tool-result",
          id: "c1",
          name: "lookup",
          result: { meaning: "a hooked nail" },
          isFailure: false,
          providerExecuted: false
        }]
      },
      {
        role: "tool",
        content: [{
          type: "tool-result",
          id: "c2",
          name: "",
          result: "plain text",
          isFailure: false,
          providerExecuted: false
        }]
      }
    ])
  })

  it("a result without a call id (the legacy function role) answers the latest earlier call of its name", () => {
    const named = (content: string): ChatMessage => ({ role: "tool", content, name: "lookup" })
    const resultIds = (messages: ReadonlyArray<ChatMessage>) =>
      toPrompt([], messages).flatMap((message) =>
        message.role === "tool" ? message.content.map((part) => part.type === "tool-result" ? part.id : "") : []
      )
    expect(
      resultIds([user("q"), called(["c1", "lookup", "{}"]), named("r1"), called(["c2", "lookup", "{}"]), named("r2")])
    )
      .toEqual(["c1", "c2"])
    expect(resultIds([user("q"), called(["c1", "lookup", "{}"], ["c2", "note", "{}"]), named("r1")])).toEqual(["c1"])
  })

  it("a result without a call id that answers no earlier call can only be text", () => {
    expect(toPrompt([], [{ role: "tool", content: "42", name: "calc" }])).toEqual([
      { role: "user", content: "[tool result from calc]\n42" }
    ])
    expect(toPrompt([], [{ role: "tool", content: "42", name: "calc" }, called(["c1", "calc", "{}"])])[0])
      .toEqual({ role: "user", content: "[tool result from calc]\n42" })
  })

  it("plain assistant messages stay plain text", () => {
    expect(toPrompt([], [user("hi"), assistant("hello")])).toEqual([
      { role: "user", content: "hi" },
      { role: "assistant", content: "hello" }
    ])
  })
})

describe("Conversation.bounded with tools", () => {
  const transcript = [
    user("q1"),
    called(["c1", "f", "{}"]),
    toolResult("c1", "r1"),
    toolResult("c1", "r2"),
    assistant("answer")
  ]

  it("never starts with a tool result: one whose call was cut away goes too", () => {
    expect(Conversation.bounded(transcript, { maxMessages: 3, maxChars: 1_000 })).toEqual([assistant("answer")])
    expect(Conversation.bounded(transcript, { maxMessages: 4, maxChars: 1_000 })).toEqual(transcript.slice(1))
  })

  it("counts tool calls' arguments against the character budget", () => {
    const big = [user("q"), called(["c1", "f", "x".repeat(100)]), toolResult("c1", "r")]
    expect(Conversation.bounded(big, { maxMessages: 10, maxChars: 50 })).toEqual([])
    expect(Conversation.bounded(big, { maxMessages: 10, maxChars: 102 })).toEqual(big)
  })
})

/**
 * What the model sees of a session: which of a request's messages are new,
 * the bound on the transcript, and the prompt's order with a system prompt that is never cut.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Conversation from "../../src/agent/Conversation.js"
import type { ChatMessage } from "../../src/domain/Run.js"
import { promptOf } from "../../src/providers/LanguageModelModel.js"
import { assistant, user } from "../kit/messages.js"

/** What a library provider's model is prompted with, for system text and messages. */
const toPrompt = (system: ReadonlyArray<string | undefined>, messages: ReadonlyArray<ChatMessage>) =>
  promptOf({ system: Conversation.system(system), messages: Conversation.forModel(messages) })

describe("Conversation.newMessages", () => {
  const history = [user("one"), assistant("reply one"), user("two"), assistant("reply two"), user("three")]

  it("a new session takes the request's whole history", () => {
    expect(Conversation.newMessages(false, history)).toEqual(history)
  })

  it("with a transcript, only the messages after the request's last assistant message are new", () => {
    expect(Conversation.newMessages(true, history)).toEqual([user("three")])
    expect(Conversation.newMessages(true, [...history, user("and four")])).toEqual([user("three"), user("and four")])
  })

  it("with a transcript, a request with only new messages (no assistant) is new as a whole", () => {
    expect(Conversation.newMessages(true, [user("just this")])).toEqual([user("just this")])
    expect(Conversation.newMessages(true, [user("this"), user("and that")])).toEqual([user("this"), user("and that")])
  })

  it("tool results after the last assistant message are new too", () => {
    const tool: ChatMessage = { role: "tool", content: "42", toolCallId: "call_1", name: "calc" }
    expect(Conversation.newMessages(true, [user("compute"), assistant("calling"), tool])).toEqual([tool])
  })
})

describe("Conversation.bounded", () => {
  const transcript = [user("aaaa"), assistant("bbbb"), user("cccc"), assistant("dddd"), user("eeee")]

  it("keeps the most recent maxMessages, oldest first", () => {
    expect(Conversation.bounded(transcript, { maxMessages: 2, maxChars: 1_000 })).toEqual([
      assistant("dddd"),
      user("eeee")
    ])
    expect(Conversation.bounded(transcript, { maxMessages: 10, maxChars: 1_000 })).toEqual(transcript)
  })

  it("keeps the most recent messages within the character budget, whole messages only", () => {
    // 4 characters each: 12 fit in 13, 16 do not.
    expect(Conversation.bounded(transcript, { maxMessages: 100, maxChars: 13 })).toEqual([
      user("cccc"),
      assistant("dddd"),
      user("eeee")
    ])
    expect(Conversation.bounded(transcript, { maxMessages: 100, maxChars: 12 })).toEqual([
      user("cccc"),
      assistant("dddd"),
      user("eeee")
    ])
    expect(Conversation.bounded(transcript, { maxMessages: 100, maxChars: 11 })).toEqual([
      assistant("dddd"),
      user("eeee")
    ])
  })

  it("applies both bounds: the tighter one wins", () => {
    expect(Conversation.bounded(transcript, { maxMessages: 1, maxChars: 1_000 })).toEqual([user("eeee")])
    expect(Conversation.bounded(transcript, { maxMessages: 4, maxChars: 8 })).toEqual([assistant("dddd"), user("eeee")])
  })

  it("an empty transcript, or a last message over the budget, gives nothing", () => {
    expect(Conversation.bounded([], { maxMessages: 5, maxChars: 100 })).toEqual([])
    expect(Conversation.bounded([user("x".repeat(50))], { maxMessages: 5, maxChars: 10 })).toEqual([])
  })
})

describe("Conversation.toPrompt", () => {
  it("agent system prompt first, then the request's system text, in one system message, then the messages", () => {
    const prompt = toPrompt(["You are the agent.", "Answer in French."], [
      user("hi"),
      assistant("salut"),
      user("ça va?")
    ])
    expect(prompt).toEqual([
      { role: "system", content: "You are the agent.\n\nAnswer in French." },
      { role: "user", content: "hi" },
      { role: "assistant", content: "salut" },
      { role: "user", content: "ça va?" }
    ])
  })

  it("leaves out missing and blank system text, and has no system message when there is none", () => {
    expect(toPrompt([undefined, "  "], [user("hi")])).toEqual([{ role: "user", content: "hi" }])
    expect(toPrompt([undefined, "Only the request's."], [user("hi")])).toEqual([
      { role: "system", content: "Only the request's." },
      { role: "user", content: "hi" }
    ])
  })

  it("never cuts the system prompt, however long", () => {
    const long = "rule. ".repeat(50_000)
    const [first] = toPrompt([long], [user("hi")])
    expect(first).toEqual({ role: "system", content: long })
  })
})

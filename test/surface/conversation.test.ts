/**
 * Conversation identity for clients that send no `user` (Open WebUI's chat id), over the real
 * loopback server with the live runner, its SQLite session store and the echo model: `gateway.http.endpoints.chatCompletions.sessionHeaders` names the headers whose
 * value keys a stable session `agent:<agentId>:<header>:<value>`, after an explicit session key and
 * before `user`. That two requests share a session shows in what the model is given: echo counts
 * every prompt word as a token, so the second turn's `prompt_tokens` include the first turn.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { baseConfig, configWith, testGateway } from "../kit/gateway.js"
import { chat, completionBody, errorBody, openChat } from "../kit/http.js"
import { sseReader } from "../kit/sse.js"
import { chunkOf, isChunk } from "../kit/wire.js"

const CHAT_ID = "x-openwebui-chat-id"
const OTHER_HEADER = "x-librechat-conversation-id"

const conversationConfig = (sessionHeaders: ReadonlyArray<string> | undefined): ConfigInput =>
  configWith({
    gateway: {
      ...baseConfig.gateway,
      http: {
        endpoints: {
          chatCompletions: { enabled: true, ...(sessionHeaders !== undefined && { sessionHeaders }) }
        }
      }
    }
  })

/** Written as a person would in the file; names are compared lowercased. */
const configured = conversationConfig(["X-OpenWebUI-Chat-Id", OTHER_HEADER])

const served = (config: ConfigInput = configured) => Effect.provide(testGateway({ config }))

/** One turn, answered as JSON: the session key used and the prompt size the model saw. */
const turn = (
  content: string,
  options: {
    readonly headers?: Readonly<Record<string, string>>
    readonly user?: string
    readonly model?: string
    readonly history?: ReadonlyArray<{ readonly role: string; readonly content: string }>
  } = {}
) =>
  Effect.gen(function*() {
    const response = yield* chat(
      {
        model: options.model ?? "clawdbot:main",
        messages: [...(options.history ?? []), { role: "user", content }],
        ...(options.user !== undefined && { user: options.user })
      },
      { headers: options.headers ?? {} }
    )
    expect(response.status).toBe(200)
    const sessionKey = response.headers.get("x-clawdbot-session-key")
    const completion = yield* completionBody(response)
    expect(completion.choices[0]?.message.content).toBe(content)
    return { sessionKey, promptTokens: completion.usage?.prompt_tokens }
  })

const chatId = (value: string) => ({ [CHAT_ID]: value })

describe("conversation headers", () => {
  it.scopedLive("two requests with the same chat id share a session: the second sees the first turn", () =>
    Effect.gen(function*() {
      const first = yield* turn("one two three", { headers: chatId("chat-a") })
      expect(first).toEqual({ sessionKey: `agent:main:${CHAT_ID}:chat-a`, promptTokens: 3 })
      // The stored user turn (3 words) and reply (3 words), then the new message (2 words).
      const second = yield* turn("four five", { headers: chatId("chat-a") })
      expect(second).toEqual({ sessionKey: `agent:main:${CHAT_ID}:chat-a`, promptTokens: 3 + 3 + 2 })
      const third = yield* turn("six", { headers: chatId("chat-a") })
      expect(third.promptTokens).toBe(8 + 2 + 1)
    }).pipe(served()))

  it.scopedLive("a client resending the whole history (as Open WebUI does) does not have it counted twice", () =>
    Effect.gen(function*() {
      yield* turn("one two three", { headers: chatId("resend") })
      const second = yield* turn("four five", {
        headers: chatId("resend"),
        history: [{ role: "user", content: "one two three" }, { role: "assistant", content: "one two three" }]
      })
      expect(second.promptTokens).toBe(3 + 3 + 2)
    }).pipe(served()))

  it.scopedLive("a streamed turn continues the same session, and its usage chunk shows it", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* turn("alpha beta gamma delta", { headers: chatId("streamed") })
      const { response } = yield* openChat(
        {
          model: "clawdbot:main",
          messages: [{ role: "user", content: "epsilon" }],
          stream: true,
          stream_options: { include_usage: true }
        },
        { headers: chatId("streamed") }
      )
      expect(response.status).toBe(200)
      expect(response.headers.get("x-clawdbot-session-key")).toBe(`agent:main:${CHAT_ID}:streamed`)
      const chunks = (yield* sseReader(response).rest).filter(isChunk).map(chunkOf)
      expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")).toBe("epsilon")
      expect(chunks.at(-1)?.usage?.prompt_tokens).toBe(4 + 4 + 1)
      // And the streamed turn was stored in turn: the next request sees it.
      const next = yield* turn("zeta", { headers: chatId("streamed") })
      expect(next.promptTokens).toBe(9 + 1 + 1)
    })).pipe(served()))

  it.scopedLive("two chat ids are kept apart, and so are two agents under one chat id", () =>
    Effect.gen(function*() {
      yield* turn("one two three", { headers: chatId("chat-a") })
      const b = yield* turn("four five", { headers: chatId("chat-b") })
      expect(b).toEqual({ sessionKey: `agent:main:${CHAT_ID}:chat-b`, promptTokens: 2 })
      const beta = yield* turn("six seven", { headers: chatId("chat-a"), model: "clawdbot:beta" })
      expect(beta).toEqual({ sessionKey: `agent:beta:${CHAT_ID}:chat-a`, promptTokens: 2 })
      // Each still has its own history.
      const a = yield* turn("eight", { headers: chatId("chat-a") })
      expect(a.promptTokens).toBe(3 + 3 + 1)
      const b2 = yield* turn("nine", { headers: chatId("chat-b") })
      expect(b2.promptTokens).toBe(2 + 2 + 1)
    }).pipe(served()))

  it.scopedLive("the chat id wins over `user`: one user's chats are separate sessions", () =>
    Effect.gen(function*() {
      const first = yield* turn("one two three", { headers: chatId("chat-a"), user: "ada" })
      expect(first.sessionKey).toBe(`agent:main:${CHAT_ID}:chat-a`)
      // The same user in another chat starts fresh...
      const other = yield* turn("four five", { headers: chatId("chat-b"), user: "ada" })
      expect(other).toEqual({ sessionKey: `agent:main:${CHAT_ID}:chat-b`, promptTokens: 2 })
      // ...and without a chat id falls back to the user's own session, which saw neither chat.
      const plain = yield* turn("six", { user: "ada" })
      expect(plain).toEqual({ sessionKey: "agent:main:openai-user:ada", promptTokens: 1 })
      // The chat's session does not depend on the user sent with it.
      const again = yield* turn("seven", { headers: chatId("chat-a"), user: "bob" })
      expect(again).toEqual({ sessionKey: `agent:main:${CHAT_ID}:chat-a`, promptTokens: 3 + 3 + 1 })
    }).pipe(served()))

  it.scopedLive("an explicit session key wins over the chat id", () =>
    Effect.gen(function*() {
      yield* turn("one two three", { headers: chatId("chat-a") })
      for (const header of ["x-clawdbot-session-key", "x-openclaw-session-key"]) {
        const explicit = yield* turn("four five", { headers: { ...chatId("chat-a"), [header]: `mine-${header}` } })
        // Its own session: it did not see the chat's turn.
        expect(explicit).toEqual({ sessionKey: `mine-${header}`, promptTokens: 2 })
      }
      // And the chat's session did not get those turns.
      const chatTurn = yield* turn("six", { headers: chatId("chat-a") })
      expect(chatTurn.promptTokens).toBe(3 + 3 + 1)
    }).pipe(served()))

  it.scopedLive("any configured header names a conversation; the first configured one wins when both are sent", () =>
    Effect.gen(function*() {
      const other = yield* turn("one two", { headers: { [OTHER_HEADER]: "conv-1" } })
      expect(other).toEqual({ sessionKey: `agent:main:${OTHER_HEADER}:conv-1`, promptTokens: 2 })
      const both = yield* turn("three", { headers: { [OTHER_HEADER]: "conv-1", ...chatId("chat-z") } })
      expect(both).toEqual({ sessionKey: `agent:main:${CHAT_ID}:chat-z`, promptTokens: 1 })
      const again = yield* turn("four", { headers: { [OTHER_HEADER]: "conv-1" } })
      expect(again.promptTokens).toBe(2 + 2 + 1)
    }).pipe(served()))

  it.scopedLive("a blank value counts as absent: `user` keys the session then", () =>
    Effect.gen(function*() {
      const blank = yield* turn("five", { headers: chatId(""), user: "ada" })
      expect(blank.sessionKey).toBe("agent:main:openai-user:ada")
    }).pipe(served()))

  it.scopedLive("accepts a 512-character value and refuses longer or non-printable ones with 400 naming the header", () =>
    Effect.gen(function*() {
      const longest = "c".repeat(512)
      const ok = yield* turn("one", { headers: chatId(longest) })
      expect(ok.sessionKey).toBe(`agent:main:${CHAT_ID}:${longest}`)

      for (const value of ["c".repeat(513), "caf\u00e9", "tab\there"]) {
        const response = yield* chat(
          { model: "clawdbot:main", messages: [{ role: "user", content: "hello" }] },
          { headers: chatId(value) }
        )
        expect({ value, status: response.status }).toEqual({ value, status: 400 })
        const { error } = yield* errorBody(response)
        expect(error.type).toBe("invalid_request_error")
        expect(error.param).toBe(CHAT_ID)
        expect(error.message).toContain(CHAT_ID)
        expect(error.message).toContain("512")
      }
      // Refused streams get the 400 as a real status too.
      const streamed = yield* chat(
        { model: "clawdbot:main", messages: [{ role: "user", content: "hello" }], stream: true },
        { headers: chatId("d".repeat(600)) }
      )
      expect(streamed.status).toBe(400)
      expect((yield* errorBody(streamed)).error.param).toBe(CHAT_ID)
    }).pipe(served()))

  it.scopedLive("without sessionHeaders configured, a chat id header is ignored: each request stands alone", () =>
    Effect.gen(function*() {
      const first = yield* turn("one two three", { headers: chatId("chat-a") })
      expect(first.sessionKey).toMatch(/^agent:main:openai:[0-9a-f-]{36}$/)
      const second = yield* turn("four five", { headers: chatId("chat-a") })
      expect(second.sessionKey).toMatch(/^agent:main:openai:[0-9a-f-]{36}$/)
      expect(second.sessionKey).not.toBe(first.sessionKey)
      expect(second.promptTokens).toBe(2)
      // Nor is a too long value refused: the header means nothing here.
      const long = yield* turn("six", { headers: chatId("c".repeat(600)) })
      expect(long.promptTokens).toBe(1)
    }).pipe(served(conversationConfig(undefined))))
})

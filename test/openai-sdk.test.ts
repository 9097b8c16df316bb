/**
 * End-to-end: the official `openai` npm SDK against the real gateway on a loopback port.
 * Non-stream answers, streams (raw chunks and the SDK's `stream()` helper), each error class the
 * SDK raises for the gateway's answers, the in-band error mid-stream, and a client abort.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import OpenAI, {
  APIError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  RateLimitError
} from "openai"
import type { ChatCompletionChunk, ChatCompletionMessageParam } from "openai/resources/chat/completions"
import type { AgentRunner } from "../src/agent/AgentRunner.js"
import type { ConfigInput } from "../src/config/ConfigFile.js"
import {
  type AgentError,
  ProviderFailed,
  ProviderRateLimited,
  ProviderTimeout,
  ProviderUnreachable
} from "../src/domain/Errors.js"
import { FakeAgentRunner } from "../src/testing.js"
import { rejection, sdk } from "./kit/clients.js"
import { baseConfig, testGateway } from "./kit/gateway.js"
import { REQUEST_ID } from "./kit/wire.js"

/** The gateway for one test. */
const served = (options: { readonly config?: ConfigInput; readonly runner?: Layer.Layer<AgentRunner> } = {}) =>
  Effect.provide(testGateway(options))

/** Asserts the class of `value` and narrows it. */
const instance = <T>(value: unknown, type: new(...args: Array<never>) => T): T => {
  expect(value).toBeInstanceOf(type)
  if (!(value instanceof type)) throw new Error(`expected an instance of ${type.name}`)
  return value
}

/** Drains an SDK stream of chunks. */
const chunksOf = (stream: AsyncIterable<ChatCompletionChunk>) =>
  Effect.promise(async () => {
    const chunks: Array<ChatCompletionChunk> = []
    for await (const chunk of stream) chunks.push(chunk)
    return chunks
  })

/** All the text the SDK's chunks carry. */
const textOfChunks = (chunks: ReadonlyArray<ChatCompletionChunk>) =>
  chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")

const question: Array<ChatCompletionMessageParam> = [
  { role: "system", content: "Answer briefly." },
  { role: "user", content: "the quick brown fox" }
]
/** Echo counts words as tokens: the prompt is every message's words, the answer the last user's. */
const promptTokens = 2 + 4
const answerTokens = 4

describe("openai SDK: non-stream", () => {
  it.scopedLive("answers with the echo reply, real usage, finish_reason and the requested model", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      const completion = yield* Effect.promise(() =>
        client.chat.completions.create({ model: "clawdbot:main", messages: question })
      )
      expect(completion.object).toBe("chat.completion")
      expect(completion.id).toMatch(/^chatcmpl_[0-9a-f-]{36}$/)
      expect(completion.model).toBe("clawdbot:main")
      expect(completion.choices).toHaveLength(1)
      expect(completion.choices[0]?.message).toMatchObject({ role: "assistant", content: "the quick brown fox" })
      expect(completion.choices[0]?.finish_reason).toBe("stop")
      expect(completion.usage).toMatchObject({
        prompt_tokens: promptTokens,
        completion_tokens: answerTokens,
        total_tokens: promptTokens + answerTokens
      })
    }).pipe(served()))

  it.scopedLive("echoes any model name that routes to the default agent, and stops on max_tokens with length", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      const completion = yield* Effect.promise(() =>
        client.chat.completions.create({ model: "gpt-4o", messages: question, max_tokens: 2 })
      )
      expect(completion.model).toBe("gpt-4o")
      expect(completion.choices[0]?.message.content).toBe("the quick")
      expect(completion.choices[0]?.finish_reason).toBe("length")
      expect(completion.usage?.completion_tokens).toBe(2)
    }).pipe(served()))

  it.scopedLive("gives the x-request-id through withResponse() and _request_id, and the session key header", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      const { data, request_id, response } = yield* Effect.promise(() =>
        client.chat.completions.create({ model: "clawdbot:beta", messages: question, user: "ada" }).withResponse()
      )
      expect(request_id).toMatch(REQUEST_ID)
      expect(response.headers.get("x-request-id")).toBe(request_id)
      expect(response.headers.get("x-clawdbot-session-key")).toBe("agent:beta:openai-user:ada")
      expect(data.choices[0]?.message.content).toBe("the quick brown fox")
      const again = yield* Effect.promise(() =>
        client.chat.completions.create({ model: "clawdbot:beta", messages: question })
      )
      expect(again._request_id).toMatch(REQUEST_ID)
      expect(again._request_id).not.toBe(request_id)
    }).pipe(served()))
})

describe("openai SDK: stream", () => {
  it.scopedLive("streams role first, the content, one finish_reason and a usage chunk with include_usage", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      const { data: stream, request_id, response } = yield* Effect.promise(() =>
        client.chat.completions.create({
          model: "clawdbot:main",
          messages: question,
          stream: true,
          stream_options: { include_usage: true }
        }).withResponse()
      )
      expect(request_id).toMatch(REQUEST_ID)
      expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
      const chunks = yield* chunksOf(stream)

      expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant")
      expect(textOfChunks(chunks)).toBe("the quick brown fox")
      // One chunk per word, as the agent produced them.
      expect(chunks.filter((chunk) => (chunk.choices[0]?.delta.content ?? "") !== "")).toHaveLength(answerTokens)
      const finishes = chunks.flatMap((chunk) => chunk.choices.flatMap((choice) => choice.finish_reason ?? []))
      expect(finishes).toEqual(["stop"])

      const last = chunks.at(-1)
      expect(last?.choices).toEqual([])
      expect(last?.usage).toMatchObject({
        prompt_tokens: promptTokens,
        completion_tokens: answerTokens,
        total_tokens: promptTokens + answerTokens
      })
      expect(chunks.filter((chunk) => chunk.usage != null)).toHaveLength(1)
      // Every chunk of one response shares id, created and model.
      expect(new Set(chunks.map((chunk) => `${chunk.id} ${chunk.created} ${chunk.model}`)).size).toBe(1)
      expect(chunks[0]?.model).toBe("clawdbot:main")
      expect(chunks[0]?.object).toBe("chat.completion.chunk")
    }).pipe(served()))

  it.scopedLive("sends no usage chunk without include_usage, and the finish chunk is the last", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      const stream = yield* Effect.promise(() =>
        client.chat.completions.create({ model: "clawdbot:main", messages: question, stream: true, max_tokens: 3 })
      )
      const chunks = yield* chunksOf(stream)
      expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant")
      expect(textOfChunks(chunks)).toBe("the quick brown")
      expect(chunks.some((chunk) => chunk.usage != null)).toBe(false)
      expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("length")
      expect(chunks.filter((chunk) => chunk.choices[0]?.finish_reason != null)).toHaveLength(1)
    }).pipe(served()))

  it.scopedLive("works with the SDK's chat.completions.stream() helper and finalChatCompletion()", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      const stream = client.chat.completions.stream({
        model: "clawdbot:main",
        messages: question,
        stream_options: { include_usage: true }
      })
      const deltas: Array<string> = []
      stream.on("content", (delta) => {
        deltas.push(delta)
      })
      const completion = yield* Effect.promise(() => stream.finalChatCompletion())
      expect(deltas.join("")).toBe("the quick brown fox")
      expect(completion.choices[0]?.message).toMatchObject({ role: "assistant", content: "the quick brown fox" })
      expect(completion.choices[0]?.finish_reason).toBe("stop")
      expect(completion.model).toBe("clawdbot:main")
      expect(completion.usage).toMatchObject({ prompt_tokens: promptTokens, completion_tokens: answerTokens })
    }).pipe(served()))

  it.scopedLive("raises an APIError from the stream iteration on an in-band error mid-stream", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      const stream = yield* Effect.promise(() =>
        client.chat.completions.create({ model: "clawdbot:main", messages: question, stream: true })
      )
      const received: Array<ChatCompletionChunk> = []
      const error = yield* rejection(async () => {
        for await (const chunk of stream) received.push(chunk)
      })
      expect(textOfChunks(received)).toBe("half an answer")
      const apiError = instance(error, APIError)
      expect(apiError.code).toBe("provider_error")
      expect(apiError.type).toBe("server_error")
      expect(apiError.requestID).toMatch(REQUEST_ID)
      expect(apiError.message).toContain(apiError.requestID)
      expect(apiError.message).not.toContain("sk-live-secret")
    }).pipe(served({
      runner: FakeAgentRunner.layerFailingAfter(
        "half an answer",
        new ProviderFailed({ provider: "upstream", detail: "exploded holding sk-live-secret" })
      )
    })))

  it.scopedLive("makes the stream() helper's finalChatCompletion() reject on an in-band error", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      const error = yield* rejection(() =>
        client.chat.completions.stream({ model: "clawdbot:main", messages: question }).finalChatCompletion()
      )
      expect(instance(error, APIError).code).toBe("provider_timeout")
    }).pipe(served({
      runner: FakeAgentRunner.layerFailingAfter("some", new ProviderTimeout({ provider: "upstream", timeoutMs: 10 }))
    })))

  it.scopedLive("interrupts the agent run when the SDK aborts a streaming request", () =>
    Effect.gen(function*() {
      const interrupted = yield* Deferred.make<void>()
      const controller = new AbortController()
      yield* Effect.gen(function*() {
        const client = yield* sdk()
        const stream = yield* Effect.promise(() =>
          client.chat.completions.create(
            { model: "clawdbot:main", messages: question, stream: true },
            { signal: controller.signal }
          )
        )
        const chunks = stream[Symbol.asyncIterator]()
        // The role chunk, then the run's first words arrive while it is still going.
        const first = yield* Effect.promise(() => chunks.next())
        expect(first.done === true ? undefined : first.value.choices[0]?.delta.role).toBe("assistant")
        const second = yield* Effect.promise(() => chunks.next())
        expect(second.done === true ? undefined : second.value.choices[0]?.delta.content).toBe("still")
        expect(yield* Deferred.isDone(interrupted)).toBe(false)

        controller.abort()
        yield* Deferred.await(interrupted).pipe(Effect.timeout("5 seconds"))
      }).pipe(
        // Should the test fail early, the request must not keep the server from closing.
        Effect.ensuring(Effect.sync(() => controller.abort())),
        served({
          runner: FakeAgentRunner.layerHanging({
            text: "still thinking",
            onInterrupt: Deferred.succeed(interrupted, undefined)
          })
        })
      )
    }))
})

describe("openai SDK: error classes", () => {
  it.scopedLive("raises AuthenticationError (401) for a wrong key", () =>
    Effect.gen(function*() {
      const client = yield* sdk("not-the-token")
      const error = instance(
        yield* rejection(() => client.chat.completions.create({ model: "clawdbot:main", messages: question })),
        AuthenticationError
      )
      expect(error.status).toBe(401)
      expect(error.type).toBe("unauthorized")
      expect(error.error).toMatchObject({ message: "Unauthorized", type: "unauthorized" })
      expect(error.headers.get("www-authenticate")).toBe("Bearer")
      expect(error.requestID).toMatch(REQUEST_ID)
    }).pipe(served()))

  it.scopedLive("raises BadRequestError (400) naming the param for an out-of-range temperature", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      const error = instance(
        yield* rejection(() =>
          client.chat.completions.create({ model: "clawdbot:main", messages: question, temperature: 3 })
        ),
        BadRequestError
      )
      expect(error.status).toBe(400)
      expect(error.type).toBe("invalid_request_error")
      expect(error.param).toBe("temperature")
      expect(error.code).toBeNull()
      expect(error.message).toContain("temperature")
      expect(error.requestID).toMatch(REQUEST_ID)
    }).pipe(served()))

  it.scopedLive("raises BadRequestError (400) for messages without user content, also when streaming", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      const messages: Array<ChatCompletionMessageParam> = [{ role: "system", content: "Nobody asks anything." }]
      for (const stream of [false, true]) {
        const error = instance(
          yield* rejection(() => client.chat.completions.create({ model: "clawdbot:main", messages, stream })),
          BadRequestError
        )
        expect(error.param).toBe("messages")
        expect(error.message).toContain("Missing user message in `messages`.")
        expect(error.requestID).toMatch(REQUEST_ID)
      }
    }).pipe(served()))

  it.scopedLive("raises NotFoundError (404, model_not_found) for an unknown agent", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      const error = instance(
        yield* rejection(() => client.chat.completions.create({ model: "clawdbot:nope", messages: question })),
        NotFoundError
      )
      expect(error.status).toBe(404)
      expect(error.code).toBe("model_not_found")
      expect(error.param).toBe("model")
      expect(error.type).toBe("invalid_request_error")
      expect(error.message).toContain("nope")
      expect(error.message).toContain("main")
      expect(error.message).toContain("beta")
      expect(error.requestID).toMatch(REQUEST_ID)
    }).pipe(served()))

  it.scopedLive("raises RateLimitError (429) with Retry-After when the provider rate limits", () =>
    Effect.gen(function*() {
      const client = yield* sdk()
      for (const stream of [false, true]) {
        const error = instance(
          yield* rejection(() =>
            client.chat.completions.create({ model: "clawdbot:main", messages: question, stream })
          ),
          RateLimitError
        )
        expect(error.status).toBe(429)
        expect(error.code).toBe("provider_rate_limited")
        expect(error.headers.get("retry-after")).toBe("7")
        expect(error.requestID).toMatch(REQUEST_ID)
      }
    }).pipe(served({
      runner: FakeAgentRunner.layerFailing(new ProviderRateLimited({ provider: "upstream", retryAfterSeconds: 7 }))
    })))

  it.scopedLive("raises RateLimitError (429) once the auth limiter locks the client out, even with the right key", () =>
    Effect.gen(function*() {
      const wrong = yield* sdk("not-the-token")
      const call = (client: OpenAI) => () =>
        client.chat.completions.create({ model: "clawdbot:main", messages: question })
      const first = instance(yield* rejection(call(wrong)), AuthenticationError)
      expect(first.requestID).toMatch(REQUEST_ID)
      instance(yield* rejection(call(wrong)), AuthenticationError)

      const locked = instance(yield* rejection(call(wrong)), RateLimitError)
      expect(locked.status).toBe(429)
      expect(locked.type).toBe("rate_limited")
      expect(locked.code).toBe("too_many_failed_auth_attempts")
      expect(locked.headers.get("retry-after")).toBe("120")
      expect(locked.requestID).toMatch(REQUEST_ID)

      const right = yield* sdk()
      const refused = instance(yield* rejection(call(right)), RateLimitError)
      expect(refused.code).toBe("too_many_failed_auth_attempts")
      expect(refused.requestID).toMatch(REQUEST_ID)
    }).pipe(served({
      config: {
        ...baseConfig,
        gateway: {
          ...baseConfig.gateway,
          auth: { ...baseConfig.gateway.auth, rateLimit: { maxAttempts: 2, lockoutMs: 120_000, exemptLoopback: false } }
        }
      }
    })))

  const serverErrors: ReadonlyArray<{
    readonly name: string
    readonly error: AgentError
    readonly status: number
    readonly code: string
  }> = [
    {
      name: "ProviderUnreachable",
      error: new ProviderUnreachable({ provider: "upstream", cause: new Error("connect ECONNREFUSED 10.9.8.7:443") }),
      status: 502,
      code: "provider_unreachable"
    },
    {
      name: "ProviderTimeout",
      error: new ProviderTimeout({ provider: "upstream", timeoutMs: 30_000 }),
      status: 504,
      code: "provider_timeout"
    }
  ]
  for (const { code, error, name, status } of serverErrors) {
    it.scopedLive(`raises InternalServerError (${status}) for a run failing with ${name}`, () =>
      Effect.gen(function*() {
        const client = yield* sdk()
        for (const stream of [false, true]) {
          const raised = instance(
            yield* rejection(() =>
              client.chat.completions.create({ model: "clawdbot:main", messages: question, stream })
            ),
            InternalServerError
          )
          expect(raised.status).toBe(status)
          expect(raised.code).toBe(code)
          expect(raised.type).toBe("server_error")
          expect(raised.requestID).toMatch(REQUEST_ID)
          expect(raised.message).toContain(raised.requestID)
          expect(raised.message).not.toContain("ECONNREFUSED")
          expect(raised.message).not.toContain("10.9.8.7")
        }
      }).pipe(served({ runner: FakeAgentRunner.layerFailing(error) })))
  }
})

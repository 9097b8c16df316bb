/**
 * `POST /v1/chat/completions`: authenticate, read and validate the request, route it to an agent
 * and a session, run the agent, answer in JSON or as a stream. A user message that is one of
 * `session.resetTriggers` resets the session instead of reaching the model.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Crypto from "node:crypto"
import { SESSION_KEY_HEADER } from "../../access/SessionKeys.js"
import { AgentRunner } from "../../agent/AgentRunner.js"
import { RunQueue } from "../../agent/RunQueue.js"
import { Config } from "../../config/Config.js"
import { AgentEvent, type AgentReply } from "../../domain/AgentEvent.js"
import { SessionStore } from "../../store/SessionStore.js"
import { makeAuthorize } from "../Authorized.js"
import { CurrentRequest } from "../CurrentRequest.js"
import * as RequestBody from "../RequestBody.js"
import * as Wire from "./ChatCompletionsWire.js"
import { makePrepare } from "./Prepare.js"
import * as StreamAnswer from "./StreamAnswer.js"

/** The one line a reset trigger is answered with. */
export const RESET_REPLY = "Session reset: the conversation starts over."

const decodeChat = RequestBody.decode(Wire.ChatCompletionRequest)

/** The route's handler, built once with the services it uses. */
export const makeHandler = Effect.gen(function*() {
  const settings = yield* Config
  const authorize = yield* makeAuthorize
  const prepare = yield* makePrepare
  const runner = yield* AgentRunner
  const queue = yield* RunQueue
  const store = yield* SessionStore
  const resetTriggers = new Set(settings.session.resetTriggers)

  return Effect.gen(function*() {
    const caller = yield* authorize
    const request = yield* HttpServerRequest.HttpServerRequest
    const current = yield* CurrentRequest

    const body = yield* RequestBody.readJson(request, settings.chatCompletions.maxBodyBytes)
    const chat = yield* decodeChat(body)
    const { calls, run, toolEvents } = yield* prepare(chat, caller)
    const envelope: Wire.Envelope = {
      id: `chatcmpl_${Crypto.randomUUID()}`,
      created: Math.floor((yield* Clock.currentTimeMillis) / 1000),
      model: chat.model ?? `clawdbot:${run.agent.id}`
    }
    const { sessionKey } = run
    const headers = { [SESSION_KEY_HEADER]: sessionKey.value }

    const last = run.messages.at(-1)
    if (resetTriggers.size > 0 && last?.role === "user" && resetTriggers.has(last.content.trim())) {
      // Waits its turn behind the session's runs, like a run of its own.
      if (sessionKey.kind !== "ephemeral") {
        yield* Effect.scoped(Effect.zipRight(
          Effect.zipRight(queue.enter(sessionKey.value), store.lock?.(sessionKey.value) ?? Effect.void),
          store.reset(sessionKey.value)
        ))
      }
      const reply: AgentReply = { text: RESET_REPLY, finishReason: "stop", usage: undefined }
      return chat.stream === true
        ? yield* StreamAnswer.respond(
          Stream.make(AgentEvent.TextDelta({ text: reply.text }), AgentEvent.Finish({ reason: "stop" })),
          {
            envelope,
            calls,
            headers,
            includeUsage: false,
            keepAliveMs: settings.chatCompletions.keepAliveMs,
            toolEvents: false
          }
        )
        : HttpServerResponse.unsafeJson(Wire.completion(envelope, reply, calls), { headers })
    }

    if (chat.stream === true) {
      return yield* StreamAnswer.respond(runner.stream(run), {
        envelope,
        calls,
        headers,
        includeUsage: chat.stream_options?.include_usage === true,
        keepAliveMs: settings.chatCompletions.keepAliveMs,
        toolEvents
      })
    }
    const reply = yield* runner.complete(run)
    current.usage = reply.usage
    current.tools = reply.tools?.map((tool) => tool.name)
    return HttpServerResponse.unsafeJson(Wire.completion(envelope, reply, calls, toolEvents), { headers })
  })
})

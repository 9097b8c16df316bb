/**
 * `POST /v1/chat/completions`: authenticate, read and validate the request, route it to an agent
 * and a session, run the agent, answer in JSON or as a stream.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { isNotNullable } from "effect/Predicate"
import * as Stream from "effect/Stream"
import * as Crypto from "node:crypto"
import { AGENT_HEADERS, resolveAgent } from "../../access/AgentRouting.js"
import { SESSION_KEY_HEADER, SESSION_KEY_HEADERS, SessionKeys } from "../../access/SessionKeys.js"
import { AgentRunner } from "../../agent/AgentRunner.js"
import { RunQueue } from "../../agent/RunQueue.js"
import { Config } from "../../config/Config.js"
import { AgentEvent, type AgentReply } from "../../domain/AgentEvent.js"
import * as Caller from "../../domain/Caller.js"
import { capabilities } from "../../domain/Capabilities.js"
import type { RunRequest } from "../../domain/Run.js"
import { SessionStore } from "../../store/SessionStore.js"
import { makeAuthorize } from "../Authorized.js"
import { CurrentRequest } from "../CurrentRequest.js"
import * as RequestBody from "../RequestBody.js"
import * as AnswerFormat from "./AnswerFormat.js"
import * as Wire from "./ChatCompletionsWire.js"
import * as Images from "./Images.js"
import * as StreamAnswer from "./StreamAnswer.js"
import { samplingFor, toolsOf, toTurn } from "./Turn.js"

/** The one line a reset trigger is answered with. */
export const RESET_REPLY = "Session reset: the conversation starts over."

/** The first of several header names that the request carries. */
const firstHeader = (request: HttpServerRequest.HttpServerRequest, names: ReadonlyArray<string>) =>
  Option.fromNullable(names.map((name) => request.headers[name]).find((value) => value !== undefined))

const decodeChat = RequestBody.decode(Wire.ChatCompletionRequest)

/** The route's handler, built once with the services it uses. */
export const makeHandler = Effect.gen(function*() {
  const settings = yield* Config
  const authorize = yield* makeAuthorize
  const sessionKeys = yield* SessionKeys
  const runner = yield* AgentRunner
  const queue = yield* RunQueue
  const store = yield* SessionStore
  const resetTriggers = new Set(settings.session.resetTriggers)
  const conversationHeaders = settings.chatCompletions.sessionHeaders
  const imageSettings = settings.chatCompletions.images
  // Remote images are fetched on an HttpClient of the handler's own, only when they are allowed.
  const imageResolver = Images.make(
    imageSettings,
    imageSettings.allowRemote
      ? Option.some(NodeHttpClient.makeUndici(yield* NodeHttpClient.makeDispatcher))
      : Option.none()
  )

  return Effect.gen(function*() {
    const caller = yield* authorize
    const request = yield* HttpServerRequest.HttpServerRequest
    const current = yield* CurrentRequest

    const body = yield* RequestBody.readJson(request, settings.chatCompletions.maxBodyBytes)
    const chat = yield* decodeChat(body)
    const agents = caller.agents === "*"
      ? settings
      : { agents: Caller.visible(caller, settings.agents), defaultAgentId: settings.defaultAgentId }
    const agent = yield* resolveAgent(agents, {
      header: firstHeader(request, AGENT_HEADERS),
      model: Option.fromNullable(chat.model)
    })
    current.agentId = agent.id
    const sampling = yield* samplingFor(agent, chat)
    const tools = yield* toolsOf(chat)
    const calls: Wire.CallShape = isNotNullable(chat.functions) ? "function_call" : "tool_calls"
    const answerFormat = yield* AnswerFormat.forAgent(agent, chat.response_format)
    // Checked last: reading the images may mean fetching them.
    const images = capabilities[agent.kind].images ? yield* Images.ofTurn(chat.messages, imageResolver) : undefined
    const turn = yield* toTurn(chat.messages, images)
    const conversationHeader = conversationHeaders.find((name) => request.headers[name] !== undefined)
    const sessionKey = yield* sessionKeys.resolve({
      agentId: agent.id,
      header: firstHeader(request, SESSION_KEY_HEADERS),
      conversation: Option.fromNullable(conversationHeader).pipe(
        Option.map((name) => ({ header: name, value: request.headers[name] ?? "" }))
      ),
      user: Option.fromNullable(chat.user),
      caller
    })
    current.sessionKey = sessionKey.value

    const run: RunRequest = {
      runId: Crypto.randomUUID(),
      agent,
      sessionKey,
      ...turn,
      sampling,
      tools,
      answerFormat
    }
    const envelope: Wire.Envelope = {
      id: `chatcmpl_${Crypto.randomUUID()}`,
      created: Math.floor((yield* Clock.currentTimeMillis) / 1000),
      model: chat.model ?? `clawdbot:${agent.id}`
    }
    const headers = { [SESSION_KEY_HEADER]: sessionKey.value }

    const last = turn.messages.at(-1)
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
          { envelope, calls, headers, includeUsage: false, keepAliveMs: settings.chatCompletions.keepAliveMs }
        )
        : HttpServerResponse.unsafeJson(Wire.completion(envelope, reply, calls), { headers })
    }

    if (chat.stream === true) {
      return yield* StreamAnswer.respond(runner.stream(run), {
        envelope,
        calls,
        headers,
        includeUsage: chat.stream_options?.include_usage === true,
        keepAliveMs: settings.chatCompletions.keepAliveMs
      })
    }
    const reply = yield* runner.complete(run)
    current.usage = reply.usage
    return HttpServerResponse.unsafeJson(Wire.completion(envelope, reply, calls), { headers })
  })
})

/**
 * `POST /v1/chat/completions`: authenticate, read and validate the request, route it to an agent
 * and a session, run the agent, answer in JSON or as a stream.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Crypto from "node:crypto"
import * as Access from "../../access/Gate.js"
import { SESSION_KEY_HEADER } from "../../access/SessionKeys.js"
import { AgentRunner } from "../../agent/AgentRunner.js"
import { Config } from "../../config/Config.js"
import { CurrentRequest } from "../CurrentRequest.js"
import * as RequestBody from "../RequestBody.js"
import * as Wire from "./ChatCompletionsWire.js"
import { makePrepare } from "./Prepare.js"
import * as StreamAnswer from "./StreamAnswer.js"

/** A request header by which a client asks to see the server tools' activity (the agent must allow it). */
export const TOOL_EVENTS_HEADER = "x-clawgate-tool-events"

const decodeChat = RequestBody.decode(Wire.ChatCompletionRequest)

/** The route's handler, built once with the services it uses. */
export const makeHandler = Effect.gen(function*() {
  const settings = yield* Config
  const gate = yield* Access.makeGate
  const prepare = yield* makePrepare
  const runner = yield* AgentRunner

  return Effect.gen(function*() {
    yield* gate
    const request = yield* HttpServerRequest.HttpServerRequest
    const current = yield* CurrentRequest

    const body = yield* RequestBody.readJson(request, settings.chatCompletions.maxBodyBytes)
    const chat = yield* decodeChat(body)
    const { calls, run } = yield* prepare(chat)
    const envelope: Wire.Envelope = {
      id: `chatcmpl_${Crypto.randomUUID()}`,
      created: Math.floor((yield* Clock.currentTimeMillis) / 1000),
      model: chat.model ?? `clawdbot:${run.agent.id}`
    }
    const headers = { [SESSION_KEY_HEADER]: run.sessionKey.value }
    const toolEvents = run.agent.toolEvents && request.headers[TOOL_EVENTS_HEADER] === "1"

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

/**
 * A Chat Completions request as the run to start: its agent (the agent headers, then `model`),
 * sampling, tools, answer format, images, turn and session, each checked. The Responses endpoint
 * translates its requests into Chat Completions ones and prepares them here too.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { isNotNullable } from "effect/Predicate"
import * as Crypto from "node:crypto"
import { AGENT_HEADERS, resolveAgent } from "../../access/AgentRouting.js"
import { SESSION_KEY_HEADERS, SessionKeys } from "../../access/SessionKeys.js"
import { Config } from "../../config/Config.js"
import type { Agent } from "../../domain/Agent.js"
import * as Caller from "../../domain/Caller.js"
import { capabilities } from "../../domain/Capabilities.js"
import type { RunRequest } from "../../domain/Run.js"
import type { SessionKey } from "../../domain/SessionKey.js"
import { CurrentRequest } from "../CurrentRequest.js"
import * as AnswerFormat from "./AnswerFormat.js"
import type * as Wire from "./ChatCompletionsWire.js"
import * as Images from "./Images.js"
import { samplingFor, toolsOf, toTurn } from "./Turn.js"

/** The first of several header names that the request carries. */
const firstHeader = (request: HttpServerRequest.HttpServerRequest, names: ReadonlyArray<string>) =>
  Option.fromNullable(names.map((name) => request.headers[name]).find((value) => value !== undefined))

/**
 * The opt-in header to see the server tools' activity (`1`), for agents with `toolEvents`: Chat
 * Completions shows it as `delta.clawgate.tool`, the Responses API as `mcp_call` items.
 */
export const TOOL_EVENTS_HEADER = "x-clawgate-tool-events"

/** What a caller decides beyond the request itself (a continued response's agent and session). */
export interface Routing {
  /** The agent, instead of the one the request names. */
  readonly agent?: Agent | undefined
  /** The session, given the one the request's headers and `user` name. */
  readonly session?: ((resolved: SessionKey) => SessionKey) | undefined
}

/** Builds the preparation once, with the services it uses; it runs per request. */
export const makePrepare = Effect.gen(function*() {
  const settings = yield* Config
  const sessionKeys = yield* SessionKeys
  const conversationHeaders = settings.chatCompletions.sessionHeaders
  const imageSettings = settings.chatCompletions.images
  // Remote images are fetched on an HttpClient of the handler's own, only when they are allowed.
  const imageResolver = Images.make(
    imageSettings,
    imageSettings.allowRemote
      ? Option.some(
        yield* Effect.flatMap(
          // undici, loaded only for a gateway that fetches remote images.
          Effect.promise(() => import("@effect/platform-node/NodeHttpClient")),
          (NodeHttpClient) => Effect.map(NodeHttpClient.makeDispatcher, NodeHttpClient.makeUndici)
        )
      )
      : Option.none()
  )

  /** `caller` may use only its agents, and its sessions are its own. */
  return Effect.fnUntraced(function*(chat: Wire.ChatCompletionRequest, caller: Caller.Caller, routing: Routing = {}) {
    const request = yield* HttpServerRequest.HttpServerRequest
    const current = yield* CurrentRequest
    const agents = caller.agents === "*"
      ? settings
      : { agents: Caller.visible(caller, settings.agents), defaultAgentId: settings.defaultAgentId }
    const agent = routing.agent ?? (yield* resolveAgent(agents, {
      header: firstHeader(request, AGENT_HEADERS),
      model: Option.fromNullable(chat.model)
    }))
    current.agentId = agent.id
    const sampling = yield* samplingFor(agent, chat)
    const tools = yield* toolsOf(chat)
    const calls: Wire.CallShape = isNotNullable(chat.functions) ? "function_call" : "tool_calls"
    const answerFormat = yield* AnswerFormat.forAgent(agent, chat.response_format)
    // Checked last: reading the images may mean fetching them.
    const images = capabilities[agent.kind].images ? yield* Images.ofTurn(chat.messages, imageResolver) : undefined
    const turn = yield* toTurn(chat.messages, images)
    const conversationHeader = conversationHeaders.find((name) => request.headers[name] !== undefined)
    const resolved = yield* sessionKeys.resolve({
      agentId: agent.id,
      header: firstHeader(request, SESSION_KEY_HEADERS),
      conversation: Option.fromNullable(conversationHeader).pipe(
        Option.map((name) => ({ header: name, value: request.headers[name] ?? "" }))
      ),
      user: Option.fromNullable(chat.user),
      caller
    })
    const sessionKey = routing.session === undefined ? resolved : routing.session(resolved)
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
    /** Whether the answer shows the server tools' activity. */
    const toolEvents = agent.toolEvents && request.headers[TOOL_EVENTS_HEADER] === "1"
    return { run, calls, toolEvents }
  })
})

/**
 * `POST /v1/responses` (the OpenAI Responses API), `GET` and `DELETE /v1/responses/{id}`: the
 * request is read as the Chat Completions request it amounts to and run the same way (agent
 * routing, sessions, tools, sampling), and answered as a response object or its typed events.
 *
 * A response is stored unless the request says `store: false`: its object, its agent and session,
 * and its owner (the caller's, ../../access/Owner.ts). `previous_response_id` continues the session
 * of the owner's stored response; a stored response made without a session of the caller's gets
 * one of its own (`resp:<id>`, an API key's like its other sessions), so that it can be continued.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Crypto from "node:crypto"
import { SESSION_KEY_HEADER } from "../../access/SessionKeys.js"
import { AgentRunner } from "../../agent/AgentRunner.js"
import { Config } from "../../config/Config.js"
import { type Caller, ownKey } from "../../domain/Caller.js"
import type { AgentError } from "../../domain/Errors.js"
import { AgentNotFound, InvalidRequest, PreviousResponseNotFound, ResponseNotFound } from "../../domain/Errors.js"
import type { SessionKey } from "../../domain/SessionKey.js"
import * as Telemetry from "../../ops/Telemetry.js"
import { ResponseStore } from "../../store/ResponseStore.js"
import { makeAuthorizeFor } from "../Authorized.js"
import { makePrepare, type Routing } from "../chat/Prepare.js"
import { CurrentRequest } from "../CurrentRequest.js"
import * as RequestBody from "../RequestBody.js"
import * as SseAnswer from "../SseAnswer.js"
import * as ResponsesStream from "./ResponsesStream.js"
import * as Wire from "./ResponsesWire.js"

const decodeRequest = RequestBody.decode(Wire.ResponsesRequest)

/** A new id with OpenAI's prefix for its kind (`resp`, `msg`, `fc`). */
const newId = (prefix: string) => `${prefix}_${Crypto.randomUUID().replaceAll("-", "")}`

const DAY_MS = 24 * 60 * 60 * 1000
/** How often, at most, the stored responses past their retention are looked for. */
const PRUNE_EVERY_MS = 60_000

/** The routes' handlers, built once with the services they use. */
export const makeHandlers = Effect.gen(function*() {
  const settings = yield* Config
  const gate = yield* makeAuthorizeFor("responses")
  const prepare = yield* makePrepare
  const runner = yield* AgentRunner
  const store = yield* ResponseStore

  const retentionMs = settings.responses.retentionDays * DAY_MS
  let prunedAt: number | undefined
  /**
   * Removes the stored responses past their retention, at most once every PRUNE_EVERY_MS, before a
   * request reads or writes them: no timer of its own, and nothing to do while nobody asks. A
   * store that cannot do it now is tried again PRUNE_EVERY_MS later; the request goes on.
   */
  const pruned = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    if (retentionMs === 0 || (prunedAt !== undefined && now - prunedAt < PRUNE_EVERY_MS)) return Effect.void
    prunedAt = now
    return store.prune(now - retentionMs).pipe(
      Effect.catchAll((error) => Effect.logWarning("Stored responses past their retention were not removed", error)),
      Effect.asVoid
    )
  })

  /**
   * Where a request continues: the agent and session of the caller's stored response it names (a
   * session of the caller's, as the response is).
   */
  const continuing = (previousId: string, caller: Caller) =>
    Effect.gen(function*() {
      yield* pruned
      const previous = yield* store.find(previousId, caller.owner)
      if (Option.isNone(previous)) return yield* new PreviousResponseNotFound({ id: previousId })
      const { agentId, sessionKey } = previous.value
      const agent = settings.agents.find((candidate) => candidate.id === agentId)
      if (agent === undefined) {
        return yield* new AgentNotFound({ agentId, known: settings.agents.map((known) => known.id) })
      }
      const session: SessionKey = { value: sessionKey, kind: "response", owner: caller.keyId }
      return { agent, session: () => session } satisfies Routing
    })

  /**
   * The request with each item reference replaced by the caller's stored item it names (one that
   * names none, or another caller's, is left out as other unknown items are).
   */
  const withReferencesResolved = (wire: Wire.ResponsesRequest, owner: string) => {
    const ids = Wire.referencesOf(wire.input)
    if (ids.length === 0 || typeof wire.input === "string") return Effect.succeed(wire)
    const input = wire.input
    return Effect.map(Effect.zipRight(pruned, store.items(ids, owner)), (found): Wire.ResponsesRequest => ({
      ...wire,
      input: input.flatMap((item) =>
        item.type === "item_reference" && "id" in item
          ? Option.toArray(Option.flatMap(Option.fromNullable(found.get(item.id)), Wire.decodeStoredItem))
          : [item]
      )
    }))
  }

  const create = Effect.gen(function*() {
    const caller = yield* gate
    const request = yield* HttpServerRequest.HttpServerRequest
    const current = yield* CurrentRequest

    const body = yield* RequestBody.readJson(request, settings.responses.maxBodyBytes)
    const wire = yield* Effect.flatMap(decodeRequest(body), (decoded) => withReferencesResolved(decoded, caller.owner))
    const id = newId("resp")
    const stored = wire.store !== false
    const routing: Routing = typeof wire.previous_response_id === "string"
      ? yield* continuing(wire.previous_response_id, caller)
      : {
        // A stored response is kept with a session, so that it can be continued.
        session: (resolved) =>
          stored && resolved.kind === "ephemeral"
            ? { ...resolved, value: ownKey(caller, `resp:${id}`), kind: "response" }
            : resolved
      }
    const { run, toolEvents } = yield* prepare(Wire.toChat(wire), caller, routing).pipe(
      Effect.mapError((error) =>
        error._tag === "InvalidRequest"
          ? new InvalidRequest({ message: error.message, param: Wire.paramOf(error.param) })
          : error
      )
    )
    const envelope: Wire.Envelope = {
      id,
      createdAt: Math.floor((yield* Clock.currentTimeMillis) / 1000),
      model: wire.model ?? `clawdbot:${run.agent.id}`,
      request: wire,
      store: stored
    }
    const keep = (response: Wire.ResponseObject): Effect.Effect<void, AgentError> =>
      stored
        ? Effect.zipRight(
          pruned,
          store.save({
            id,
            owner: caller.owner,
            agentId: run.agent.id,
            sessionKey: run.sessionKey.value,
            body: JSON.stringify(response)
          }, response.output.map((item) => ({ id: item.id, body: JSON.stringify(item) })))
        )
        : Effect.void
    const headers = { [SESSION_KEY_HEADER]: run.sessionKey.value }

    const ids = { call: () => newId("fc"), tool: () => newId("mcp") }
    if (wire.stream === true) {
      return yield* Telemetry.traced("ResponsesStream.respond")(SseAnswer.respond(runner.stream(run), {
        frames: (current) =>
          ResponsesStream.frames(envelope, current, { ...ids, message: () => newId("msg") }, keep, toolEvents),
        keepAliveMs: settings.responses.keepAliveMs,
        headers
      }))
    }
    const reply = yield* runner.complete(run)
    current.usage = reply.usage
    current.tools = reply.tools?.map((tool) => tool.name)
    const response = Wire.completed(envelope, reply, { ...ids, message: newId("msg") }, toolEvents)
    yield* keep(response)
    return HttpServerResponse.unsafeJson(response, { headers })
  })

  /** The id in the path, and the owner the caller is. */
  const target = Effect.gen(function*() {
    const { owner } = yield* gate
    const { id = "" } = yield* HttpRouter.params
    yield* pruned
    return { id, owner }
  })

  const retrieve = Effect.gen(function*() {
    const { id, owner } = yield* target
    const found = yield* store.find(id, owner)
    if (Option.isNone(found)) return yield* new ResponseNotFound({ id })
    return HttpServerResponse.text(found.value.body, { contentType: "application/json" })
  })

  const remove = Effect.gen(function*() {
    const { id, owner } = yield* target
    if (!(yield* store.remove(id, owner))) return yield* new ResponseNotFound({ id })
    return HttpServerResponse.unsafeJson({ id, object: "response.deleted", deleted: true })
  })

  return { create, retrieve, remove }
})

/**
 * The sessions API: `GET /v1/sessions` (newest first, in OpenAI's list shape), `GET` and `DELETE`
 * `/v1/sessions/{key}`, `POST /v1/sessions/{key}/reset`. A caller sees only its own sessions (an
 * API key those made with it; the gateway's secret every one): another's is a 404, as one that
 * does not exist. A session with a run in flight (here, or on another replica of a PostgreSQL
 * store) is not reset or deleted under it: 409.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { RunQueue } from "../agent/RunQueue.js"
import { type Caller, owns } from "../domain/Caller.js"
import { InvalidRequest, SessionInUse, SessionNotFound } from "../domain/Errors.js"
import type { ChatMessage } from "../domain/Run.js"
import { type SessionInfo, SessionStore } from "../store/SessionStore.js"
import { makeAuthorize } from "./Authorized.js"
import { toolCall } from "./chat/ChatCompletionsWire.js"

export const DEFAULT_LIMIT = 20
export const MAX_LIMIT = 100

const seconds = (ms: number) => Math.floor(ms / 1000)

const entry = (info: SessionInfo) => ({
  key: info.key,
  agent: info.agent,
  created_at: seconds(info.createdAt),
  updated_at: seconds(info.updatedAt),
  turns: info.turns,
  title: info.title
})

const wireMessage = (message: ChatMessage) => ({
  role: message.role,
  content: message.content,
  ...(message.name !== undefined && { name: message.name }),
  ...(message.toolCallId !== undefined && { tool_call_id: message.toolCallId }),
  ...(message.toolCalls !== undefined && { tool_calls: message.toolCalls.map(toolCall) })
})

/** `limit`: 1 to MAX_LIMIT, DEFAULT_LIMIT when absent. */
const limitOf = (raw: string | null) => {
  if (raw === null) return Effect.succeed(DEFAULT_LIMIT)
  const limit = Number(raw)
  return Number.isInteger(limit) && limit >= 1 && limit <= MAX_LIMIT
    ? Effect.succeed(limit)
    : new InvalidRequest({ message: `limit must be an integer from 1 to ${MAX_LIMIT}.`, param: "limit" })
}

export const makeHandlers = Effect.gen(function*() {
  const authorize = yield* makeAuthorize
  const store = yield* SessionStore
  const queue = yield* RunQueue

  /** The session the path names, if the caller may see it. The router has percent-decoded it. */
  const named = (caller: Caller) =>
    Effect.gen(function*() {
      const { key = "" } = yield* HttpRouter.params
      const info = yield* store.info(key)
      if (Option.isNone(info) || !owns(caller, info.value.owner)) return yield* new SessionNotFound({ sessionKey: key })
      return info.value
    })

  /**
   * Runs `change` with no run in flight on the session: it takes the session's turn (so runs that
   * arrive meanwhile wait behind it) and, on PostgreSQL, its lock across replicas.
   */
  const whenIdle = <A, E, R>(sessionKey: string, change: Effect.Effect<A, E, R>) =>
    Effect.scoped(Effect.gen(function*() {
      if (queue.inFlight(sessionKey)) return yield* new SessionInUse({ sessionKey })
      yield* queue.enter(sessionKey)
      const held = store.tryHold === undefined ? true : yield* store.tryHold(sessionKey)
      if (!held) return yield* new SessionInUse({ sessionKey })
      return yield* change
    }))

  const list = Effect.gen(function*() {
    const caller = yield* authorize
    const request = yield* HttpServerRequest.HttpServerRequest
    const query = new URL(request.url, "http://gateway").searchParams
    const limit = yield* limitOf(query.get("limit"))
    const { hasMore, sessions } = yield* store.list({
      // An API key lists its own sessions; the gateway's secret every one.
      owner: caller.keyId,
      agent: query.get("agent") ?? undefined,
      after: query.get("after") ?? undefined,
      limit
    })
    return HttpServerResponse.unsafeJson({
      object: "list",
      data: sessions.map(entry),
      first_id: sessions[0]?.key ?? null,
      last_id: sessions.at(-1)?.key ?? null,
      has_more: hasMore
    })
  })

  const retrieve = Effect.gen(function*() {
    const info = yield* named(yield* authorize)
    const messages = yield* store.load(info.key, Number.MAX_SAFE_INTEGER)
    return HttpServerResponse.unsafeJson({ ...entry(info), messages: messages.map(wireMessage) })
  })

  const remove = Effect.gen(function*() {
    const info = yield* named(yield* authorize)
    yield* whenIdle(info.key, store.remove(info.key))
    return HttpServerResponse.unsafeJson({ key: info.key, object: "session.deleted", deleted: true })
  })

  const reset = Effect.gen(function*() {
    const info = yield* named(yield* authorize)
    yield* whenIdle(info.key, store.reset(info.key))
    const after = yield* store.info(info.key)
    return HttpServerResponse.unsafeJson(entry(Option.getOrElse(after, () => info)))
  })

  /** `GET` or `DELETE` on one session. */
  const one = Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (request) => request.method === "DELETE" ? remove : retrieve
  )

  return { list, one, reset }
})

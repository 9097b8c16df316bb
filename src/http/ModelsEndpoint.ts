/**
 * `GET /v1/models` and `GET /v1/models/{id}`: the configured agents as OpenAI models, each as
 * `clawdbot:<id>` and as its bare id. Clients (Cursor, Open WebUI, LibreChat, Continue) call it
 * before chatting.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { agentIdFromModel, normalizeAgentId } from "../access/AgentRouting.js"
import { Config } from "../config/Config.js"
import * as Caller from "../domain/Caller.js"
import { AgentNotFound } from "../domain/Errors.js"
import { makeAuthorizeFor } from "./Authorized.js"

export const makeHandlers = Effect.gen(function*() {
  const settings = yield* Config
  const authorize = yield* makeAuthorizeFor("models")
  // Agents exist from start-up on: that is their creation time.
  const created = Math.floor((yield* Clock.currentTimeMillis) / 1000)
  const entry = (id: string) => ({ id, object: "model", created, owned_by: "clawgate" })
  const modelsOf = (agents: ReadonlyArray<{ readonly id: string }>) =>
    agents.flatMap((agent) => [entry(`clawdbot:${agent.id}`), entry(agent.id)])
  const models = modelsOf(settings.agents)

  // An API key sees only its agents.
  const list = Effect.map(authorize, (caller) =>
    HttpServerResponse.unsafeJson({
      object: "list",
      data: caller.agents === "*" ? models : modelsOf(Caller.visible(caller, settings.agents))
    }))

  const retrieve = Effect.gen(function*() {
    const caller = yield* authorize
    // The router has already percent-decoded the parameter: decoding again would turn `%25` into a
    // lone `%` (a URIError, so a 500) and mis-read ids holding a literal `%`.
    const { id: requested = "" } = yield* HttpRouter.params
    const agentId = agentIdFromModel(requested).pipe(Option.orElse(() => normalizeAgentId(requested)))
    const known = Caller.visible(caller, settings.agents).map((agent) => agent.id)
    if (Option.isNone(agentId) || !known.includes(agentId.value)) {
      return yield* new AgentNotFound({ agentId: requested, known })
    }
    return HttpServerResponse.unsafeJson(entry(requested))
  })

  return { list, retrieve }
})

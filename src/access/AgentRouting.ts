/**
 * Agent routing: which configured agent a request is for. A header wins, then an agent named in
 * `model`, else the default agent.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Settings } from "../config/Settings.js"
import type { Agent } from "../domain/Agent.js"
import { AgentNotFound } from "../domain/Errors.js"

export const AGENT_HEADERS: ReadonlyArray<string> = ["x-clawdbot-agent-id", "x-clawdbot-agent", "x-openclaw-agent-id"]

const MODEL_PREFIX = /^(?:clawdbot[:/]|openclaw[:/]|agent:)(.*)$/i

/** Trimmed, lowercased; other characters become `-`; at most 64 characters. Empty means none. */
export const normalizeAgentId = (raw: string): Option.Option<string> => {
  const id = raw.trim().toLowerCase().replace(/[^a-z0-9_-]/g, "-").replace(/^[-_]+/, "").slice(0, 64)
  return id.length === 0 ? Option.none() : Option.some(id)
}

/** The agent id a `model` string names, if it names one (`clawdbot:beta`, `agent:beta`, ...). */
export const agentIdFromModel = (model: string): Option.Option<string> => {
  const match = MODEL_PREFIX.exec(model.trim())
  return match === null ? Option.none() : normalizeAgentId(match[1] ?? "")
}

/**
 * The agent for a request: the id from a header, else from `model`, else the default agent. An
 * API key passes only its own agents: the others are as unknown to it as agents that do not exist.
 */
export const resolveAgent = (
  settings: Pick<Settings, "agents" | "defaultAgentId">,
  request: { readonly header: Option.Option<string>; readonly model: Option.Option<string> }
): Either.Either<Agent, AgentNotFound> => {
  const named = request.header.pipe(
    Option.flatMap(normalizeAgentId),
    Option.orElse(() => Option.flatMap(request.model, agentIdFromModel))
  )
  const id = Option.getOrElse(named, () => settings.defaultAgentId)
  const agent = settings.agents.find((candidate) => candidate.id === id)
  return agent === undefined
    ? Either.left(new AgentNotFound({ agentId: id, known: settings.agents.map((known) => known.id) }))
    : Either.right(agent)
}

/**
 * Agent routing alone: id normalization, agents named in `model`, and which agent a request gets.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { agentIdFromModel, normalizeAgentId, resolveAgent } from "../../src/access/AgentRouting.js"
import { decode } from "../../src/config/Load.js"

const settings = Either.getOrThrowWith(
  decode(
    { agents: { list: [{ id: "main" }, { id: "beta", default: true }, { id: "ops-team" }] } },
    { token: Option.none(), password: Option.none() }
  ),
  (problems) => new Error(problems.join("\n"))
).settings

const routed = (header: string | undefined, model: string | undefined) =>
  resolveAgent(settings, { header: Option.fromNullable(header), model: Option.fromNullable(model) }).pipe(
    Either.map((agent) => agent.id)
  )

describe("normalizeAgentId", () => {
  it("trims, lowercases, turns other characters into '-', caps at 64", () => {
    expect(normalizeAgentId(" Beta ")).toEqual(Option.some("beta"))
    expect(normalizeAgentId("Ops Team")).toEqual(Option.some("ops-team"))
    expect(normalizeAgentId("my_agent-2")).toEqual(Option.some("my_agent-2"))
    expect(normalizeAgentId("-lead")).toEqual(Option.some("lead"))
    expect(normalizeAgentId("a".repeat(80))).toEqual(Option.some("a".repeat(64)))
  })

  it("a blank or punctuation-only id names nothing", () => {
    expect(normalizeAgentId("")).toEqual(Option.none())
    expect(normalizeAgentId("   ")).toEqual(Option.none())
    expect(normalizeAgentId("--")).toEqual(Option.none())
  })
})

describe("agentIdFromModel", () => {
  it("every prefix names an agent, case-insensitively", () => {
    for (const model of ["clawdbot:beta", "clawdbot/beta", "agent:beta", "openclaw:beta", "openclaw/beta"]) {
      expect(agentIdFromModel(model)).toEqual(Option.some("beta"))
    }
    expect(agentIdFromModel("CLAWDBOT:Beta")).toEqual(Option.some("beta"))
    expect(agentIdFromModel("OpenClaw/BETA")).toEqual(Option.some("beta"))
    expect(agentIdFromModel("Agent:Ops Team")).toEqual(Option.some("ops-team"))
  })

  it("a model that names no agent gives nothing", () => {
    for (const model of ["gpt-4o", "clawdbot", "openclaw", "clawdbot:", "openai/gpt-4o", "echo", "agents:beta", ""]) {
      expect(agentIdFromModel(model)).toEqual(Option.none())
    }
  })
})

describe("resolveAgent", () => {
  it("the header wins over the model", () => {
    expect(routed("main", "clawdbot:ops-team")).toEqual(Either.right("main"))
    expect(routed(" OPS TEAM ", undefined)).toEqual(Either.right("ops-team"))
  })

  it("else the agent named in model, else the default agent", () => {
    expect(routed(undefined, "openclaw/main")).toEqual(Either.right("main"))
    expect(routed(undefined, "gpt-4o")).toEqual(Either.right("beta"))
    expect(routed(undefined, "clawdbot")).toEqual(Either.right("beta"))
    expect(routed(undefined, undefined)).toEqual(Either.right("beta"))
    expect(routed("  ", "agent:main")).toEqual(Either.right("main"))
  })

  it("an unknown agent, by header or model, is AgentNotFound listing the known agents", () => {
    for (const [header, model] of [["nope", undefined], [undefined, "clawdbot:nope"], ["nope", "clawdbot:main"]]) {
      const result = resolveAgent(settings, { header: Option.fromNullable(header), model: Option.fromNullable(model) })
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left._tag).toBe("AgentNotFound")
        expect(result.left.agentId).toBe("nope")
        expect(result.left.known).toEqual(["main", "beta", "ops-team"])
      }
    }
  })

  it("the resolved agent carries its config", () => {
    const agent = resolveAgent(settings, { header: Option.none(), model: Option.some("agent:main") })
    expect(Either.isRight(agent)).toBe(true)
    if (Either.isRight(agent)) expect(agent.right).toMatchObject({ id: "main", model: "echo" })
  })
})

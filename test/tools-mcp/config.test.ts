/**
 * The MCP keys of the config: `mcp.servers.<name>` with its defaults, the agents' `tools`,
 * `maxSteps` and `toolEvents` (per agent over the defaults), the problems a wrong entry is refused
 * with, and the per-tool metrics a call records.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import { decode } from "../../src/config/Load.js"
import { allowsTool } from "../../src/domain/Agent.js"
import * as Metrics from "../../src/ops/Metrics.js"
import { completion } from "../kit/clients.js"
import { Upstream } from "../kit/upstream.js"
import { call, withMcp } from "./harness.js"

const noSecrets = { token: Option.none(), password: Option.none() }

const decoded = (input: unknown) => decode(input, noSecrets)

const settingsOf = (input: unknown) =>
  Either.getOrThrowWith(decoded(input), (problems) => new Error(problems.join("\n"))).settings

const problemsOf = (input: unknown) => Either.match(decoded(input), { onLeft: (p) => p, onRight: () => [] })

describe("the MCP keys of the config", () => {
  it("a server gets its defaults; agents get tools, maxSteps and toolEvents over agents.defaults", () => {
    const settings = settingsOf({
      mcp: { servers: { files: { command: "mcp-files", env: { TOKEN: "t" } } } },
      agents: {
        defaults: { tools: { allow: ["*"], deny: ["files.delete"] }, maxSteps: 4 },
        list: [{ id: "main" }, { id: "reader", tools: { allow: ["files.read"] }, toolEvents: true }, {
          id: "lone",
          maxSteps: 2
        }]
      }
    })
    expect(settings.mcpServers.files).toMatchObject({
      command: "mcp-files",
      enabled: true,
      requestTimeoutMs: 30_000,
      connectionTimeoutMs: 10_000,
      maxResultChars: 20_000
    })
    expect(settings.agents.map((agent) => [agent.id, agent.tools, agent.maxSteps, agent.toolEvents])).toEqual([
      ["main", { allow: ["*"], deny: ["files.delete"] }, 4, false],
      ["reader", { allow: ["files.read"], deny: [] }, 4, true],
      ["lone", { allow: ["*"], deny: ["files.delete"] }, 2, false]
    ])
    const [main] = settings.agents
    expect(allowsTool(main!.tools!, "files", "read")).toBe(true)
    expect(allowsTool(main!.tools!, "files", "delete")).toBe(false)
  })

  it("without any tools setting an agent has none, and maxSteps is 10", () => {
    const [agent] = settingsOf({}).agents
    expect([agent?.tools, agent?.maxSteps, agent?.toolEvents]).toEqual([undefined, 10, false])
  })

  it("a server with both or neither of command and url, a bad name, and a pattern of no server are refused", () => {
    const problems = problemsOf({
      mcp: {
        servers: {
          both: { command: "x", url: "http://127.0.0.1:1/mcp" },
          neither: {},
          "bad name": { command: "x" }
        }
      },
      agents: { list: [{ id: "main", tools: { allow: ["typo.*", "both"] } }] }
    })
    expect(problems).toEqual([
      "mcp.servers.both: expected either \"command\" (stdio) or \"url\" (HTTP), not both or neither",
      "mcp.servers.neither: expected either \"command\" (stdio) or \"url\" (HTTP), not both or neither",
      "mcp.servers.bad name: a server name is 1 to 32 letters, digits, '_' or '-'",
      "agents.list[0].tools.allow: \"typo.*\" is not \"*\", \"<server>.*\" or \"<server>.<tool>\" of a server in mcp.servers",
      "agents.list[0].tools.allow: \"both\" is not \"*\", \"<server>.*\" or \"<server>.<tool>\" of a server in mcp.servers"
    ])
    expect(problemsOf({ mcp: { servers: { web: { url: "ftp://host/mcp" } } } })).toEqual([
      "mcp.servers.web.url: expected an http(s) URL"
    ])
  })
})

describe("the metrics of server tools", () => {
  const countOf = (tool: string, outcome: string) =>
    Effect.map(
      Metric.value(
        Metrics.toolCalls.pipe(Metric.tagged("server", "web"), Metric.tagged("tool", tool))
          .pipe(Metric.tagged("outcome", outcome))
      ),
      (state) => state.count
    )

  it.scopedLive("each call is counted by server, tool and outcome", () =>
    Effect.gen(function*() {
      const before = [yield* countOf("add", "ok"), yield* countOf("fail", "error")]
      const upstream = yield* Upstream
      yield* upstream.answerToolCalls([call("call_1", "web__add", { a: 1, b: 2 }), call("call_2", "web__fail")])
      yield* upstream.answerText(["Done."])
      yield* completion({ messages: [{ role: "user", content: "go" }] })
      expect([yield* countOf("add", "ok"), yield* countOf("fail", "error")]).toEqual([before[0]! + 1, before[1]! + 1])
    }).pipe(withMcp({ servers: (url) => ({ web: { url } }) })))
})

/**
 * The gateway with MCP servers: agent `main` on a fake Chat Completions provider (`Upstream`) that
 * scripts the model's tool calls, and two real MCP servers made with the SDK (test/fakes/mcpServer.mjs):
 * `calc` over stdio (a child process run with node) and `web` over streamable HTTP in this process
 * (`WebTools`: its calls and cancellations can be watched).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type * as Stream from "effect/Stream"
import * as Url from "node:url"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import type { Settings } from "../../src/config/Settings.js"
import { listenHttp } from "../fakes/mcpServer.mjs"
import { testGateway } from "../kit/gateway.js"
import { field, isRecord } from "../kit/json.js"
import { type ScriptedCall, Upstream, upstreamConfig, upstreamLayer } from "../kit/upstream.js"
import { dataOf } from "../kit/wire.js"

export const API = "openai-completions"

/** The stdio fake, as `mcp.servers.<name>` runs it. */
export const STDIO_SERVER = {
  command: process.execPath,
  args: [Url.fileURLToPath(new URL("../fakes/mcpServer.mjs", import.meta.url))]
}

export type ServerInput = NonNullable<NonNullable<ConfigInput["mcp"]>["servers"]>[string]
type AgentInput = NonNullable<NonNullable<ConfigInput["agents"]>["list"]>[number]

/** The HTTP fake in this process: its URL, the tools called on it, the calls it saw cancelled, its ended sessions. */
export class WebTools extends Context.Tag("test/WebTools")<WebTools, {
  readonly url: string
  readonly calls: Effect.Effect<ReadonlyArray<string>>
  readonly nextCancelled: Effect.Effect<string>
  /** Completes when a client next ends its session (a DELETE, as the SDK's client sends on close). */
  readonly nextEnded: Effect.Effect<void>
}>() {}

const webLayer = Layer.scoped(
  WebTools,
  Effect.gen(function*() {
    const calls: Array<string> = []
    const cancelled = yield* Queue.unbounded<string>()
    const ended = yield* Queue.unbounded<void>()
    const fake = yield* Effect.acquireRelease(
      Effect.promise(() =>
        listenHttp({
          call: (name) => calls.push(name),
          cancelled: (name) => Queue.unsafeOffer(cancelled, name),
          ended: () => Queue.unsafeOffer(ended, undefined)
        })
      ),
      (fake) => Effect.promise(fake.close)
    )
    return WebTools.of({
      url: fake.url,
      calls: Effect.sync(() => [...calls]),
      nextCancelled: Queue.take(cancelled),
      nextEnded: Queue.take(ended)
    })
  })
)

export interface McpSetup {
  /** The servers, given the HTTP fake's URL. Default: `calc` (stdio) and `web` (HTTP). */
  readonly servers?: (webUrl: string) => Record<string, ServerInput>
  /** Agent `main`'s settings. Default: every server tool, tool events allowed. */
  readonly agent?: Omit<AgentInput, "id">
  readonly logs?: Layer.Layer<never>
  readonly reloads?: Stream.Stream<Settings>
}

export const defaultServers = (webUrl: string): Record<string, ServerInput> => ({
  calc: STDIO_SERVER,
  web: { url: webUrl }
})

/**
 * The config of the gateway under test (Chat Completions and the Responses API), with the provider
 * and the HTTP fake at these URLs.
 */
export const mcpConfig = (upstreamUrl: string, webUrl: string, setup: McpSetup = {}): ConfigInput => {
  const config = upstreamConfig(API, upstreamUrl, {
    agent: setup.agent ?? { tools: { allow: ["*"] }, toolEvents: true }
  })
  return {
    ...config,
    gateway: {
      ...config.gateway,
      http: { endpoints: { chatCompletions: { enabled: true }, responses: { enabled: true } } }
    },
    mcp: { servers: (setup.servers ?? defaultServers)(webUrl) }
  }
}

/** Runs a test's body against the gateway with MCP servers (and gives it `Upstream` and `WebTools`). */
export const withMcp = (setup: McpSetup = {}) => <A, E, R>(body: Effect.Effect<A, E, R>) =>
  body.pipe(
    Effect.scoped,
    Effect.provide(
      Layer.unwrapEffect(Effect.gen(function*() {
        const upstream = yield* Upstream
        const web = yield* WebTools
        return testGateway({
          config: mcpConfig(upstream.baseUrl, web.url, setup),
          ...(setup.logs !== undefined && { logs: setup.logs }),
          ...(setup.reloads !== undefined && { reloads: setup.reloads })
        })
      })).pipe(Layer.provideMerge(Layer.merge(upstreamLayer(API), webLayer)))
    )
  )

/** A tool call for the fake provider to make, its arguments in one piece. */
export const call = (id: string, name: string, args: Record<string, unknown> = {}): ScriptedCall => ({
  id,
  name,
  pieces: [JSON.stringify(args)]
})

/**
 * The model calls `calc__barrier` twice in one step (tags A and B), then answers "Both.". Each call
 * answers only once both are waiting: run one after the other, the first would wait until its
 * timeout and come back an error.
 */
export const scriptBarrierPair = Effect.gen(function*() {
  const upstream = yield* Upstream
  yield* upstream.answerToolCalls([
    call("call_a", "calc__barrier", { n: 2, tag: "A" }),
    call("call_b", "calc__barrier", { n: 2, tag: "B" })
  ])
  yield* upstream.answerText(["Both."])
})

/** The tool names a provider request offered the model. */
export const offeredTools = (body: unknown): ReadonlyArray<string> => {
  const tools = field(body, "tools")
  return Array.isArray(tools) ? tools.map((tool) => String(field(tool, "function", "name"))) : []
}

/** The `delta.clawgate.tool` events of a stream, as `<status> <name>` (with `: <result>` once ended). */
export const toolEventsOf = (events: ReadonlyArray<string>): ReadonlyArray<string> =>
  events.filter((event) => event.startsWith("data: {")).flatMap((event) => {
    const tool = field(dataOf(event), "choices", 0, "delta", "clawgate", "tool")
    if (!isRecord(tool)) return []
    return [`${String(tool.status)} ${String(tool.name)}${tool.result === undefined ? "" : `: ${String(tool.result)}`}`]
  })

/**
 * McpServers: the MCP servers of `mcp.servers`, whose tools agents may call. Built on the official
 * `@modelcontextprotocol/sdk` client (stdio, streamable HTTP or SSE).
 *
 * - A server that an agent may use is connected when the layer is built (in the background; else
 *   on first use), its tools listed then, and kept connected for the life of the layer (a config
 *   generation): a reload that removes it, or the shutdown, closes it. A server that dies (its
 *   process exits, its connection drops) is connected again on the next use; one that cannot be
 *   reached is tried again on a use at least RETRY_AFTER_MS later.
 * - A tool reaches the model as `<server>__<tool>` (letters, digits, `_` and `-` only, at most 64),
 *   a valid function name for every provider.
 * - A call never fails the run: a failing tool, a server that cannot be reached, a call past its
 *   `requestTimeoutMs` all become an error result the model reads. Results longer than
 *   `maxResultChars` are cut. Interrupting a call (the client left) aborts it, and the SDK sends
 *   the server its cancellation.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Config } from "../config/Config.js"
import type { McpServerEntry } from "../config/ConfigFile.js"
import { allowsTool, mayUseServer, type ToolPolicy } from "../domain/Agent.js"
import * as Metrics from "../ops/Metrics.js"
import * as Telemetry from "../ops/Telemetry.js"

/** A server's tool as an agent's model is offered it. */
export interface ServerTool {
  /** The name the model sees and calls: `<server>__<tool>`, made a valid function name. */
  readonly name: string
  readonly server: string
  /** The tool's own name on its server. */
  readonly tool: string
  readonly description: string | undefined
  /** The JSON Schema of its arguments, as the server gives it. */
  readonly parameters: { readonly [key: string]: unknown }
}

/** What a call gave the model: the result's text, and whether it is an error. */
export interface ToolOutcome {
  readonly ok: boolean
  readonly text: string
}

/** `<server>__<tool>` as a function name: other characters become `_`, cut at 64. */
export const exposedName = (server: string, tool: string) =>
  `${server}__${tool}`.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64)

interface McpTool {
  readonly name: string
  readonly description?: string | undefined
  readonly inputSchema: { readonly [key: string]: unknown }
}

interface Connection {
  readonly client: Client
  readonly tools: ReadonlyArray<McpTool>
  /** Ends the session (over streamable HTTP, telling the server so) and closes the connection. */
  readonly end: () => Promise<void>
  /** Set when the transport closed (the server died): the next use connects again. */
  closed: boolean
}

const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error)

/**
 * The SDK's client and transports, loaded on first use: a gateway without MCP servers never loads
 * them (they would more than double what every start-up reads).
 */
const loadSdk = Effect.promise(() =>
  Promise.all([
    import("@modelcontextprotocol/sdk/client/index.js"),
    import("@modelcontextprotocol/sdk/client/sse.js"),
    import("@modelcontextprotocol/sdk/client/stdio.js"),
    import("@modelcontextprotocol/sdk/client/streamableHttp.js")
  ])
).pipe(Effect.map(([client, sse, stdio, http]) => ({ ...client, ...sse, ...stdio, ...http })))
type Sdk = Effect.Effect.Success<typeof loadSdk>

const transportFor = (sdk: Sdk, server: McpServerEntry): Transport => {
  if (server.command !== undefined) {
    return new sdk.StdioClientTransport({
      command: server.command,
      args: [...server.args ?? []],
      // The SDK's safe default environment (PATH, HOME, ...), not the gateway's secrets.
      env: { ...sdk.getDefaultEnvironment(), ...server.env },
      ...(server.cwd !== undefined && { cwd: server.cwd }),
      // The server's own stderr is not mixed into the gateway's log lines.
      stderr: "ignore"
    })
  }
  const url = new URL(server.url ?? "")
  const requestInit = { headers: { ...server.headers } }
  return server.transport === "sse"
    ? new sdk.SSEClientTransport(url, { requestInit })
    : new sdk.StreamableHTTPClientTransport(url, { requestInit })
}

/** Whether the server's `toolFilter` offers the tool. */
const offered = (server: McpServerEntry, tool: string) =>
  (server.toolFilter?.include === undefined || server.toolFilter.include.includes(tool)) &&
  !(server.toolFilter?.exclude ?? []).includes(tool)

/** A tool result as text: its text parts, a placeholder for others, the structured content otherwise. */
const textOf = (result: { readonly [key: string]: unknown }): string => {
  const parts: ReadonlyArray<unknown> = Array.isArray(result.content) ? result.content : []
  if (parts.length === 0 && result.structuredContent !== undefined) return JSON.stringify(result.structuredContent)
  return parts.map((part) => {
    if (typeof part !== "object" || part === null || !("type" in part)) return ""
    if (part.type === "text" && "text" in part) return String(part.text)
    if (part.type === "resource" && "resource" in part && typeof part.resource === "object" && part.resource !== null) {
      return "text" in part.resource
        ? String(part.resource.text)
        : "uri" in part.resource
        ? String(part.resource.uri)
        : ""
    }
    return `[${String(part.type)}]`
  }).join("\n")
}

const decodeArguments = Schema.decodeUnknownEither(
  Schema.parseJson(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
)

const capped = (text: string, max: number) =>
  text.length <= max ? text : `${text.slice(0, max)}\n[result cut: ${text.length} characters, at most ${max} are kept]`

/** How long a server that failed to connect is left alone before it is tried again. */
export const RETRY_AFTER_MS = 5_000

const make = Effect.gen(function*() {
  const settings = yield* Config
  const servers = Object.entries(settings.mcpServers).filter(([, server]) => server.enabled)
  const connections = new Map<string, Connection>()
  const sdk = yield* Effect.cached(loadSdk)
  /** One connection attempt at a time per server: concurrent runs share it. */
  const locks = new Map(servers.map(([name]) => [name, Effect.unsafeMakeSemaphore(1)]))

  yield* Effect.addFinalizer(() =>
    Effect.forEach(
      connections.values(),
      (connection) => Effect.promise(connection.end),
      {
        discard: true,
        concurrency: "unbounded"
      }
    )
  )

  /** Connects to the server and lists its tools, within its connection timeout. */
  const open = (name: string, server: McpServerEntry) =>
    Effect.flatMap(sdk, (sdk) => {
      const client = new sdk.Client({ name: "clawgate", version: "0.1.0" })
      return Effect.tryPromise({
        try: async (signal) => {
          const options = { signal, timeout: server.connectionTimeoutMs }
          const transport = transportFor(sdk, server)
          await client.connect(transport, options)
          const tools: Array<McpTool> = []
          let cursor: string | undefined
          do {
            const page = await client.listTools(cursor === undefined ? undefined : { cursor }, options)
            tools.push(...page.tools)
            cursor = page.nextCursor
          } while (cursor !== undefined)
          return { transport, tools }
        },
        catch: messageOf
      }).pipe(
        // Failed, timed out or given up: what was opened of the connection is closed, in the
        // background (a stdio server that does not stop is given seconds to).
        Effect.onError(() => Effect.sync(() => void client.close().catch(() => undefined))),
        Effect.map(({ tools, transport }) => {
          const end = async () => {
            if (transport instanceof sdk.StreamableHTTPClientTransport) {
              await transport.terminateSession().catch(() => undefined)
            }
            await client.close().catch(() => undefined)
          }
          const connection: Connection = { client, tools, end, closed: false }
          client.onclose = () => {
            connection.closed = true
          }
          return connection
        })
      )
    }).pipe(
      Effect.timeoutFail({ duration: server.connectionTimeoutMs, onTimeout: () => "the connection timed out" }),
      Effect.tapError((problem) => Effect.logWarning(`MCP server "${name}" cannot be reached: ${problem}`))
    )

  /** When each server last failed to connect: it is not tried again for RETRY_AFTER_MS. */
  const failedAt = new Map<string, number>()

  /**
   * The server's live connection: the current one, or a new one if it has none or it closed (not
   * within RETRY_AFTER_MS of a failed attempt, so that an unreachable server does not hold up
   * every run for its connection timeout).
   */
  const connection = (name: string, server: McpServerEntry) =>
    locks.get(name)!.withPermits(1)(Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const current = connections.get(name)
      if (current !== undefined && !current.closed) return Effect.succeed(current)
      const failed = failedAt.get(name)
      if (failed !== undefined && now - failed < RETRY_AFTER_MS) {
        return Effect.fail(`it could not be reached ${now - failed} ms ago`)
      }
      return open(name, server).pipe(
        Effect.tap((fresh) => Effect.sync(() => connections.set(name, fresh))),
        Effect.tapError(() => Effect.sync(() => failedAt.set(name, now)))
      )
    }))

  // Servers an agent may use are started with the gateway (in the background), so that a first
  // run does not wait for them and a server that cannot start says so at once.
  yield* Effect.forkScoped(Effect.forEach(
    servers.filter(([name]) =>
      settings.agents.some((agent) => agent.tools !== undefined && mayUseServer(agent.tools, name))
    ),
    ([name, server]) => Effect.ignore(connection(name, server)),
    { concurrency: "unbounded", discard: true }
  ))

  const tools = (policy: ToolPolicy) =>
    Effect.map(
      Effect.forEach(
        servers.filter(([name]) => mayUseServer(policy, name)),
        ([name, server]) =>
          Effect.match(connection(name, server), {
            onFailure: () => [],
            onSuccess: ({ tools }) =>
              tools.filter((tool) => offered(server, tool.name) && allowsTool(policy, name, tool.name)).map(
                (tool): ServerTool => ({
                  name: exposedName(name, tool.name),
                  server: name,
                  tool: tool.name,
                  description: tool.description,
                  parameters: tool.inputSchema
                })
              )
          }),
        { concurrency: "unbounded" }
      ),
      (lists) => {
        // Two tools whose names come out the same once made function names: the first is kept.
        const seen = new Set<string>()
        return lists.flat().filter((tool) => !seen.has(tool.name) && seen.add(tool.name))
      }
    )

  const callUntraced = (tool: ServerTool, args: string) =>
    Effect.gen(function*() {
      // The tool came from `tools`, so its server is configured.
      const server = settings.mcpServers[tool.server]!
      const parsed = decodeArguments(args.trim() === "" ? "{}" : args)
      if (Either.isLeft(parsed)) return { ok: false, text: "The tool's arguments must be a JSON object." }
      const started = yield* Clock.currentTimeMillis
      const outcome = yield* connection(tool.server, server).pipe(
        Effect.mapError((problem) => `The tool's server cannot be reached (${problem}).`),
        Effect.flatMap(({ client }) =>
          Effect.tryPromise({
            try: (signal) =>
              client.callTool({ name: tool.tool, arguments: parsed.right }, undefined, {
                signal,
                timeout: server.requestTimeoutMs
              }),
            catch: (error) => `The tool call failed: ${messageOf(error)}`
          })
        ),
        Effect.match({
          onFailure: (text): ToolOutcome => ({ ok: false, text }),
          onSuccess: (result): ToolOutcome => ({
            ok: result.isError !== true,
            text: capped(textOf(result), server.maxResultChars)
          })
        })
      )
      Metrics.recordToolCall(tool.server, tool.tool, outcome.ok, (yield* Clock.currentTimeMillis) - started)
      return outcome
    })

  return McpServers.of({
    tools,
    call: (tool, args) => Telemetry.traced("Mcp.call")(callUntraced(tool, args))
  })
})

export class McpServers extends Context.Tag("clawgate/McpServers")<McpServers, {
  /** The tools the policy lets an agent call, of the servers that can be reached now. */
  readonly tools: (policy: ToolPolicy) => Effect.Effect<ReadonlyArray<ServerTool>>
  /** Calls the tool with its arguments (JSON text); never fails: a failure is an error result. */
  readonly call: (tool: ServerTool, args: string) => Effect.Effect<ToolOutcome>
}>() {
  /** The servers of `mcp.servers`, connected on first use and closed with the layer. */
  static readonly layer = Layer.scoped(McpServers, make)
}

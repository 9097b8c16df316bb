/**
 * An agent as the gateway runs it: its model, its system prompt and the defaults and caps of its
 * runs, resolved from `agents.defaults` and `agents.list` (see config/Settings.ts).
 */
import type { ModelKind } from "./Capabilities.js"
import type { Sampling } from "./Sampling.js"

export interface Agent {
  readonly id: string
  readonly name: string | undefined
  /** `echo` or `<provider>/<model>`. */
  readonly model: string
  /** The kind of model that is: `echo`, or the api of its provider. */
  readonly kind: ModelKind
  readonly systemPrompt: string | undefined
  readonly firstTokenTimeoutMs: number
  /** Defaults for its runs; a request's own values win. */
  readonly sampling: Sampling
  /** Caps on what a request may ask for. */
  readonly limits: { readonly maxTokens?: number | undefined }
  /** The MCP servers' tools it may call (absent: none, and its runs are exactly as without MCP). */
  readonly tools: ToolPolicy | undefined
  /** Model calls one run may make while it uses server tools. */
  readonly maxSteps: number
  /** Whether a request may ask to see its server tools' activity. */
  readonly toolEvents: boolean
}

/**
 * Server tools by name, `<server>.<tool>`, or pattern: `<server>.*`, `*`. A tool is allowed when
 * `allow` matches it and `deny` does not.
 */
export interface ToolPolicy {
  readonly allow: ReadonlyArray<string>
  readonly deny: ReadonlyArray<string>
}

const matches = (pattern: string, server: string, tool: string) =>
  pattern === "*" || pattern === `${server}.*` || pattern === `${server}.${tool}`

/** Whether the policy lets the agent call `tool` of `server`. */
export const allowsTool = (policy: ToolPolicy, server: string, tool: string): boolean =>
  policy.allow.some((pattern) => matches(pattern, server, tool)) &&
  !policy.deny.some((pattern) => matches(pattern, server, tool))

/** Whether the policy may allow some tool of `server` (so that the server is worth asking). */
export const mayUseServer = (policy: ToolPolicy, server: string): boolean =>
  policy.allow.some((pattern) => pattern === "*" || pattern.startsWith(`${server}.`)) &&
  !policy.deny.includes("*") && !policy.deny.includes(`${server}.*`)

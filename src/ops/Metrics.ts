/**
 * The gateway's metrics, on Effect's `Metric`. They live in Effect's global registry and are always
 * recorded (a counter bump costs next to nothing); `GET /metrics` (http/MetricsEndpoint.ts) exports
 * them when `gateway.metrics.enabled`.
 *
 * Labels stay bounded: `route` is the route pattern (never the raw path), `agent` a configured agent
 * id (or `-` before a request is routed), `provider` the `<provider>` of the agent's model, `key`
 * a configured API key's id.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import * as Scope from "effect/Scope"
import { type Settings, splitModel } from "../config/Settings.js"
import type { Usage } from "../domain/AgentEvent.js"

// ---------------------------------------------------------------------------------------------
// The metrics
// ---------------------------------------------------------------------------------------------

/** Seconds, from a fast answer to a long stream. */
const seconds = MetricBoundaries.fromIterable([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120])

export const requests = Metric.counter("clawgate_http_requests_total", {
  description: "HTTP requests answered, by route pattern, status and agent",
  incremental: true
})

export const requestDuration = Metric.histogram(
  "clawgate_http_request_duration_seconds",
  seconds,
  "Time to answer a request (for a stream, until its end), by route pattern and agent"
)

export const timeToFirstToken = Metric.histogram(
  "clawgate_time_to_first_token_seconds",
  seconds,
  "From the start of a streamed answer to the agent's first content (text or a tool call), by agent"
)

export const activeStreams = Metric.gauge("clawgate_active_streams", {
  description: "Streamed answers in progress"
})

export const inputTokens = Metric.counter("clawgate_provider_input_tokens_total", {
  description: "Prompt tokens the providers reported, by agent and provider",
  incremental: true
})

export const outputTokens = Metric.counter("clawgate_provider_output_tokens_total", {
  description: "Completion tokens the providers reported, by agent and provider",
  incremental: true
})

export const keyRequests = Metric.counter("clawgate_key_requests_total", {
  description: "HTTP requests answered for an API key (gateway.auth.keys), by key id and status",
  incremental: true
})

export const keyTokens = Metric.counter("clawgate_key_tokens_total", {
  description: "Tokens the runs of an API key used, by key id and kind (input, output)",
  incremental: true
})

export const authFailures = Metric.counter("clawgate_auth_failures_total", {
  description: "Requests to the API endpoints with a missing or wrong bearer secret",
  incremental: true
})

export const authLockouts = Metric.counter("clawgate_auth_lockouts_total", {
  description: "Client IPs locked out after too many failed attempts",
  incremental: true
})

export const runsQueued = Metric.gauge("clawgate_runs_queued", {
  description: "Agent runs waiting for the run before them on their session"
})

export const toolCalls = Metric.counter("clawgate_mcp_tool_calls_total", {
  description: "Calls of MCP server tools, by server, tool and outcome (ok, error)",
  incremental: true
})

export const toolCallDuration = Metric.histogram(
  "clawgate_mcp_tool_call_duration_seconds",
  seconds,
  "Time an MCP server tool call took, by server and tool"
)

/** The unlabelled metrics, so that they are exported (at zero) before anything happens. */
export const touchUnlabelled = Effect.all([
  Metric.modify(activeStreams, 0),
  Metric.modify(runsQueued, 0),
  Metric.incrementBy(authFailures, 0),
  Metric.incrementBy(authLockouts, 0)
], { discard: true })

// ---------------------------------------------------------------------------------------------
// Recording
// ---------------------------------------------------------------------------------------------

/**
 * The labels of a label set, made once per set of values: Effect caches each metric's hook by the
 * identity of its labels' array, so that recording with the same array costs no key to build and
 * look up. The label values are bounded (see above), and so is this map.
 */
const labelSets = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
const labelsOf = (labels: Readonly<Record<string, string>>) => {
  const key = Object.entries(labels).flat().join("\u0000")
  let set = labelSets.get(key)
  if (set === undefined) {
    set = Object.entries(labels).map(([name, value]) => MetricLabel.make(name, value))
    labelSets.set(key, set)
  }
  return set
}

/** The provider behind an agent: `echo`, or the `<provider>` of its `<provider>/<model>`. */
const providerOf = (settings: Settings, agentId: string) => {
  const model = settings.agents.find((agent) => agent.id === agentId)?.model
  return model === undefined ? "-" : model === "echo" ? "echo" : splitModel(model)[0]
}

/**
 * Records an answered request (a stream once it has ended): its count and duration, and the tokens
 * of its run if it had one. Done at the end of each request, so it is a plain function: no Effect
 * and no metric key built per call.
 */
export const recordRequest = (
  settings: Settings,
  answer: {
    readonly route: string
    readonly status: number
    readonly agentId: string | undefined
    /** The API key's id; undefined for the gateway's own secret (then no key metric is touched). */
    readonly keyId: string | undefined
    readonly usage: Usage | undefined
    readonly durationMs: number
  }
) => {
  const agent = answer.agentId ?? "-"
  requests.unsafeUpdate(1, labelsOf({ route: answer.route, status: String(answer.status), agent }))
  requestDuration.unsafeUpdate(Math.max(0, answer.durationMs) / 1000, labelsOf({ route: answer.route, agent }))
  const usage = answer.usage
  if (usage !== undefined && answer.agentId !== undefined) {
    const labels = labelsOf({ agent, provider: providerOf(settings, answer.agentId) })
    inputTokens.unsafeUpdate(usage.promptTokens, labels)
    outputTokens.unsafeUpdate(usage.completionTokens, labels)
  }
  if (answer.keyId !== undefined) {
    keyRequests.unsafeUpdate(1, labelsOf({ key: answer.keyId, status: String(answer.status) }))
    if (usage !== undefined) {
      keyTokens.unsafeUpdate(usage.promptTokens, labelsOf({ key: answer.keyId, kind: "input" }))
      keyTokens.unsafeUpdate(usage.completionTokens, labelsOf({ key: answer.keyId, kind: "output" }))
    }
  }
}

/**
 * Records a call of an MCP server's tool: its count by outcome and its duration. The labels are
 * bounded: configured servers, and the tools they list.
 */
export const recordToolCall = (server: string, tool: string, ok: boolean, durationMs: number) => {
  toolCalls.unsafeUpdate(1, labelsOf({ server, tool, outcome: ok ? "ok" : "error" }))
  toolCallDuration.unsafeUpdate(Math.max(0, durationMs) / 1000, labelsOf({ server, tool }))
}

/** Starts timing a streamed answer: the effect it gives records the time to its first content. */
export const timeToFirstContent = (agent: string) =>
  Effect.map(
    Clock.currentTimeNanos,
    (started) =>
      Effect.map(Clock.currentTimeNanos, (now) =>
        timeToFirstToken.unsafeUpdate(Number(now - started) / 1e9, labelsOf({ agent })))
  )

/** Counts a streamed answer as active until the scope (the request's) closes. */
export const activeStream = Effect.zipRight(
  Metric.modify(activeStreams, 1),
  Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, Metric.modify(activeStreams, -1)))
)

/** Counts a run as queued while it waits for its turn. */
export const queued = <A, E, R>(wait: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(Metric.modify(runsQueued, 1), () => wait, () => Metric.modify(runsQueued, -1))

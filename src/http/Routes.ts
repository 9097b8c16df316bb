/**
 * The gateway's routes in one table: each one's path pattern and methods, whether the config
 * serves it, and whether it answers while the gateway drains. The router registers the handlers at
 * these patterns; the request-wide middleware reads the table for its 404 / 405 answers, for what
 * still answers during a drain, and for the metrics' `route` label (the pattern, never the raw path).
 */
import type { PathInput } from "@effect/platform/HttpRouter"
import { servesOpenAi, type Settings } from "../config/Settings.js"

export interface Route {
  /** As the router takes it: `/v1/models/:id` (a `:name` segment is any one non-empty segment). */
  readonly pattern: PathInput
  readonly methods: ReadonlyArray<"GET" | "POST" | "DELETE">
  /** Whether the config serves it. */
  readonly served: (settings: Settings) => boolean
  /**
   * What a request gets when the config does not serve it: `disabled`, 404 `endpoint_disabled`
   * naming the switch (an OpenAI endpoint turned off); `unknown`, the plain 404 of an unknown path.
   */
  readonly whenOff: "disabled" | "unknown"
  /** The switch a `disabled` route names (Chat Completions when absent). */
  readonly endpoint?: "responses"
  /** Still answered while the gateway drains (probes and scrapes); every other route gets 503. */
  readonly whileDraining: boolean
}

const chatCompletionsEnabled = (settings: Settings) => settings.chatCompletions.enabled
const always = () => true

export const chatCompletions: Route = {
  pattern: "/v1/chat/completions",
  methods: ["POST"],
  served: chatCompletionsEnabled,
  whenOff: "disabled",
  whileDraining: false
}

export const responses: Route = {
  pattern: "/v1/responses",
  methods: ["POST"],
  served: (settings) => settings.responses.enabled,
  whenOff: "disabled",
  endpoint: "responses",
  whileDraining: false
}

/** A stored response: read it, or delete it. */
export const response: Route = { ...responses, pattern: "/v1/responses/:id", methods: ["GET", "DELETE"] }

/** One list for both OpenAI endpoints: served when either is. */
export const models: Route = {
  pattern: "/v1/models",
  methods: ["GET"],
  served: servesOpenAi,
  whenOff: "disabled",
  whileDraining: false
}

export const model: Route = { ...models, pattern: "/v1/models/:id" }

/** The sessions API: behind the same switch and auth as Chat Completions. */
export const sessions: Route = { ...models, pattern: "/v1/sessions" }

export const session: Route = { ...models, pattern: "/v1/sessions/:key", methods: ["GET", "DELETE"] }

export const sessionReset: Route = { ...models, pattern: "/v1/sessions/:key/reset", methods: ["POST"] }

/** The chat page and its two files, with `gateway.http.ui.enabled`; otherwise unknown paths. */
export const uiPage: Route = {
  pattern: "/",
  methods: ["GET"],
  served: (settings) => settings.ui.enabled,
  whenOff: "unknown",
  whileDraining: false
}

export const uiScript: Route = { ...uiPage, pattern: "/ui/app.js" }

export const uiStyle: Route = { ...uiPage, pattern: "/ui/app.css" }

export const healthz: Route = {
  pattern: "/healthz",
  methods: ["GET"],
  served: always,
  whenOff: "unknown",
  whileDraining: true
}

export const readyz: Route = { ...healthz, pattern: "/readyz" }

export const metrics: Route = {
  pattern: "/metrics",
  methods: ["GET"],
  served: (settings) => settings.metrics.enabled,
  whenOff: "unknown",
  whileDraining: true
}

export const all: ReadonlyArray<Route> = [
  chatCompletions,
  responses,
  response,
  models,
  model,
  sessions,
  session,
  sessionReset,
  uiPage,
  uiScript,
  uiStyle,
  healthz,
  readyz,
  metrics
]

const segmentsOf = (path: string) => path.split("/")

const matches = (route: Route, segments: ReadonlyArray<string>) => {
  const pattern = segmentsOf(route.pattern)
  return pattern.length === segments.length &&
    pattern.every((part, i) => part.startsWith(":") ? segments[i] !== "" : part === segments[i])
}

/** The path of a request URL: without its query string. */
export const pathOf = (url: string) => url.split("?", 1)[0] ?? url

/** The route a request URL is for, if any. */
export const match = (url: string): Route | undefined => {
  const segments = segmentsOf(pathOf(url))
  return all.find((route) => matches(route, segments))
}

/**
 * The one log line of each request: its id, method, path, status, agent, session (as a short
 * hash), duration, tokens and, when it failed, why.
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"
import * as LogLevel from "effect/LogLevel"
import * as Crypto from "node:crypto"
import { keyIdOf, type RequestFacts } from "./CurrentRequest.js"
import { pathOf } from "./Routes.js"

/** Session keys can name people (`user`): the log keeps a short hash, enough to follow a session. */
const hashOf = (sessionKey: string) => Crypto.createHash("sha256").update(sessionKey).digest("hex").slice(0, 16)

/**
 * Logs the line. Its fields are added to the fiber's log annotations and left there: the request's
 * fiber ends with its answer, and a scoped `annotateLogs` would cost each request a region and a
 * structural comparison of the annotations on leaving it.
 */
export const logRequest = (
  request: HttpServerRequest.HttpServerRequest,
  current: RequestFacts,
  durationMs: number,
  status: number
) =>
  Effect.zipRight(
    FiberRef.update(FiberRef.currentLogAnnotations, (annotations) =>
      HashMap.mutate(annotations, (fields) => {
        for (const [key, value] of Object.entries(fieldsOf(request, current, durationMs, status))) {
          HashMap.set(fields, key, value)
        }
      })),
    Effect.logWithLevel(status >= 500 ? LogLevel.Error : LogLevel.Info, "request")
  )

const fieldsOf = (
  request: HttpServerRequest.HttpServerRequest,
  current: RequestFacts,
  durationMs: number,
  status: number
): Record<string, unknown> => ({
  requestId: current.id,
  method: request.method,
  path: pathOf(request.url),
  status,
  agent: current.agentId ?? "-",
  // The API key's id, never its token; absent for the gateway's own secret.
  ...keyOf(current),
  session: current.sessionKey === undefined ? "-" : hashOf(current.sessionKey),
  durationMs,
  ...(current.usage && {
    promptTokens: current.usage.promptTokens,
    completionTokens: current.usage.completionTokens
  }),
  ...(current.tools && { tools: current.tools.join(",") }),
  ...failure(current.error)
})

const keyOf = (current: RequestFacts) => {
  const key = keyIdOf(current)
  return key === undefined ? {} : { key }
}

/** The log's view of a failure: its tag, and for provider failures what the provider said. */
const failure = (error: RequestFacts["error"]) => {
  if (error === undefined || error === "Defect") return { error: error ?? "-" }
  switch (error._tag) {
    case "ProviderFailed":
      return { error: error._tag, provider: error.provider, detail: error.detail }
    case "ProviderUnreachable":
      return { error: error._tag, provider: error.provider, detail: String(error.cause) }
    default:
      return { error: error._tag }
  }
}

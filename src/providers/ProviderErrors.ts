/**
 * The one translation from @effect/ai failures to the gateway's provider errors. Provider text
 * stays in `detail`, which is logged and never sent to clients.
 */
import * as AiError from "@effect/ai/AiError"
import type { AgentError } from "../domain/Errors.js"
import { ProviderAuthRejected, ProviderFailed, ProviderRateLimited, ProviderUnreachable } from "../domain/Errors.js"

/** `Retry-After` as seconds: a number of seconds or an HTTP date. */
export const retryAfterSeconds = (header: string | undefined, now: number): number | undefined => {
  if (header === undefined) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds)) return Math.max(0, seconds)
  const date = Date.parse(header)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000))
}

/**
 * Only text that cannot carry the gateway's credentials goes into the result: @effect/ai errors
 * keep the platform request (with its auth headers) as their cause, and a response whose body
 * could not be read carries that request as its "body".
 */
export const fromAiError = (provider: string, error: AiError.AiError, now: number): AgentError => {
  switch (error._tag) {
    case "HttpRequestError":
      // No answer came at all. An answer whose body fails after its head (the connection closed
      // before the first token) is an HttpResponseError ("Decode"): the provider was reached.
      return error.reason === "Transport"
        ? new ProviderUnreachable({ provider, cause: error.description ?? error.reason })
        : new ProviderFailed({ provider, detail: `${error.reason}: ${error.description ?? "request failed"}` })
    case "HttpResponseError": {
      const status = error.response.status
      if (status === 401 || status === 403) return new ProviderAuthRejected({ provider })
      if (status === 429) {
        const retryAfter = retryAfterSeconds(error.response.headers["retry-after"], now)
        return new ProviderRateLimited({ provider, ...(retryAfter !== undefined && { retryAfterSeconds: retryAfter }) })
      }
      const said = error.reason === "StatusCode" && error.body !== undefined ? `: ${error.body.slice(0, 2_000)}` : ""
      return new ProviderFailed({ provider, detail: `HTTP ${status} (${error.reason})${said}`, status })
    }
    case "MalformedInput":
    case "MalformedOutput":
    case "UnknownError":
      return new ProviderFailed({ provider, detail: error.message })
  }
}

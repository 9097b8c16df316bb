/**
 * The translations of a provider's failures to the gateway's provider errors: an HTTP status
 * answered, and the failures of the @effect/ai libraries. Provider text stays in `detail`, which
 * is logged and never sent to clients.
 */
import * as AiError from "@effect/ai/AiError"
import * as Either from "effect/Either"
import type { AgentError } from "../domain/Errors.js"
import { ProviderAuthRejected, ProviderFailed, ProviderRateLimited, ProviderUnreachable } from "../domain/Errors.js"

/** An answer, or an event of a stream, that is not of the API's shape. */
export const malformed = (provider: string, what: string, error: unknown) =>
  new ProviderFailed({ provider, detail: `${provider} answered with ${what}: ${String(error)}` })

/** A stream that ended before its answer did. */
export const cutShort = (provider: string) =>
  new ProviderFailed({ provider, detail: `${provider} ended the stream before the answer was finished` })

/** A failure the provider reported in-band, mid-stream: its message when it has one. */
export const failedMidStream = (provider: string, error: unknown) =>
  new ProviderFailed({
    provider,
    detail: `${provider} failed mid-stream: ${
      typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
        ? error.message
        : typeof error === "string"
        ? error
        : JSON.stringify(error) ?? String(error)
    }`
  })

const isJson = (text: string) => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** A tool call's arguments (none at all: `{}`); arguments that are not JSON are the provider's fault. */
export const toolArguments = (provider: string, name: string, text: string): Either.Either<string, ProviderFailed> =>
  text.trim() === ""
    ? Either.right("{}")
    : isJson(text)
    ? Either.right(text)
    : Either.left(
      new ProviderFailed({ provider, detail: `${provider} sent arguments for the tool '${name}' that are not JSON` })
    )

/** `Retry-After` as seconds: a number of seconds or an HTTP date. */
export const retryAfterSeconds = (header: string | undefined, now: number): number | undefined => {
  if (header === undefined) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds)) return Math.max(0, seconds)
  const date = Date.parse(header)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000))
}

/** The error for a status a provider answered with (not 2xx), with its body's text for the log. */
export const fromStatus = (
  provider: string,
  answer: { readonly status: number; readonly retryAfter: string | undefined; readonly said: string | undefined },
  now: number
): AgentError => {
  const { said, status } = answer
  if (status === 401 || status === 403) return new ProviderAuthRejected({ provider })
  if (status === 429) {
    const retryAfter = retryAfterSeconds(answer.retryAfter, now)
    return new ProviderRateLimited({ provider, ...(retryAfter !== undefined && { retryAfterSeconds: retryAfter }) })
  }
  return new ProviderFailed({
    provider,
    detail: `HTTP ${status}${said === undefined ? "" : `: ${said.slice(0, 2_000)}`}`,
    status
  })
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
    case "HttpResponseError":
      return error.reason === "StatusCode"
        ? fromStatus(provider, {
          status: error.response.status,
          retryAfter: error.response.headers["retry-after"],
          said: error.body
        }, now)
        : new ProviderFailed({
          provider,
          detail: `HTTP ${error.response.status}, then ${error.description ?? "its body could not be read"}`,
          status: error.response.status
        })
    case "MalformedInput":
    case "MalformedOutput":
    case "UnknownError":
      return new ProviderFailed({ provider, detail: error.message })
  }
}

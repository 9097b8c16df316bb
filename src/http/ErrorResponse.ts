/**
 * The one mapping from errors to OpenAI-style answers. `Match.valueTags` makes it exhaustive:
 * an error added to the catalogue does not compile until it has an answer here.
 * 5xx answers never carry internals, only a fixed text and the request id.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Match from "effect/Match"
import { type GatewayError } from "../domain/Errors.js"
import { excerpt, quote } from "../domain/Quote.js"
import type { ErrorBody } from "./chat/ChatCompletionsWire.js"

export interface ErrorAnswer {
  readonly status: number
  readonly body: ErrorBody
  readonly headers: Readonly<Record<string, string>>
}

const answer = (
  status: number,
  type: string,
  code: string | null,
  message: string,
  options: { readonly param?: string | null; readonly headers?: Record<string, string> } = {}
): ErrorAnswer => ({
  status,
  body: { error: { message, type, param: options.param ?? null, code } },
  headers: options.headers ?? {}
})

const retryAfter = (seconds: number | undefined): Record<string, string> =>
  seconds === undefined ? {} : { "retry-after": String(Math.max(1, Math.ceil(seconds))) }

export const describe = (error: GatewayError, requestId: string): ErrorAnswer => {
  const server = (status: number, code: string, what: string) =>
    answer(status, "server_error", code, `${what} (request id ${requestId})`)
  return Match.valueTags(error, {
    EndpointDisabled: ({ endpoint = "chatCompletions" }) =>
      answer(
        404,
        "invalid_request_error",
        "endpoint_disabled",
        `The ${endpoint === "responses" ? "Responses" : "Chat Completions"} endpoint is disabled. Enable it in ` +
          `the gateway config: gateway.http.endpoints.${endpoint}.enabled: true`
      ),
    RouteNotFound: ({ method, path }) =>
      answer(404, "invalid_request_error", "not_found", `Unknown request URL: ${method} ${excerpt(path)}`),
    MethodNotAllowed: ({ allow, method }) =>
      answer(
        405,
        "invalid_request_error",
        "method_not_allowed",
        `Method ${method} is not allowed here; use ${allow.join(", ")}.`,
        { headers: { allow: allow.join(", ") } }
      ),
    Unauthorized: () =>
      answer(401, "unauthorized", "invalid_api_key", "Unauthorized", { headers: { "www-authenticate": "Bearer" } }),
    AuthRateLimited: ({ retryAfterSeconds }) =>
      answer(
        429,
        "rate_limited",
        "too_many_failed_auth_attempts",
        `Too many failed authentication attempts. Retry after ${retryAfterSeconds} seconds.`,
        { headers: retryAfter(retryAfterSeconds) }
      ),
    KeyRateLimited: ({ keyId, limit, retryAfterMs }) =>
      answer(
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        `Rate limit reached for API key '${keyId}' on ${limit} per minute. ` +
          `Retry after ${Math.ceil(retryAfterMs / 1000)} seconds.`,
        // The openai SDKs read retry-after-ms first: a retry as soon as the key may go on.
        { headers: { ...retryAfter(retryAfterMs / 1000), "retry-after-ms": String(retryAfterMs) } }
      ),
    MalformedHttp: ({ detail }) =>
      answer(400, "invalid_request_error", "malformed_request", `The request is not valid HTTP: ${detail}.`),
    HeadersTooLarge: () =>
      answer(431, "invalid_request_error", "headers_too_large", "The request's headers are too large."),
    RequestTimeout: () =>
      answer(408, "invalid_request_error", "request_timeout", "The request did not arrive in time."),
    PayloadTooLarge: ({ maxBytes }) =>
      answer(
        413,
        "invalid_request_error",
        "payload_too_large",
        `Payload too large: the request body is over the limit of ${maxBytes} bytes.`
      ),
    UnsupportedContentEncoding: ({ encoding, supported }) =>
      answer(
        415,
        "invalid_request_error",
        "unsupported_content_encoding",
        `Unsupported Content-Encoding ${quote(encoding)}: send the body uncompressed, or compressed with one ` +
          `of ${supported.join(", ")}.`,
        { headers: { "accept-encoding": supported.join(", ") } }
      ),
    InvalidJson: ({ message }) =>
      answer(400, "invalid_request_error", "invalid_json", `The request body is not valid JSON: ${message}`),
    InvalidRequest: ({ message, param }) => answer(400, "invalid_request_error", null, message, { param }),
    AgentNotFound: ({ agentId, known }) =>
      answer(
        404,
        "invalid_request_error",
        "model_not_found",
        `The agent '${agentId}' does not exist. Known agents: ${known.join(", ")}.`,
        { param: "model" }
      ),
    PreviousResponseNotFound: ({ id }) =>
      answer(
        404,
        "invalid_request_error",
        "previous_response_not_found",
        `Previous response with id '${excerpt(id)}' not found.`,
        { param: "previous_response_id" }
      ),
    ResponseNotFound: ({ id }) =>
      answer(404, "invalid_request_error", "response_not_found", `Response with id '${excerpt(id)}' not found.`),
    SessionNotFound: ({ sessionKey }) =>
      answer(404, "invalid_request_error", "session_not_found", `No session ${quote(excerpt(sessionKey))}.`),
    SessionInUse: ({ sessionKey }) =>
      answer(
        409,
        "invalid_request_error",
        "session_in_use",
        `The session ${quote(excerpt(sessionKey))} has a run in flight. Retry once it has ended.`,
        { headers: retryAfter(1) }
      ),
    ProviderUnreachable: () => server(502, "provider_unreachable", "The agent's model provider could not be reached"),
    ProviderAuthRejected: () =>
      server(502, "provider_auth_rejected", "The agent's model provider rejected the gateway's credentials"),
    ProviderRateLimited: ({ retryAfterSeconds }) =>
      answer(
        429,
        "rate_limited",
        "provider_rate_limited",
        "The agent's model provider is rate limiting the gateway. Retry later.",
        { headers: retryAfter(retryAfterSeconds) }
      ),
    ProviderFailed: () => server(502, "provider_error", "The agent's model provider failed"),
    ProviderTimeout: ({ timeoutMs }) =>
      server(504, "provider_timeout", `The agent's model provider did not answer within ${timeoutMs} ms`),
    SessionBusy: () =>
      answer(
        429,
        "rate_limited",
        "session_busy",
        "Too many requests are waiting on this session. Retry when the current ones have finished.",
        { headers: retryAfter(1) }
      ),
    GatewayBusy: ({ maxConcurrentRuns }) =>
      answer(
        429,
        "rate_limited",
        "gateway_busy",
        `The gateway is running its maximum of ${maxConcurrentRuns} agent runs. Retry shortly.`,
        { headers: retryAfter(1) }
      ),
    GatewayShuttingDown: () => ({
      ...server(503, "shutting_down", "The gateway is shutting down"),
      headers: retryAfter(1)
    }),
    SessionStoreUnavailable: () => ({
      ...server(503, "session_store_unavailable", "The session store is unavailable"),
      headers: retryAfter(1)
    })
  })
}

/** For failures that are not in the catalogue: defects. Nothing about them reaches the client. */
export const internal = (requestId: string): ErrorAnswer =>
  answer(500, "server_error", "internal_error", `internal error (request id ${requestId})`)

export const toResponse = ({ body, headers, status }: ErrorAnswer): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(body, { status, headers })

/**
 * An answer as Node writes it outside the router (the server's own answers, the drain's deadline):
 * its status, its headers with the request id and the JSON's length, and the JSON text.
 */
export const toNodeAnswer = (
  { body, headers, status }: ErrorAnswer,
  extraHeaders: Readonly<Record<string, string>> = {}
) => {
  const text = JSON.stringify(body)
  return {
    status,
    text,
    headers: {
      ...headers,
      ...extraHeaders,
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(text))
    }
  }
}

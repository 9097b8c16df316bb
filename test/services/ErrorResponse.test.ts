/**
 * The error catalogue's one mapping to HTTP answers: statuses, types, codes and headers.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  AgentNotFound,
  AuthRateLimited,
  EndpointDisabled,
  type GatewayError,
  InvalidJson,
  InvalidRequest,
  MethodNotAllowed,
  PayloadTooLarge,
  ProviderAuthRejected,
  ProviderFailed,
  ProviderRateLimited,
  ProviderTimeout,
  ProviderUnreachable,
  RouteNotFound,
  Unauthorized
} from "../../src/domain/Errors.js"
import * as ErrorResponse from "../../src/http/ErrorResponse.js"

const REQUEST_ID = "req_0123"

const describeError = (error: GatewayError) => ErrorResponse.describe(error, REQUEST_ID)

/** Status, type, code, param and headers: what a client branches on. */
const shape = (error: GatewayError) => {
  const { body, headers, status } = describeError(error)
  return { status, type: body.error.type, code: body.error.code, param: body.error.param, headers }
}

describe("ErrorResponse.describe: client errors", () => {
  it("EndpointDisabled: 404 that says how to enable the endpoint", () => {
    expect(shape(new EndpointDisabled())).toEqual({
      status: 404,
      type: "invalid_request_error",
      code: "endpoint_disabled",
      param: null,
      headers: {}
    })
    expect(describeError(new EndpointDisabled()).body.error.message).toContain(
      "gateway.http.endpoints.chatCompletions.enabled"
    )
  })

  it("RouteNotFound: 404 naming the method and path", () => {
    const error = new RouteNotFound({ method: "GET", path: "/v1/nothing" })
    expect(shape(error)).toMatchObject({ status: 404, type: "invalid_request_error", code: "not_found", param: null })
    expect(describeError(error).body.error.message).toContain("GET /v1/nothing")
  })

  it("MethodNotAllowed: 405 with Allow", () => {
    expect(shape(new MethodNotAllowed({ method: "GET", allow: ["POST"] }))).toEqual({
      status: 405,
      type: "invalid_request_error",
      code: "method_not_allowed",
      param: null,
      headers: { allow: "POST" }
    })
  })

  it("Unauthorized: 401 Unauthorized / unauthorized with WWW-Authenticate: Bearer", () => {
    const answer = describeError(new Unauthorized())
    expect(answer.status).toBe(401)
    expect(answer.body.error).toMatchObject({ message: "Unauthorized", type: "unauthorized", param: null })
    expect(answer.headers).toEqual({ "www-authenticate": "Bearer" })
  })

  it("AuthRateLimited: 429 rate_limited with Retry-After in whole seconds", () => {
    expect(shape(new AuthRateLimited({ retryAfterSeconds: 300 }))).toEqual({
      status: 429,
      type: "rate_limited",
      code: "too_many_failed_auth_attempts",
      param: null,
      headers: { "retry-after": "300" }
    })
    expect(describeError(new AuthRateLimited({ retryAfterSeconds: 42 })).headers).toEqual({ "retry-after": "42" })
  })

  it("PayloadTooLarge: 413 naming the limit", () => {
    const answer = describeError(new PayloadTooLarge({ maxBytes: 1024 }))
    expect(shape(new PayloadTooLarge({ maxBytes: 1024 }))).toMatchObject({
      status: 413,
      type: "invalid_request_error",
      code: "payload_too_large"
    })
    expect(answer.body.error.message).toContain("1024")
  })

  it("InvalidJson: 400 invalid_json", () => {
    expect(shape(new InvalidJson({ message: "Unexpected token" }))).toMatchObject({
      status: 400,
      type: "invalid_request_error",
      code: "invalid_json",
      param: null
    })
  })

  it("InvalidRequest: 400 with the param it names, and its message", () => {
    const error = new InvalidRequest({ message: "Missing user message in `messages`.", param: "messages" })
    expect(shape(error)).toEqual({
      status: 400,
      type: "invalid_request_error",
      code: null,
      param: "messages",
      headers: {}
    })
    expect(describeError(error).body.error.message).toBe("Missing user message in `messages`.")
    expect(shape(new InvalidRequest({ message: "bad", param: null })).param).toBeNull()
  })

  it("AgentNotFound: 404 model_not_found, param model, listing the known agents", () => {
    const error = new AgentNotFound({ agentId: "nope", known: ["main", "beta"] })
    expect(shape(error)).toEqual({
      status: 404,
      type: "invalid_request_error",
      code: "model_not_found",
      param: "model",
      headers: {}
    })
    const message = describeError(error).body.error.message
    expect(message).toContain("nope")
    expect(message).toContain("main, beta")
  })

  it("ProviderRateLimited: 429 with the provider's Retry-After, rounded up to at least 1 s, or none", () => {
    expect(shape(new ProviderRateLimited({ provider: "openai", retryAfterSeconds: 7 }))).toEqual({
      status: 429,
      type: "rate_limited",
      code: "provider_rate_limited",
      param: null,
      headers: { "retry-after": "7" }
    })
    expect(describeError(new ProviderRateLimited({ provider: "openai", retryAfterSeconds: 1.2 })).headers)
      .toEqual({ "retry-after": "2" })
    expect(describeError(new ProviderRateLimited({ provider: "openai", retryAfterSeconds: 0 })).headers)
      .toEqual({ "retry-after": "1" })
    expect(describeError(new ProviderRateLimited({ provider: "openai" })).headers).toEqual({})
  })
})

describe("ErrorResponse.describe: server errors carry no internals", () => {
  const secretDetail = "upstream said: invalid key sk-live-SECRET at http://10.1.2.3:8080 (stack: at foo.js:1)"

  const cases: ReadonlyArray<readonly [GatewayError, number, string]> = [
    [new ProviderUnreachable({ provider: "openai", cause: new Error(secretDetail) }), 502, "provider_unreachable"],
    [new ProviderAuthRejected({ provider: "openai" }), 502, "provider_auth_rejected"],
    [new ProviderFailed({ provider: "openai", detail: secretDetail }), 502, "provider_error"],
    [new ProviderTimeout({ provider: "openai", timeoutMs: 30_000 }), 504, "provider_timeout"]
  ]

  it("each is server_error with its status and code", () => {
    for (const [error, status, code] of cases) {
      expect(shape(error)).toEqual({ status, type: "server_error", code, param: null, headers: {} })
    }
  })

  it("the message is a fixed text plus the request id: no provider detail, cause or address", () => {
    for (const [error] of cases) {
      const text = JSON.stringify(describeError(error).body)
      expect(text).toContain(`(request id ${REQUEST_ID})`)
      for (const leak of ["sk-live-SECRET", "10.1.2.3", "stack", "upstream said"]) expect(text).not.toContain(leak)
    }
    const timeout = describeError(new ProviderTimeout({ provider: "openai", timeoutMs: 30_000 })).body.error.message
    expect(timeout).toBe(`The agent's model provider did not answer within 30000 ms (request id ${REQUEST_ID})`)
  })

  it("internal: 500 internal error with the request id only", () => {
    expect(ErrorResponse.internal("req_abc")).toEqual({
      status: 500,
      headers: {},
      body: {
        error: {
          message: "internal error (request id req_abc)",
          type: "server_error",
          param: null,
          code: "internal_error"
        }
      }
    })
  })

  it("toResponse carries status, headers and the JSON body", () => {
    const response = ErrorResponse.toResponse(describeError(new MethodNotAllowed({ method: "GET", allow: ["POST"] })))
    expect(response.status).toBe(405)
    expect(response.headers["allow"]).toBe("POST")
    expect(response.body._tag).toBe("Uint8Array")
    if (response.body._tag === "Uint8Array") {
      expect(JSON.parse(new TextDecoder().decode(response.body.body))).toEqual(
        describeError(new MethodNotAllowed({ method: "GET", allow: ["POST"] })).body
      )
    }
  })
})

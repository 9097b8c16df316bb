/**
 * CORS for browser clients, for the origins in `gateway.http.cors.allowedOrigins` only (`"*"`
 * allows any). A preflight is answered before auth; other origins get no CORS headers at all.
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Option from "effect/Option"

/** Request headers a browser client may send: the openai SDK's and the gateway's own. */
const allowedHeader = (name: string, extra: ReadonlyArray<string>) =>
  name === "authorization" || name === "content-type" || name.startsWith("x-stainless-") ||
  name.startsWith("x-clawdbot-") || name.startsWith("x-openclaw-") || name.startsWith("x-clawgate-") ||
  extra.includes(name)

const EXPOSED_HEADERS = "x-request-id, x-clawdbot-session-key"
const PREFLIGHT_MAX_AGE_SECONDS = "600"

export const make = (allowedOrigins: ReadonlyArray<string>, extraHeaders: ReadonlyArray<string>) => {
  const originOf = (request: HttpServerRequest.HttpServerRequest) =>
    Option.fromNullable(request.headers.origin).pipe(
      Option.filter((origin) => allowedOrigins.includes("*") || allowedOrigins.includes(origin))
    )

  return {
    /** The answer to a preflight from an allowed origin. */
    preflight: (request: HttpServerRequest.HttpServerRequest): Option.Option<HttpServerResponse.HttpServerResponse> =>
      request.method !== "OPTIONS" || request.headers["access-control-request-method"] === undefined
        ? Option.none()
        : Option.map(originOf(request), (origin) => {
          const requested = (request.headers["access-control-request-headers"] ?? "")
            .split(",").map((name) => name.trim().toLowerCase()).filter((name) => name.length > 0)
          return HttpServerResponse.empty({
            status: 204,
            headers: {
              "access-control-allow-origin": origin,
              "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
              "access-control-allow-headers": requested.filter((name) => allowedHeader(name, extraHeaders)).join(", "),
              "access-control-max-age": PREFLIGHT_MAX_AGE_SECONDS,
              vary: "Origin"
            }
          })
        }),

    /** The CORS headers of an answer to an allowed origin. */
    decorate:
      (request: HttpServerRequest.HttpServerRequest) =>
      (response: HttpServerResponse.HttpServerResponse): HttpServerResponse.HttpServerResponse =>
        Option.match(originOf(request), {
          onNone: () => response,
          onSome: (origin) =>
            HttpServerResponse.setHeaders(response, {
              "access-control-allow-origin": origin,
              "access-control-expose-headers": EXPOSED_HEADERS,
              vary: "Origin"
            })
        })
  }
}

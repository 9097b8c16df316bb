/**
 * CORS for browser clients over the real loopback server: `gateway.http.cors.allowedOrigins`
 * (none by default, `"*"` any), the preflight answered before auth with the allowed request headers
 * filtered, the exposed headers on JSON answers, streams and errors, and no CORS headers at all for an
 * origin that is not listed. Auth still applies to the real request.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { baseConfig, configWith, testGateway } from "../kit/gateway.js"
import { chat, errorBody, hello, openChat, PATH, send } from "../kit/http.js"
import { sseReader } from "../kit/sse.js"
import { isChunk } from "../kit/wire.js"

const APP = "https://app.example.com"
const OTHER = "https://evil.example.net"

const CORS_HEADERS = [
  "access-control-allow-origin",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-expose-headers",
  "access-control-max-age",
  "access-control-allow-credentials"
]

const corsConfig = (
  allowedOrigins: ReadonlyArray<string> | undefined,
  sessionHeaders: ReadonlyArray<string> = []
): ConfigInput =>
  configWith({
    gateway: {
      ...baseConfig.gateway,
      // No growing delay for the failed-auth request from loopback.
      auth: { ...baseConfig.gateway.auth, rateLimit: { maxAttempts: 1_000, exemptLoopback: false } },
      http: {
        endpoints: { chatCompletions: { enabled: true, sessionHeaders } },
        ...(allowedOrigins !== undefined && { cors: { allowedOrigins } })
      }
    }
  })

const served = (config: ConfigInput) => Effect.provide(testGateway({ config }))

/** A browser's preflight: no Authorization, no body. */
const preflight = (
  path: string,
  origin: string,
  requestHeaders?: string,
  method = "POST"
) =>
  send(path, {
    method: "OPTIONS",
    token: null,
    headers: {
      origin,
      "access-control-request-method": method,
      ...(requestHeaders !== undefined && { "access-control-request-headers": requestHeaders })
    }
  })

/** The names in a comma-separated header, lowercased. */
const names = (value: string | null) =>
  (value ?? "").split(",").map((name) => name.trim().toLowerCase()).filter((name) => name.length > 0)

const corsHeadersOf = (response: Response) =>
  CORS_HEADERS.flatMap((name) => {
    const value = response.headers.get(name)
    return value === null ? [] : [`${name}: ${value}`]
  })

/** What the openai SDK sends, and what a browser app on the gateway would add. */
const SDK_HEADERS = [
  "authorization",
  "content-type",
  "x-stainless-os",
  "x-stainless-lang",
  "x-stainless-package-version",
  "x-stainless-runtime",
  "x-stainless-runtime-version",
  "x-stainless-arch",
  "x-stainless-retry-count",
  "x-stainless-timeout"
]

describe("CORS preflight", () => {
  it.scopedLive("answers 204 from an allowed origin without auth, allowing the SDK's headers and POST", () =>
    Effect.gen(function*() {
      const response = yield* preflight(PATH, APP, SDK_HEADERS.join(", "))
      expect(response.status).toBe(204)
      expect(response.headers.get("access-control-allow-origin")).toBe(APP)
      expect(names(response.headers.get("access-control-allow-methods"))).toContain("post")
      expect(names(response.headers.get("access-control-allow-headers")).sort()).toEqual([...SDK_HEADERS].sort())
      expect(names(response.headers.get("vary"))).toContain("origin")
      expect(Number(response.headers.get("access-control-max-age"))).toBeGreaterThan(0)
      // A wildcard answer would be refused by browsers for requests that carry Authorization.
      expect(response.headers.get("access-control-allow-origin")).not.toBe("*")
      expect(response.headers.get("www-authenticate")).toBeNull()
      expect(yield* Effect.promise(() => response.text())).toBe("")
    }).pipe(served(corsConfig([APP]))))

  it.scopedLive("allows only the known headers among those asked for, whatever their case", () =>
    Effect.gen(function*() {
      const response = yield* preflight(
        PATH,
        APP,
        "Authorization, Content-Type, X-Clawdbot-Agent-Id, x-clawdbot-session-key, X-OpenClaw-Session-Key, " +
          "x-evil-header, cookie, x-openwebui-chat-id, x-stainless-helper-method"
      )
      expect(response.status).toBe(204)
      expect(names(response.headers.get("access-control-allow-headers")).sort()).toEqual([
        "authorization",
        "content-type",
        "x-clawdbot-agent-id",
        "x-clawdbot-session-key",
        "x-openclaw-session-key",
        "x-stainless-helper-method"
      ])
    }).pipe(served(corsConfig([APP]))))

  it.scopedLive("allows the configured conversation headers too", () =>
    Effect.gen(function*() {
      const response = yield* preflight(PATH, APP, "authorization, x-openwebui-chat-id, x-other-chat-id")
      expect(response.status).toBe(204)
      expect(names(response.headers.get("access-control-allow-headers")).sort()).toEqual([
        "authorization",
        "x-openwebui-chat-id"
      ])
    }).pipe(served(corsConfig([APP], ["X-OpenWebUI-Chat-Id"]))))

  it.scopedLive("answers the preflight of the model routes (a GET) as well", () =>
    Effect.gen(function*() {
      for (const path of ["/v1/models", "/v1/models/clawdbot:main"]) {
        const response = yield* preflight(path, APP, "authorization", "GET")
        expect({ path, status: response.status }).toEqual({ path, status: 204 })
        expect(response.headers.get("access-control-allow-origin")).toBe(APP)
        expect(names(response.headers.get("access-control-allow-methods"))).toContain("get")
        expect(names(response.headers.get("access-control-allow-headers"))).toEqual(["authorization"])
      }
    }).pipe(served(corsConfig([APP]))))

  it.scopedLive("is not answered for an origin that is not listed: no CORS headers at all", () =>
    Effect.gen(function*() {
      for (const origin of [OTHER, "https://app.example.com.evil.net", "http://app.example.com", "null"]) {
        const response = yield* preflight(PATH, origin, "authorization, content-type")
        expect({ origin, cors: corsHeadersOf(response) }).toEqual({ origin, cors: [] })
        expect(response.status).toBeGreaterThanOrEqual(400)
      }
    }).pipe(served(corsConfig([APP, "https://other-app.example.org"]))))

  it.scopedLive("is answered for no origin at all by default (no allowedOrigins configured)", () =>
    Effect.gen(function*() {
      for (const origin of [APP, "http://localhost:3000"]) {
        const response = yield* preflight(PATH, origin, "authorization, content-type")
        expect({ origin, cors: corsHeadersOf(response) }).toEqual({ origin, cors: [] })
        expect(response.status).toBeGreaterThanOrEqual(400)
      }
    }).pipe(served(corsConfig(undefined))))

  it.scopedLive("with \"*\" answers any origin, naming that origin", () =>
    Effect.gen(function*() {
      for (const origin of [APP, OTHER, "http://localhost:5173"]) {
        const response = yield* preflight(PATH, origin, "authorization, content-type, x-stainless-os")
        expect({ origin, status: response.status }).toEqual({ origin, status: 204 })
        expect(response.headers.get("access-control-allow-origin")).toBe(origin)
        expect(names(response.headers.get("access-control-allow-headers")).sort()).toEqual(
          ["authorization", "content-type", "x-stainless-os"]
        )
      }
    }).pipe(served(corsConfig(["*"]))))
})

describe("CORS on real requests", () => {
  const exposes = (response: Response, origin: string) => {
    expect(response.headers.get("access-control-allow-origin")).toBe(origin)
    expect(names(response.headers.get("access-control-expose-headers")).sort()).toEqual(
      ["x-clawdbot-session-key", "x-request-id"]
    )
    expect(names(response.headers.get("vary"))).toContain("origin")
  }

  it.scopedLive("a JSON answer to an allowed origin exposes x-request-id and x-clawdbot-session-key", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello({ user: "ada" }), { headers: { origin: APP } })
      expect(response.status).toBe(200)
      exposes(response, APP)
      expect(response.headers.get("x-request-id")).toMatch(/^req_/)
      expect(response.headers.get("x-clawdbot-session-key")).toBe("agent:main:openai-user:ada")
      const models = yield* send("/v1/models", { method: "GET", headers: { origin: APP } })
      expect(models.status).toBe(200)
      exposes(models, APP)
    }).pipe(served(corsConfig([APP]))))

  it.scopedLive("a stream to an allowed origin carries the same headers, and streams as usual", () =>
    Effect.scoped(Effect.gen(function*() {
      const { response } = yield* openChat(hello({ stream: true }), { headers: { origin: APP } })
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
      exposes(response, APP)
      const events = yield* sseReader(response).rest
      expect(events.filter(isChunk).length).toBeGreaterThan(0)
      expect(events.at(-1)).toBe("data: [DONE]")
    })).pipe(served(corsConfig([APP]))))

  it.scopedLive("a request from an allowed origin still needs the token, and its 401 is readable by the page", () =>
    Effect.gen(function*() {
      for (const token of [null, "not-the-token"]) {
        const response = yield* chat(hello(), { token, headers: { origin: APP } })
        expect({ token, status: response.status }).toEqual({ token, status: 401 })
        exposes(response, APP)
        const { error } = yield* errorBody(response)
        expect(error.type).toBe("unauthorized")
      }
    }).pipe(served(corsConfig([APP]))))

  it.scopedLive("an answer to an origin that is not listed carries no CORS headers", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello(), { headers: { origin: OTHER } })
      // CORS is the browser's to enforce: the server answers, without letting the page read it.
      expect(response.status).toBe(200)
      expect(corsHeadersOf(response)).toEqual([])
      const failed = yield* chat(hello(), { token: null, headers: { origin: OTHER } })
      expect(failed.status).toBe(401)
      expect(corsHeadersOf(failed)).toEqual([])
      const { response: stream } = yield* Effect.scoped(
        openChat(hello({ stream: true }), { headers: { origin: OTHER } })
      )
      expect(corsHeadersOf(stream)).toEqual([])
    }).pipe(served(corsConfig([APP]))))

  it.scopedLive("a request without an Origin (not a browser) gets no CORS headers", () =>
    Effect.gen(function*() {
      const response = yield* chat(hello())
      expect(response.status).toBe(200)
      expect(corsHeadersOf(response)).toEqual([])
    }).pipe(served(corsConfig(["*"]))))

  it.scopedLive("an OPTIONS without Access-Control-Request-Method is no preflight: it is a 405 like any other method", () =>
    Effect.gen(function*() {
      const response = yield* send(PATH, { method: "OPTIONS", token: null, headers: { origin: APP } })
      expect(response.status).toBe(405)
      expect(response.headers.get("allow")).toBe("POST")
    }).pipe(served(corsConfig([APP]))))
})

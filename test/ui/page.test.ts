/**
 * The chat page over HTTP: served only when `gateway.http.ui.enabled`, as static files under a
 * strict Content-Security-Policy, with no inline script or style for the policy to let through.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { testGateway } from "../kit/gateway.js"
import { send, text } from "../kit/http.js"
import { uiConfig } from "./harness.js"

describe("the chat page", () => {
  it.scopedLive("GET / serves the page, its script and stylesheet, without auth, under a strict CSP", () =>
    Effect.gen(function*() {
      for (
        const [path, type] of [
          ["/", "text/html"],
          ["/ui/app.js", "text/javascript"],
          ["/ui/app.css", "text/css"]
        ] as const
      ) {
        const response = yield* send(path, { token: null })
        expect(response.status).toBe(200)
        expect(response.headers.get("content-type")).toContain(type)
        const csp = response.headers.get("content-security-policy") ?? ""
        expect(csp).toContain("default-src 'none'")
        expect(csp).toContain("script-src 'self'")
        expect(csp).not.toContain("unsafe-inline")
        expect(response.headers.get("x-content-type-options")).toBe("nosniff")
        yield* text(response)
      }
      const page = yield* text(yield* send("/", { token: null }))
      // Every script is a same-origin file; no inline script, handler or style attribute.
      expect(page.match(/<script\b[^>]*>/g)).toEqual(["<script src=\"/ui/app.js\" defer>"])
      expect(page).not.toMatch(/\son\w+=/i)
      expect(page).not.toMatch(/\sstyle=/i)
      expect(page).not.toMatch(/https?:\/\//)
      // Nothing from the request is reflected.
      expect(yield* text(yield* send("/?q=%3Cscript%3E", { token: null }))).not.toContain("<script>")
    }).pipe(Effect.provide(testGateway({ config: uiConfig }))))

  it.scopedLive("without gateway.http.ui.enabled the page's paths are unknown", () =>
    Effect.gen(function*() {
      for (const path of ["/", "/ui/app.js", "/ui/app.css"]) {
        const response = yield* send(path, { token: null })
        expect(response.status).toBe(404)
        yield* text(response)
      }
    }).pipe(Effect.provide(testGateway())))
})

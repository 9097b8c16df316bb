/**
 * `GET /`, `/ui/app.js` and `/ui/app.css`: the chat page (./Page.ts), when `gateway.http.ui.enabled`.
 * Static answers with no input in them; the page asks for the token itself and calls the API.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Page from "./Page.js"

const headers = {
  "content-security-policy": Page.CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache"
}

export const page = HttpServerResponse.text(Page.html, { contentType: "text/html; charset=utf-8", headers })
export const script = HttpServerResponse.text(Page.script, { contentType: "text/javascript; charset=utf-8", headers })
export const style = HttpServerResponse.text(Page.css, { contentType: "text/css; charset=utf-8", headers })

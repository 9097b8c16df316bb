/**
 * What a provider is not sent: trace headers. The gateway's trace ids (and a client's
 * `traceparent`) are the operator's business; a third-party provider gets none of them, streamed
 * or not, whatever the api.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { chat, hello } from "../kit/http.js"
import { sseReader } from "../kit/sse.js"
import { against, APIS, Upstream } from "../kit/upstream.js"

const TRACE_HEADERS = ["traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled"]
const CLIENT_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

for (const api of APIS) {
  describe(`what the provider is sent, agent on ${api}`, () => {
    it.scopedLive("no trace headers, neither the gateway's own nor the client's", () =>
      against(
        api,
        Effect.gen(function*() {
          const upstream = yield* Upstream
          const json = yield* chat(hello(), { headers: { traceparent: CLIENT_TRACEPARENT } })
          expect(json.status).toBe(200)
          const stream = yield* chat(hello({ stream: true }), { headers: { traceparent: CLIENT_TRACEPARENT } })
          expect(stream.status).toBe(200)
          yield* sseReader(stream).rest

          for (const request of [yield* upstream.nextRequest, yield* upstream.nextRequest]) {
            const sent = Object.keys(request.headers).map((name) => name.toLowerCase())
            expect(sent.filter((name) => TRACE_HEADERS.includes(name))).toEqual([])
          }
        })
      ))
  })
}

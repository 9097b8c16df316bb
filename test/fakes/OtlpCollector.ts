/**
 * A fake OpenTelemetry collector on a loopback port: it takes OTLP/HTTP JSON exports (what
 * `telemetry.otlp.endpoint` sends to `POST /v1/traces`) and hands the test every span as it
 * arrives, with the service it came from and the path it was posted to.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as NodeHttp from "node:http"
import { listenOnLoopback } from "./listen.js"

const AnyValue = Schema.Struct({ stringValue: Schema.optional(Schema.String) })
export const Attributes = Schema.Array(Schema.Struct({ key: Schema.String, value: AnyValue }))

export const Span = Schema.Struct({
  traceId: Schema.String,
  spanId: Schema.String,
  parentSpanId: Schema.optional(Schema.String),
  name: Schema.String,
  kind: Schema.Number,
  attributes: Attributes
})
export type Span = typeof Span.Type

/** What OTLP/HTTP JSON sends: spans by resource, then by instrumentation scope. */
const ExportRequest = Schema.parseJson(Schema.Struct({
  resourceSpans: Schema.Array(Schema.Struct({
    resource: Schema.Struct({ attributes: Attributes }),
    scopeSpans: Schema.Array(Schema.Struct({ spans: Schema.Array(Span) }))
  }))
}))

/** The string value of an attribute. */
export const attribute = (attributes: typeof Attributes.Type, key: string) =>
  attributes.find((entry) => entry.key === key)?.value.stringValue

export interface Received {
  /** The path the export was posted to. */
  readonly path: string
  /** The `service.name` of its resource. */
  readonly service: string | undefined
  readonly span: Span
}

export interface OtlpCollector {
  /** Where to send traces: `telemetry.otlp.endpoint`. */
  readonly endpoint: string
  /** Every span received, as it arrives. */
  readonly spans: Queue.Dequeue<Received>
  /** The first span named `name` to arrive (the ones before it are taken). */
  readonly untilSpan: (name: string) => Effect.Effect<Received>
}

/** The collector for the scope. */
export const otlpCollector: Effect.Effect<OtlpCollector, never, Scope.Scope> = Effect.gen(function*() {
  const spans = yield* Queue.unbounded<Received>()
  const server = NodeHttp.createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const exported = Schema.decodeUnknownEither(ExportRequest)(Buffer.concat(chunks).toString("utf8"))
      for (const { resource, scopeSpans } of Either.isRight(exported) ? exported.right.resourceSpans : []) {
        const service = attribute(resource.attributes, "service.name")
        for (const span of scopeSpans.flatMap((scope) => scope.spans)) {
          Queue.unsafeOffer(spans, { path: `${request.method} ${request.url}`, service, span })
        }
      }
      response.writeHead(Either.isRight(exported) ? 200 : 400, { "content-type": "application/json" })
      response.end("{}")
    })
  })
  const port = yield* listenOnLoopback(server)
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    untilSpan: (name) => Queue.take(spans).pipe(Effect.repeat({ until: (received) => received.span.name === name }))
  }
})

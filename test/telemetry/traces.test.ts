/**
 * Issue 5, operations: OpenTelemetry traces through @effect/opentelemetry when an OTLP endpoint is
 * configured. A fake collector (node:http on 127.0.0.1, port 0) takes the OTLP/HTTP JSON export
 * at POST /v1/traces; the tests wait on the spans it receives (a short batch delay from config, or
 * the flush at shutdown).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as NodeHttp from "node:http"
import { type ConfigInput } from "../../src/config/ConfigFile.js"
import { decode } from "../../src/config/Load.js"
import { baseConfig, gateway, TOKEN } from "../support.js"

// ---------------------------------------------------------------------------------------------
// The fake collector
// ---------------------------------------------------------------------------------------------

const AnyValue = Schema.Struct({ stringValue: Schema.optional(Schema.String) })
const Attributes = Schema.Array(Schema.Struct({ key: Schema.String, value: AnyValue }))

const Span = Schema.Struct({
  traceId: Schema.String,
  spanId: Schema.String,
  parentSpanId: Schema.optional(Schema.String),
  name: Schema.String,
  kind: Schema.Number,
  attributes: Attributes
})
type Span = typeof Span.Type

/** What OTLP/HTTP JSON sends: spans by resource, then by instrumentation scope. */
const ExportRequest = Schema.Struct({
  resourceSpans: Schema.Array(Schema.Struct({
    resource: Schema.Struct({ attributes: Attributes }),
    scopeSpans: Schema.Array(Schema.Struct({ spans: Schema.Array(Span) }))
  }))
})

interface Received {
  readonly service: string | undefined
  readonly span: Span
}

const attribute = (attributes: typeof Attributes.Type, key: string) =>
  attributes.find((entry) => entry.key === key)?.value.stringValue

/** A collector on a free loopback port; each span it is sent goes into `spans`. */
const collector = Effect.gen(function*() {
  const spans = yield* Queue.unbounded<Received>()
  const paths = yield* Queue.unbounded<string>()
  const server = NodeHttp.createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      Queue.unsafeOffer(paths, `${request.method} ${request.url}`)
      const decoded = Schema.decodeUnknownEither(Schema.parseJson(ExportRequest))(
        Buffer.concat(chunks).toString("utf8")
      )
      if (Either.isRight(decoded)) {
        for (const resourceSpans of decoded.right.resourceSpans) {
          const service = attribute(resourceSpans.resource.attributes, "service.name")
          for (const scope of resourceSpans.scopeSpans) {
            for (const span of scope.spans) Queue.unsafeOffer(spans, { service, span })
          }
        }
      }
      response.writeHead(Either.isRight(decoded) ? 200 : 400, { "content-type": "application/json" })
      response.end("{}")
    })
  })
  const port = yield* Effect.acquireRelease(
    Effect.async<number>((resume) => {
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
      })
    }),
    () => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )
  return { endpoint: `http://127.0.0.1:${port}`, spans, paths }
})

/**
 * Takes spans from the collector until `found` picks what the test waits for out of all received
 * so far, within a bound.
 */
const waitFor = <A>(spans: Queue.Queue<Received>, found: (all: ReadonlyArray<Received>) => Option.Option<A>) =>
  Effect.gen(function*() {
    const all: Array<Received> = []
    while (true) {
      all.push(yield* Queue.take(spans))
      all.push(...(yield* Queue.takeAll(spans)))
      const result = found(all)
      if (Option.isSome(result)) return result.value
    }
  }).pipe(Effect.timeout("10 seconds"))

// ---------------------------------------------------------------------------------------------
// The request trees
// ---------------------------------------------------------------------------------------------

interface Tree {
  readonly root: Span
  readonly service: string | undefined
  /** The names of a span's children. */
  readonly childrenOf: (span: Span) => ReadonlyArray<string>
  readonly named: (name: string) => Span | undefined
}

/**
 * The server span of the request answered with `requestId`, once it and the spans named in
 * `expected` (each under the named parent) have all arrived.
 */
const requestTree =
  (requestId: string, expected: ReadonlyArray<readonly [parent: string, child: string]>) =>
  (all: ReadonlyArray<Received>): Option.Option<Tree> => {
    const root = all.find(({ span }) =>
      span.name.startsWith("http.server") &&
      attribute(span.attributes, "http.response.header.x-request-id") === requestId
    )
    if (root === undefined) return Option.none()
    const trace = all.map(({ span }) => span).filter((span) => span.traceId === root.span.traceId)
    const tree: Tree = {
      root: root.span,
      service: root.service,
      childrenOf: (parent) => trace.filter((span) => span.parentSpanId === parent.spanId).map((span) => span.name),
      named: (name) => name === "request" ? root.span : trace.find((span) => span.name === name)
    }
    return expected.every(([parent, child]) => {
        const span = tree.named(parent)
        return span !== undefined && tree.childrenOf(span).includes(child)
      }) ?
      Option.some(tree) :
      Option.none()
  }

const SERVER = 2

const chat = (body: unknown) =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    client.execute(
      HttpClientRequest.post("/v1/chat/completions").pipe(
        HttpClientRequest.bearerToken(TOKEN),
        HttpClientRequest.bodyUnsafeJson(body)
      )
    ))

const tracedGateway = (telemetry: NonNullable<ConfigInput["telemetry"]>) =>
  gateway({ config: { ...baseConfig, telemetry } }).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.None)))

const requestIdOf = (response: { readonly headers: Readonly<Record<string, string | undefined>> }) =>
  response.headers["x-request-id"] ?? "missing"

describe("traces (OTLP endpoint configured)", () => {
  it.scopedLive("a plain answer: the request span, with the auth, session and provider steps as its children", () =>
    Effect.gen(function*() {
      const { endpoint, paths, spans } = yield* collector
      yield* Effect.gen(function*() {
        const response = yield* chat({ model: "clawdbot:main", messages: [{ role: "user", content: "trace me" }] })
        expect(response.status).toBe(200)
        yield* response.text
        const tree = yield* waitFor(
          spans,
          requestTree(requestIdOf(response), [
            ["request", "Auth.check"],
            ["request", "SessionKeys.resolve"],
            ["request", "AgentRunner.prepare"],
            ["request", "Model.complete"]
          ])
        )
        expect(tree.root.name).toBe("http.server POST")
        expect(tree.root.kind).toBe(SERVER)
        expect(attribute(tree.root.attributes, "url.path")).toBe("/v1/chat/completions")
        expect(tree.service).toBe("clawgate-under-test")
        expect(yield* Queue.take(paths)).toBe("POST /v1/traces")
      }).pipe(
        Effect.provide(tracedGateway({ serviceName: "clawgate-under-test", otlp: { endpoint, batchDelayMs: 20 } }))
      )
    }))

  it.scopedLive("a stream: the answer's span under the request, with the session turn and the provider stream under it", () =>
    Effect.gen(function*() {
      const { endpoint, spans } = yield* collector
      yield* Effect.gen(function*() {
        const response = yield* chat({
          model: "clawdbot:main",
          stream: true,
          messages: [{ role: "user", content: "trace me" }]
        })
        expect(response.status).toBe(200)
        expect(yield* response.text).toContain("[DONE]")
        const tree = yield* waitFor(
          spans,
          requestTree(requestIdOf(response), [
            ["request", "Auth.check"],
            ["request", "SessionKeys.resolve"],
            ["request", "StreamAnswer.respond"],
            ["StreamAnswer.respond", "AgentRunner.prepare"],
            ["StreamAnswer.respond", "Model.open"]
          ])
        )
        expect(tree.service).toBe("clawgate")
      }).pipe(Effect.provide(tracedGateway({ otlp: { endpoint: `${endpoint}/`, batchDelayMs: 20 } })))
    }))

  it.scopedLive("spans still buffered are sent when the gateway shuts down", () =>
    Effect.gen(function*() {
      const { endpoint, spans } = yield* collector
      const scope = yield* Scope.make()
      // A batch delay far longer than the test: only the shutdown's flush can send the spans.
      const context = yield* Layer.buildWithScope(tracedGateway({ otlp: { endpoint, batchDelayMs: 600_000 } }), scope)
      const response = yield* chat({ model: "clawdbot:main", messages: [{ role: "user", content: "bye" }] }).pipe(
        Effect.tap((response) => response.text),
        Effect.provide(context)
      )
      expect(response.status).toBe(200)
      expect(yield* Queue.size(spans)).toBe(0)
      yield* Scope.close(scope, Exit.void)
      const tree = yield* waitFor(spans, requestTree(requestIdOf(response), [["request", "Auth.check"]]))
      expect(tree.root.kind).toBe(SERVER)
    }))
})

describe("telemetry config", () => {
  const noEnv = { token: Option.none(), password: Option.none() }

  it("defaults: no endpoint (no tracing), service name clawgate", () => {
    const decoded = decode({}, noEnv)
    expect(Either.isRight(decoded)).toBe(true)
    if (Either.isRight(decoded)) {
      expect(decoded.right.settings.telemetry.otlp.endpoint).toBeUndefined()
      expect(decoded.right.settings.telemetry.serviceName).toBe("clawgate")
    }
  })

  it("an endpoint that is not an http(s) URL is refused at its key", () => {
    for (const endpoint of ["127.0.0.1:4318", "ftp://collector:4318"]) {
      const decoded = decode({ telemetry: { otlp: { endpoint } } }, noEnv)
      expect(Either.isLeft(decoded)).toBe(true)
      if (Either.isLeft(decoded)) {
        expect(decoded.left.join("\n")).toContain("telemetry.otlp.endpoint: expected an http(s) URL")
      }
    }
  })
})

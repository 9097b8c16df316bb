/**
 * OpenTelemetry traces through @effect/opentelemetry when an OTLP endpoint is
 * configured. A fake collector (node:http on 127.0.0.1, port 0) takes the OTLP/HTTP JSON export
 * at POST /v1/traces; the tests wait on the spans it receives (a short batch delay from config, or
 * the flush at shutdown).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import { type ConfigInput } from "../../src/config/ConfigFile.js"
import { decode } from "../../src/config/Load.js"
import { attribute, otlpCollector, type Received, type Span } from "../fakes/OtlpCollector.js"
import { baseConfig, testGateway } from "../kit/gateway.js"
import { chat, text } from "../kit/http.js"

/**
 * Takes spans from the collector until `found` picks what the test waits for out of all received
 * so far, within a bound.
 */
const waitFor = <A>(spans: Queue.Dequeue<Received>, found: (all: ReadonlyArray<Received>) => Option.Option<A>) =>
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
  /** Where the root span was posted. */
  readonly path: string
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
      path: root.path,
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

const tracedGateway = (telemetry: NonNullable<ConfigInput["telemetry"]>) =>
  testGateway({ config: { ...baseConfig, telemetry } })

const requestIdOf = (response: Response) => response.headers.get("x-request-id") ?? "missing"

describe("traces (OTLP endpoint configured)", () => {
  it.scopedLive("a plain answer: the request span, with the auth, session and provider steps as its children", () =>
    Effect.gen(function*() {
      const { endpoint, spans } = yield* otlpCollector
      yield* Effect.gen(function*() {
        const response = yield* chat({ model: "clawdbot:main", messages: [{ role: "user", content: "trace me" }] })
        expect(response.status).toBe(200)
        yield* text(response)
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
        expect(tree.path).toBe("POST /v1/traces")
      }).pipe(
        Effect.provide(tracedGateway({ serviceName: "clawgate-under-test", otlp: { endpoint, batchDelayMs: 20 } }))
      )
    }))

  it.scopedLive("a stream: the answer's span under the request, with the session turn and the provider stream under it", () =>
    Effect.gen(function*() {
      const { endpoint, spans } = yield* otlpCollector
      yield* Effect.gen(function*() {
        const response = yield* chat({
          model: "clawdbot:main",
          stream: true,
          messages: [{ role: "user", content: "trace me" }]
        })
        expect(response.status).toBe(200)
        expect(yield* text(response)).toContain("[DONE]")
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
      const { endpoint, spans } = yield* otlpCollector
      const scope = yield* Scope.make()
      // A batch delay far longer than the test: only the shutdown's flush can send the spans.
      const context = yield* Layer.buildWithScope(tracedGateway({ otlp: { endpoint, batchDelayMs: 600_000 } }), scope)
      const response = yield* chat({ model: "clawdbot:main", messages: [{ role: "user", content: "bye" }] }).pipe(
        Effect.tap(text),
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

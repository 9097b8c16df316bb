/**
 * Telemetry: OpenTelemetry traces over OTLP/HTTP (JSON), through @effect/opentelemetry's NodeSdk.
 *
 * The gateway's server makes a span per request (`http.server <METHOD>`); the gateway's steps are
 * its children: `Auth.check`, `SessionKeys.resolve`, `StreamAnswer.respond` (a stream),
 * `AgentRunner.prepare` (the run's turn on its session), the session store's `SessionStore.load`
 * and `SessionStore.commit`, and a library provider's `LanguageModel.streamText` /
 * `LanguageModel.generateText`.
 *
 * `Gateway.layer` adds `layerFromConfig`: traces are exported when `telemetry.otlp.endpoint` is
 * set, and otherwise nothing is loaded or exported. An app that embeds the gateway may instead add
 * `layer` (or its own NodeSdk layer) around its whole app.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import { Config } from "../config/Config.js"

export interface Options {
  /** The collector's base URL (e.g. `http://127.0.0.1:4318`); spans go to `<endpoint>/v1/traces`. */
  readonly endpoint: string
  /** `service.name` of the spans (default `clawgate`). */
  readonly serviceName?: string | undefined
  /** Longest wait before a batch of finished spans is sent (default 5000). */
  readonly batchDelayMs?: number | undefined
}

/**
 * `effect` in a span named `name` when tracing is on, and as it is when it is off: a span that
 * nothing records still costs a request its context's bookkeeping (`clawgate serve` turns tracing
 * off without an OTLP endpoint).
 */
export const traced = (name: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) =>
    fiber.getFiberRef(FiberRef.currentTracerEnabled)
      ? Effect.withSpan(effect, name, { captureStackTrace: false })
      : effect
  )

/** `<endpoint>/v1/traces`, as OTEL_EXPORTER_OTLP_ENDPOINT is read. */
export const tracesUrl = (endpoint: string) => `${endpoint.replace(/\/+$/, "")}/v1/traces`

/**
 * Sets the tracer to one exporting spans in batches to an OTLP/HTTP collector; on release the
 * spans still buffered are flushed. The OpenTelemetry libraries are loaded when the layer is built.
 */
export const layer = (options: Options): Layer.Layer<never> =>
  Layer.unwrapEffect(
    Effect.map(
      Effect.promise(() =>
        Promise.all([
          import("@effect/opentelemetry/NodeSdk"),
          import("@opentelemetry/exporter-trace-otlp-http"),
          import("@opentelemetry/sdk-trace-base")
        ])
      ),
      ([NodeSdk, { OTLPTraceExporter }, { BatchSpanProcessor }]) =>
        NodeSdk.layer(() => ({
          resource: { serviceName: options.serviceName ?? "clawgate" },
          spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(options.endpoint) }), {
            scheduledDelayMillis: options.batchDelayMs ?? 5_000
          })
        })).pipe(Layer.map(() => Context.empty()))
    )
  )

/** `layer` from the config's `telemetry` section when it names an OTLP endpoint; else nothing. */
export const layerFromConfig: Layer.Layer<never, never, Config> = Layer.unwrapEffect(
  Effect.map(Config, ({ telemetry }) =>
    telemetry.otlp.endpoint === undefined
      ? Layer.empty
      : layer({
        endpoint: telemetry.otlp.endpoint,
        serviceName: telemetry.serviceName,
        batchDelayMs: telemetry.otlp.batchDelayMs
      }))
)

/**
 * For `clawgate serve`: with no OTLP endpoint no span would go anywhere, so none are made (making
 * them costs about a tenth of a request's CPU). `Gateway.layer` does not do this: an app that
 * embeds the gateway keeps tracing with its own tracer.
 */
export const layerOffWithoutEndpoint: Layer.Layer<never, never, Config> = Layer.unwrapEffect(
  Effect.map(
    Config,
    ({ telemetry }) => telemetry.otlp.endpoint === undefined ? Layer.setTracerEnabled(false) : Layer.empty
  )
)

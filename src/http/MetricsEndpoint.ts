/**
 * `GET /metrics`, when `gateway.metrics.enabled`: the metrics in the Prometheus text format, behind
 * the metrics token when one is set.
 *
 * It reads Effect's metric registry through @effect/opentelemetry's metrics bridge (a
 * MetricProducer) into an OpenTelemetry `PrometheusExporter` (as a MetricReader, without its own
 * server) and its `PrometheusSerializer`. Those libraries are loaded only when the endpoint is
 * enabled, so a gateway without metrics does not pay for them at start-up.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Bearer from "../access/Bearer.js"
import { Config } from "../config/Config.js"
import { Unauthorized } from "../domain/Errors.js"
import * as Metrics from "../ops/Metrics.js"
import { CurrentRequest } from "./CurrentRequest.js"
import * as ErrorResponse from "./ErrorResponse.js"

/** The Prometheus text exposition format. */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

/**
 * The `/metrics` handler, when `gateway.metrics.enabled`: the exporter is registered for the scope
 * of the routes (a config reload makes a new one). None when metrics are off.
 */
export const makeHandler = Effect.gen(function*() {
  const settings = yield* Config
  if (!settings.metrics.enabled) return Option.none()
  const [{ PrometheusExporter, PrometheusSerializer }, OtelMetrics, OtelResource] = yield* Effect.promise(() =>
    Promise.all([
      import("@opentelemetry/exporter-prometheus"),
      import("@effect/opentelemetry/Metrics"),
      import("@effect/opentelemetry/Resource")
    ])
  )
  const exporter = new PrometheusExporter({ preventServerStart: true })
  const producer = yield* OtelMetrics.makeProducer.pipe(
    Effect.provide(OtelResource.layer({ serviceName: settings.telemetry.serviceName }))
  )
  yield* OtelMetrics.registerProducer(producer, () => exporter)
  const serializer = new PrometheusSerializer()
  const token = settings.metrics.token
  const authorized = token === undefined ? () => true : Bearer.matcher(token)
  yield* Metrics.touchUnlabelled

  return Option.some(Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (!authorized(request.headers.authorization)) {
      const current = yield* CurrentRequest
      const error = new Unauthorized()
      current.error = error
      return ErrorResponse.toResponse(ErrorResponse.describe(error, current.id))
    }
    const { errors, resourceMetrics } = yield* Effect.promise(() => exporter.collect())
    if (errors.length > 0) yield* Effect.logWarning("Some metrics could not be collected", errors)
    return HttpServerResponse.text(serializer.serialize(resourceMetrics), { contentType: CONTENT_TYPE })
  }))
})

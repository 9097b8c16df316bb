/**
 * The request-wide middleware: a request id on every answer, CORS, the answers for what the router
 * could not match (404, 405, an endpoint turned off), the drain (503 while draining, the deadline
 * for what is in flight), defects as 500s, and one log line and the metrics of each request.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Crypto from "node:crypto"
import { Config } from "../config/Config.js"
import {
  EndpointDisabled,
  type GatewayError,
  GatewayShuttingDown,
  MethodNotAllowed,
  RouteNotFound
} from "../domain/Errors.js"
import { Drain } from "../ops/Drain.js"
import * as Metrics from "../ops/Metrics.js"
import * as Cors from "./Cors.js"
import { CurrentRequest, type RequestFacts } from "./CurrentRequest.js"
import * as ErrorResponse from "./ErrorResponse.js"
import { logRequest } from "./RequestLog.js"
import * as Routes from "./Routes.js"

export const RequestMiddleware = HttpLayerRouter.middleware<{ provides: CurrentRequest }>()(
  Effect.gen(function*() {
    const settings = yield* Config
    const drain = yield* Drain
    const cors = Cors.make(settings.cors.allowedOrigins, settings.chatCompletions.sessionHeaders)
    const shuttingDown = Effect.zipRight(drain.deadline, Effect.fail(new GatewayShuttingDown()))
    /** While draining, only the health routes answer; past the deadline, nothing in flight waits. */
    const drained = <E, R>(
      request: HttpServerRequest.HttpServerRequest,
      handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ) =>
      Effect.flatMap(drain.draining, (draining) =>
        draining && Routes.match(request.url)?.whileDraining !== true
          ? Effect.fail(new GatewayShuttingDown())
          // The server runs this middleware uninterruptibly: the deadline's waiter must be
          // interruptible, or the race would wait on it forever once the handler has won.
          : Effect.raceFirst(handler, Effect.interruptible(shuttingDown)))
    /** What the router could not match: an endpoint turned off, a wrong method, an unknown path. */
    const unmatched = (request: HttpServerRequest.HttpServerRequest): GatewayError => {
      const route = Routes.match(request.url)
      if (route === undefined) return new RouteNotFound({ method: request.method, path: Routes.pathOf(request.url) })
      if (!route.served(settings)) {
        return route.whenOff === "disabled"
          ? new EndpointDisabled()
          : new RouteNotFound({ method: request.method, path: Routes.pathOf(request.url) })
      }
      return new MethodNotAllowed({ method: request.method, allow: route.methods })
    }

    return (httpEffect) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const started = yield* Clock.currentTimeMillis
        const current: RequestFacts = {
          id: `req_${Crypto.randomUUID()}`,
          agentId: undefined,
          sessionKey: undefined,
          usage: undefined,
          error: undefined
        }
        const logLine = logRequest(request, current, started)
        const log = (status: number) =>
          Effect.zipRight(
            logLine(status),
            Metrics.recordRequest(settings, {
              route: Routes.match(request.url)?.pattern ?? "unmatched",
              status,
              agentId: current.agentId,
              usage: current.usage,
              startedMs: started
            })
          )

        const response = yield* Option.match(cors.preflight(request), {
          onSome: Effect.succeed,
          onNone: () => drained(request, httpEffect)
        }).pipe(
          Effect.provideService(CurrentRequest, current),
          Effect.catchAllCause((cause) => {
            if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
            const failure = Cause.failureOption(cause)
            if (Option.isSome(failure) && failure.value instanceof GatewayShuttingDown) {
              current.error = failure.value
              return Effect.succeed(ErrorResponse.toResponse(ErrorResponse.describe(failure.value, current.id)))
            }
            if (Option.isSome(failure) && failure.value instanceof HttpServerError.RouteNotFound) {
              const error = unmatched(request)
              current.error = error
              return Effect.succeed(ErrorResponse.toResponse(ErrorResponse.describe(error, current.id)))
            }
            current.error = "Defect"
            return Effect.as(
              Effect.logError("Unexpected failure", cause),
              ErrorResponse.toResponse(ErrorResponse.internal(current.id))
            )
          }),
          Effect.map(HttpServerResponse.setHeader("x-request-id", current.id)),
          Effect.map(cors.decorate(request))
        )

        // A stream is logged when it ends (the request's scope closes once its body is sent), so the
        // line has its real duration and in-band error.
        if (response.body._tag === "Stream") {
          yield* Effect.addFinalizer(() => log(response.status))
          return response
        }
        yield* log(response.status)
        return response
      })
  }),
  { global: true }
)

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
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
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
import { CurrentRequest, keyIdOf, newRequestId, type RequestFacts } from "./CurrentRequest.js"
import * as ErrorResponse from "./ErrorResponse.js"
import { serverResponseOf } from "./NodeRequest.js"
import { logRequest } from "./RequestLog.js"
import * as Routes from "./Routes.js"

/** The request's fiber: for the drain's deadline to interrupt, and its clock. */
const currentFiber = Effect.withFiberRuntime<Fiber.RuntimeFiber<unknown, unknown>>((fiber) => Effect.succeed(fiber))

export const RequestMiddleware = HttpLayerRouter.middleware<{ provides: CurrentRequest }>()(
  Effect.gen(function*() {
    const settings = yield* Config
    const drain = yield* Drain
    const cors = Cors.make(settings.cors.allowedOrigins, settings.chatCompletions.sessionHeaders)
    /** What the router could not match: an endpoint turned off, a wrong method, an unknown path. */
    const unmatched = (request: HttpServerRequest.HttpServerRequest): GatewayError => {
      const route = Routes.match(request.url)
      if (route === undefined) return new RouteNotFound({ method: request.method, path: Routes.pathOf(request.url) })
      if (!route.served(settings)) {
        return route.whenOff === "disabled"
          ? new EndpointDisabled(route.endpoint === undefined ? {} : { endpoint: route.endpoint })
          : new RouteNotFound({ method: request.method, path: Routes.pathOf(request.url) })
      }
      return new MethodNotAllowed({ method: request.method, allow: route.methods })
    }
    const answering = (current: RequestFacts, error: GatewayError) => {
      current.error = error
      return ErrorResponse.toResponse(ErrorResponse.describe(error, current.id))
    }

    /**
     * At the drain's deadline, what is still being answered ends: an answer not started gets 503
     * `shutting_down`, a stream that has started its error in-band; then the request's fiber is
     * interrupted, cancelling its run. A callback of the drain, not a race per request.
     */
    const endAtDeadline = (
      request: HttpServerRequest.HttpServerRequest,
      current: RequestFacts,
      fiber: Fiber.RuntimeFiber<unknown, unknown>
    ) =>
    () => {
      const res = serverResponseOf(request)
      const error = new GatewayShuttingDown()
      current.error = error
      // (Not on a Node server, there is nothing to write to: the interruption ends the answer.)
      if (res !== undefined && !res.headersSent) {
        const { headers, status, text } = ErrorResponse.toNodeAnswer(ErrorResponse.describe(error, current.id), {
          "x-request-id": current.id
        })
        res.writeHead(status, headers).end(text)
      } else if (res !== undefined && current.endInBand !== undefined && !res.writableEnded) {
        res.end(current.endInBand(error))
      }
      fiber.unsafeInterruptAsFork(fiber.id())
    }

    return (httpEffect) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        Effect.flatMap(currentFiber, (fiber) => {
          const current: RequestFacts = {
            id: newRequestId(),
            caller: undefined,
            agentId: undefined,
            sessionKey: undefined,
            usage: undefined,
            error: undefined,
            endInBand: undefined
          }
          const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
          const started = clock.unsafeCurrentTimeMillis()
          const route = Routes.match(request.url)
          const log = (status: number) =>
            Effect.suspend(() => {
              const durationMs = clock.unsafeCurrentTimeMillis() - started
              Metrics.recordRequest(settings, {
                route: route?.pattern ?? "unmatched",
                status,
                agentId: current.agentId,
                keyId: keyIdOf(current),
                usage: current.usage,
                durationMs
              })
              if (current.usage !== undefined) {
                current.caller?.spend(current.usage.promptTokens + current.usage.completionTokens)
              }
              return logRequest(request, current, durationMs, status)
            })
          const preflight = cors.preflight(request)
          const handled = Option.isSome(preflight)
            ? Effect.succeed(preflight.value)
            // While draining, only the probes and scrapes answer.
            : drain.isDraining() && route?.whileDraining !== true
            ? Effect.succeed(answering(current, new GatewayShuttingDown()))
            : Effect.zipRight(drain.atDeadline(endAtDeadline(request, current, fiber)), httpEffect)
          return handled.pipe(
            Effect.provideService(CurrentRequest, current),
            Effect.catchAllCause((cause) => {
              if (Cause.isInterruptedOnly(cause)) {
                // Ended by the drain's deadline: its 503 or in-band error went out; log it.
                return current.error instanceof GatewayShuttingDown
                  ? Effect.zipRight(log(current.endInBand === undefined ? 503 : 200), Effect.failCause(cause))
                  : Effect.failCause(cause)
              }
              const failure = Cause.failureOption(cause)
              if (Option.isSome(failure) && failure.value instanceof HttpServerError.RouteNotFound) {
                return Effect.succeed(answering(current, unmatched(request)))
              }
              current.error = "Defect"
              return Effect.as(
                Effect.logError("Unexpected failure", cause),
                ErrorResponse.toResponse(ErrorResponse.internal(current.id))
              )
            }),
            Effect.flatMap((answer) => {
              const response = cors.decorate(request)(HttpServerResponse.setHeader(answer, "x-request-id", current.id))
              // A stream is logged when it ends (the request's scope closes once its body is sent), so
              // the line has its real duration and in-band error.
              return response.body._tag === "Stream"
                ? Effect.as(
                  Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, log(response.status))),
                  response
                )
                : Effect.as(log(response.status), response)
            })
          )
        }))
  }),
  { global: true }
)

/**
 * The gateway's routes, composed with `HttpLayerRouter`: each handler at its pattern of the route
 * table (./Routes.ts), behind the request-wide middleware.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Config } from "../config/Config.js"
import type { GatewayError } from "../domain/Errors.js"
import * as ChatCompletions from "./chat/ChatCompletions.js"
import { CurrentRequest } from "./CurrentRequest.js"
import * as ErrorResponse from "./ErrorResponse.js"
import * as Health from "./Health.js"
import * as MetricsEndpoint from "./MetricsEndpoint.js"
import * as ModelsEndpoint from "./ModelsEndpoint.js"
import { RequestMiddleware } from "./RequestMiddleware.js"
import * as ResponsesEndpoint from "./responses/Responses.js"
import * as Routes from "./Routes.js"
import * as SessionsEndpoint from "./SessionsEndpoint.js"
import * as UiEndpoint from "./ui/UiEndpoint.js"

/** A route's typed failures become their answers, and are remembered for the log line. */
const answeringErrors = <R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, GatewayError, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R | CurrentRequest> =>
  Effect.catchAll(handler, (error) =>
    Effect.map(CurrentRequest, (current) => {
      current.error = error
      return ErrorResponse.toResponse(ErrorResponse.describe(error, current.id))
    }))

/** A handler at a route of the table, for each of its methods. */
const at = <E, R>(route: Routes.Route, handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  route.methods.map((method) => HttpLayerRouter.route(method, route.pattern, handler))

export const ChatCompletionsRoute = HttpLayerRouter.use((router) =>
  Effect.flatMap(
    ChatCompletions.makeHandler,
    (handler) => router.addAll(at(Routes.chatCompletions, answeringErrors(handler)))
  )
)

/** `POST /v1/responses`, and `GET` / `DELETE` of a stored response. */
export const ResponsesRoutes = HttpLayerRouter.use((router) =>
  Effect.flatMap(ResponsesEndpoint.makeHandlers, ({ create, remove, retrieve }) =>
    router.addAll([
      ...at(Routes.responses, answeringErrors(create)),
      HttpLayerRouter.route("GET", Routes.response.pattern, answeringErrors(retrieve)),
      HttpLayerRouter.route("DELETE", Routes.response.pattern, answeringErrors(remove))
    ]))
)

export const ModelsRoutes = HttpLayerRouter.use((router) =>
  Effect.flatMap(ModelsEndpoint.makeHandlers, ({ list, retrieve }) =>
    router.addAll([
      ...at(Routes.models, answeringErrors(list)),
      ...at(Routes.model, answeringErrors(retrieve))
    ]))
)

export const SessionsRoutes = HttpLayerRouter.use((router) =>
  Effect.flatMap(SessionsEndpoint.makeHandlers, ({ list, one, reset }) =>
    router.addAll([
      ...at(Routes.sessions, answeringErrors(list)),
      ...at(Routes.session, answeringErrors(one)),
      ...at(Routes.sessionReset, answeringErrors(reset))
    ]))
)

/** The chat page when `gateway.http.ui.enabled`; otherwise its paths stay unknown (404). */
export const UiRoutes = HttpLayerRouter.use((router) =>
  Effect.flatMap(
    Config,
    (settings) =>
      settings.ui.enabled
        ? router.addAll([
          ...at(Routes.uiPage, Effect.succeed(UiEndpoint.page)),
          ...at(Routes.uiScript, Effect.succeed(UiEndpoint.script)),
          ...at(Routes.uiStyle, Effect.succeed(UiEndpoint.style))
        ])
        : Effect.void
  )
)

export const HealthRoutes = HttpLayerRouter.use((router) =>
  Effect.flatMap(
    Health.makeReadyz,
    (readyz) => router.addAll([...at(Routes.healthz, Health.healthz), ...at(Routes.readyz, readyz)])
  )
)

/** `GET /metrics` when metrics are enabled; otherwise the path stays unknown (404). */
export const MetricsRoute = HttpLayerRouter.use((router) =>
  Effect.flatMap(
    MetricsEndpoint.makeHandler,
    Option.match({
      onNone: () => Effect.void,
      onSome: (handler) => router.addAll(at(Routes.metrics, handler))
    })
  )
)

/** The gateway's routes and middleware, ready for `HttpLayerRouter.serve` or `toHttpEffect`. */
export const routes = Layer.mergeAll(
  ChatCompletionsRoute,
  ResponsesRoutes,
  ModelsRoutes,
  SessionsRoutes,
  UiRoutes,
  HealthRoutes,
  MetricsRoute
).pipe(
  Layer.provide(RequestMiddleware)
)

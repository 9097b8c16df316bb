/**
 * The gate in front of the OpenAI endpoints: the enable flag, then the caller's bearer secret
 * (with the failed-auth limiter keyed by the client's IP). It gives the caller: who may do what.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Config } from "../config/Config.js"
import { EndpointDisabled } from "../domain/Errors.js"
import { Auth } from "./Auth.js"
import * as ClientIp from "./ClientIp.js"

/** Builds the gate once; the gate itself runs per request. */
export const makeGate = Effect.gen(function*() {
  const settings = yield* Config
  const auth = yield* Auth
  const clientIpOf = ClientIp.resolver(settings.trustedProxies)
  return Effect.gen(function*() {
    if (!settings.chatCompletions.enabled) return yield* new EndpointDisabled()
    const request = yield* HttpServerRequest.HttpServerRequest
    const clientIp = clientIpOf(Option.getOrUndefined(request.remoteAddress), request.headers["x-forwarded-for"])
    return yield* auth.check({ authorization: Option.fromNullable(request.headers.authorization), clientIp })
  })
})

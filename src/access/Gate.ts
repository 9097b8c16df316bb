/**
 * The gate in front of the OpenAI endpoints: the endpoint's enable flag, then the caller's bearer
 * secret (with the failed-auth limiter keyed by the client's IP). It gives the caller: who may do what.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Config } from "../config/Config.js"
import { servesOpenAi, type Settings } from "../config/Settings.js"
import { EndpointDisabled } from "../domain/Errors.js"
import { Auth } from "./Auth.js"
import * as ClientIp from "./ClientIp.js"

/** The endpoints a gate can stand in front of, and whether the config serves each. */
const endpoints = {
  chatCompletions: (settings: Settings) => settings.chatCompletions.enabled,
  responses: (settings: Settings) => settings.responses.enabled,
  /** `/v1/models`: the one list for both. */
  models: servesOpenAi
}

export type Endpoint = keyof typeof endpoints

/** Builds the gate of an endpoint once; the gate itself runs per request. */
export const makeGateFor = (endpoint: Endpoint) =>
  Effect.gen(function*() {
    const settings = yield* Config
    const auth = yield* Auth
    const clientIpOf = ClientIp.resolver(settings.trustedProxies)
    const served = endpoints[endpoint](settings)
    const disabled = new EndpointDisabled(endpoint === "responses" ? { endpoint } : {})
    return Effect.gen(function*() {
      if (!served) return yield* disabled
      const request = yield* HttpServerRequest.HttpServerRequest
      const clientIp = clientIpOf(Option.getOrUndefined(request.remoteAddress), request.headers["x-forwarded-for"])
      return yield* auth.check({ authorization: Option.fromNullable(request.headers.authorization), clientIp })
    })
  })

/**
 * The gate of the API endpoints (./access/Gate.ts), remembering the caller for the request's log
 * line, metrics and token limits.
 */
import * as Effect from "effect/Effect"
import * as Access from "../access/Gate.js"
import { CurrentRequest } from "./CurrentRequest.js"

/** Builds an endpoint's gate once; the gate itself runs per request and gives the caller. */
export const makeAuthorizeFor = (endpoint: Access.Endpoint) =>
  Effect.map(
    Access.makeGateFor(endpoint),
    (gate) =>
      Effect.flatMap(gate, (caller) =>
        Effect.map(CurrentRequest, (current) => {
          current.caller = caller
          return caller
        }))
  )

/** The gate of the Chat Completions endpoint (and of what shares its switch: the sessions API). */
export const makeAuthorize = makeAuthorizeFor("chatCompletions")

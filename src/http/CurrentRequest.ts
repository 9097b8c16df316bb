/**
 * What the gateway knows about the request in flight, for its error bodies and its one log line.
 */
import * as Context from "effect/Context"
import * as Crypto from "node:crypto"
import type { Usage } from "../domain/AgentEvent.js"
import type { Caller } from "../domain/Caller.js"
import type { GatewayError } from "../domain/Errors.js"

export interface RequestFacts {
  /** Sent back as `x-request-id`, and quoted in 5xx bodies. */
  readonly id: string
  /** Who the request is from, once authenticated (its key id goes in the log line and metrics). */
  caller: Caller | undefined
  /** Filled in once the request is routed. */
  agentId: string | undefined
  /** The session key the run used (logged only as a hash). */
  sessionKey: string | undefined
  /** The run's token counts, once known. */
  usage: Usage | undefined
  /** The server tools the run called, by name, in order (never their arguments or results). */
  tools?: Array<string> | undefined
  /** What the request failed with, if it did (also an in-band stream error); `Defect` for the unexpected. */
  error: GatewayError | "Defect" | undefined
  /**
   * Once a streamed answer has started (its 200 sent): the text that ends it with an error, in its
   * own protocol. The drain's deadline ends the answer with it.
   */
  endInBand: ((error: GatewayError) => string) | undefined
}

/** A new request id: `req_` and a random UUID. */
export const newRequestId = () => `req_${Crypto.randomUUID()}`

export class CurrentRequest extends Context.Tag("clawgate/CurrentRequest")<CurrentRequest, RequestFacts>() {}

/** The API key the request came with, if any: also when the key was refused for its limits. */
export const keyIdOf = (current: RequestFacts): string | undefined =>
  current.caller?.keyId ??
    (typeof current.error === "object" && current.error._tag === "KeyRateLimited" ? current.error.keyId : undefined)

/**
 * What the gateway knows about the request in flight, for its error bodies and its one log line.
 */
import * as Context from "effect/Context"
import type { Usage } from "../domain/AgentEvent.js"
import type { GatewayError } from "../domain/Errors.js"

export interface RequestFacts {
  /** Sent back as `x-request-id`, and quoted in 5xx bodies. */
  readonly id: string
  /** Filled in once the request is routed. */
  agentId: string | undefined
  /** The session key the run used (logged only as a hash). */
  sessionKey: string | undefined
  /** The run's token counts, once known. */
  usage: Usage | undefined
  /** What the request failed with, if it did (also an in-band stream error); `Defect` for the unexpected. */
  error: GatewayError | "Defect" | undefined
}

export class CurrentRequest extends Context.Tag("clawgate/CurrentRequest")<CurrentRequest, RequestFacts>() {}

/**
 * What the gateway knows about the request in flight, for its error bodies and its one log line.
 */
import * as Context from "effect/Context"

export interface RequestFacts {
  /** Sent back as `x-request-id`, and quoted in 5xx bodies. */
  readonly id: string
  /** Filled in once the request is routed. */
  agentId: string | undefined
  /** The tag of the error the request ended with, if any (also for in-band stream errors). */
  errorTag: string | undefined
}

export class CurrentRequest extends Context.Tag("clawgate/CurrentRequest")<CurrentRequest, RequestFacts>() {}

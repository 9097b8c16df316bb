/**
 * AgentRunner: runs one turn of an agent. The endpoints and the `clawgate agent` command go through
 * it; the live runner is in ./LiveRunner.ts, and tests and embedding apps swap in their own layer
 * (see `clawgate/testing`).
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import { type AgentEvent, type AgentReply, collect } from "../domain/AgentEvent.js"
import type { AgentError } from "../domain/Errors.js"
import type { RunRequest } from "../domain/Run.js"

export class AgentRunner extends Context.Tag("clawgate/AgentRunner")<AgentRunner, {
  /** Runs the turn and streams its events; interrupting the stream cancels the run. */
  readonly stream: (request: RunRequest) => Stream.Stream<AgentEvent, AgentError>
  /** Runs the turn to its end. Kept apart from `stream` so a plain answer costs no Stream machinery. */
  readonly complete: (request: RunRequest) => Effect.Effect<AgentReply, AgentError>
}>() {
  /** A runner from its streaming half alone; `complete` folds the stream. */
  static readonly fromStream = (
    stream: (request: RunRequest) => Stream.Stream<AgentEvent, AgentError>
  ): Context.Tag.Service<AgentRunner> => AgentRunner.of({ stream, complete: (request) => collect(stream(request)) })
}

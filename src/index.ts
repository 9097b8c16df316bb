/**
 * clawgate as a library: the gateway as one layer, its services (each a `Context.Tag` with its
 * layers, to swap for your own), the run's vocabulary and the error catalogue. Fakes for tests are
 * in `clawgate/testing`.
 */

// The whole gateway, the Node server `clawgate serve` runs it on, and the command itself
export * as Cli from "./Cli.js"
export * as Gateway from "./Gateway.js"
export * as NodeServer from "./http/NodeServer.js"
export { routes } from "./http/Router.js"
export * as Telemetry from "./ops/Telemetry.js"

// Configuration
export { Config } from "./config/Config.js"
export { ConfigError } from "./config/ConfigError.js"
export type { ConfigInput } from "./config/ConfigFile.js"
export type { Settings } from "./config/Settings.js"

// Services
export { Auth } from "./access/Auth.js"
export { SessionKeys } from "./access/SessionKeys.js"
export { AgentRunner } from "./agent/AgentRunner.js"
export * as LiveRunner from "./agent/LiveRunner.js"
export { RunQueue } from "./agent/RunQueue.js"
export { Drain } from "./ops/Drain.js"
export { SessionStore, type Turn } from "./store/SessionStore.js"

// The run's vocabulary
export type { Agent } from "./domain/Agent.js"
export {
  AgentEvent,
  type AgentReply,
  collect,
  type FinishReason,
  type ToolCall,
  type Usage
} from "./domain/AgentEvent.js"
export type {
  AnswerFormat,
  ChatMessage,
  ClientTool,
  ImageInput,
  RunRequest,
  RunTools,
  Sampling,
  ToolChoice,
  UserPart
} from "./domain/Run.js"
export type { SessionKey } from "./domain/SessionKey.js"

// Errors: the catalogue, and its answers
export * from "./domain/Errors.js"
export * as ErrorResponse from "./http/ErrorResponse.js"

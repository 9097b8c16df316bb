/**
 * clawgate as a library: the services, their layers and the HTTP routes, to compose into your own
 * app (and swap in your own AgentRunner). Fakes for tests are in `clawgate/testing`.
 */
export * as Agents from "./Agents.js"
export * as AgentRunner from "./AgentRunner.js"
export * as Auth from "./Auth.js"
export * as Cli from "./Cli.js"
export * as ClientIp from "./ClientIp.js"
export * as Config from "./Config.js"
export * as CurrentRequest from "./CurrentRequest.js"
export * as ErrorResponse from "./ErrorResponse.js"
export * as Drain from "./Drain.js"
export * as Errors from "./Errors.js"
export * as Gateway from "./Gateway.js"
export * as Http from "./Http.js"
export * as Metrics from "./Metrics.js"
export * as Models from "./Models.js"
export * as RunQueue from "./RunQueue.js"
export * as SessionKeys from "./SessionKeys.js"
export * as SessionStore from "./SessionStore.js"
export * as Telemetry from "./Telemetry.js"
export * as Wire from "./Wire.js"

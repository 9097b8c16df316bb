/**
 * The error catalogue: every way a request can fail, as tagged errors.
 * `http/ErrorResponse.ts` maps each one to its HTTP answer; the compiler checks that none is forgotten.
 */
import * as Schema from "effect/Schema"

/** An OpenAI endpoint is switched off in the config: Chat Completions unless `endpoint` says another. */
export class EndpointDisabled extends Schema.TaggedError<EndpointDisabled>()("EndpointDisabled", {
  endpoint: Schema.optional(Schema.Literal("chatCompletions", "responses"))
}) {}

/** No route for this path. */
export class RouteNotFound extends Schema.TaggedError<RouteNotFound>()("RouteNotFound", {
  method: Schema.String,
  path: Schema.String
}) {}

/** The path exists, the method does not. */
export class MethodNotAllowed extends Schema.TaggedError<MethodNotAllowed>()("MethodNotAllowed", {
  method: Schema.String,
  allow: Schema.Array(Schema.String)
}) {}

/** Missing or wrong bearer secret. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {}) {}

/** Too many failed authentications from this client. */
export class AuthRateLimited extends Schema.TaggedError<AuthRateLimited>()("AuthRateLimited", {
  retryAfterSeconds: Schema.Number
}) {}

/** An API key is past one of its own limits (`gateway.auth.keys[].rateLimit`). */
export class KeyRateLimited extends Schema.TaggedError<KeyRateLimited>()("KeyRateLimited", {
  keyId: Schema.String,
  limit: Schema.Literal("requests", "tokens"),
  retryAfterMs: Schema.Number
}) {}

/** The request body is larger than `maxBodyBytes`. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  maxBytes: Schema.Number
}) {}

/**
 * The request is not valid HTTP: Node's parser refused its framing (a bad chunk size, conflicting
 * lengths, ...). `detail` is the parser's reason.
 */
export class MalformedHttp extends Schema.TaggedError<MalformedHttp>()("MalformedHttp", {
  detail: Schema.String
}) {}

/** The request's headers are larger than Node's limit (`--max-http-header-size`, 16 KiB by default). */
export class HeadersTooLarge extends Schema.TaggedError<HeadersTooLarge>()("HeadersTooLarge", {}) {}

/** The request did not arrive within Node's time limits for its headers or for the whole of it. */
export class RequestTimeout extends Schema.TaggedError<RequestTimeout>()("RequestTimeout", {}) {}

/** The request body is compressed with a `Content-Encoding` the gateway does not inflate. */
export class UnsupportedContentEncoding extends Schema.TaggedError<UnsupportedContentEncoding>()(
  "UnsupportedContentEncoding",
  { encoding: Schema.String, supported: Schema.Array(Schema.String) }
) {}

/** The request body is not JSON (or not readable as such: empty, or its compression corrupt). */
export class InvalidJson extends Schema.TaggedError<InvalidJson>()("InvalidJson", {
  message: Schema.String
}) {}

/** The request is well-formed JSON but not a valid request; `param` names the field. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  message: Schema.String,
  param: Schema.NullOr(Schema.String)
}) {}

/**
 * `previous_response_id` names no stored response this caller made (none by that id, or another
 * caller's: the two are not told apart).
 */
export class PreviousResponseNotFound extends Schema.TaggedError<PreviousResponseNotFound>()(
  "PreviousResponseNotFound",
  { id: Schema.String }
) {}

/** `GET` / `DELETE /v1/responses/{id}`: no stored response of this caller has that id. */
export class ResponseNotFound extends Schema.TaggedError<ResponseNotFound>()("ResponseNotFound", {
  id: Schema.String
}) {}

/** The request names an agent that is not configured. */
export class AgentNotFound extends Schema.TaggedError<AgentNotFound>()("AgentNotFound", {
  agentId: Schema.String,
  known: Schema.Array(Schema.String)
}) {}

/** The agent's model provider could not be reached (connection refused, DNS failure). */
export class ProviderUnreachable extends Schema.TaggedError<ProviderUnreachable>()("ProviderUnreachable", {
  provider: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** The provider refused the gateway's own credentials (its 401/403). */
export class ProviderAuthRejected extends Schema.TaggedError<ProviderAuthRejected>()("ProviderAuthRejected", {
  provider: Schema.String
}) {}

/** The provider is rate limiting the gateway. */
export class ProviderRateLimited extends Schema.TaggedError<ProviderRateLimited>()("ProviderRateLimited", {
  provider: Schema.String,
  retryAfterSeconds: Schema.optional(Schema.Number)
}) {}

/** The provider failed (5xx, malformed answer). Its own message is for the log only. */
export class ProviderFailed extends Schema.TaggedError<ProviderFailed>()("ProviderFailed", {
  provider: Schema.String,
  detail: Schema.String,
  /** The provider's HTTP status, when it answered with one. */
  status: Schema.optional(Schema.Number)
}) {}

/** The provider produced no first token within the agent's timeout. */
export class ProviderTimeout extends Schema.TaggedError<ProviderTimeout>()("ProviderTimeout", {
  provider: Schema.String,
  timeoutMs: Schema.Number
}) {}

/** Too many runs are waiting on this session already. */
export class SessionBusy extends Schema.TaggedError<SessionBusy>()("SessionBusy", {
  sessionKey: Schema.String
}) {}

/** The gateway is running as many agent runs as it is configured to. */
export class GatewayBusy extends Schema.TaggedError<GatewayBusy>()("GatewayBusy", {
  maxConcurrentRuns: Schema.Number
}) {}

/** No such session, or not one the caller may see (another API key's is as unknown). */
export class SessionNotFound extends Schema.TaggedError<SessionNotFound>()("SessionNotFound", {
  sessionKey: Schema.String
}) {}

/** The session has a run in flight: it cannot be reset or deleted until the run ends. */
export class SessionInUse extends Schema.TaggedError<SessionInUse>()("SessionInUse", {
  sessionKey: Schema.String
}) {}

/** The session store could not be read or written. */
export class SessionStoreUnavailable extends Schema.TaggedError<SessionStoreUnavailable>()(
  "SessionStoreUnavailable",
  { cause: Schema.Defect }
) {}

/** Anything an agent run can fail with. Custom AgentRunner layers fail with these too. */
export type AgentError =
  | ProviderUnreachable
  | ProviderAuthRejected
  | ProviderRateLimited
  | ProviderFailed
  | ProviderTimeout
  | SessionBusy
  | GatewayBusy
  | SessionStoreUnavailable

/** The gateway is shutting down: the request came too late, or its answer ran past the grace period. */
export class GatewayShuttingDown extends Schema.TaggedError<GatewayShuttingDown>()("GatewayShuttingDown", {}) {}

/** Everything the HTTP surface can answer with besides success. */
export type GatewayError =
  | EndpointDisabled
  | RouteNotFound
  | MethodNotAllowed
  | Unauthorized
  | AuthRateLimited
  | KeyRateLimited
  | MalformedHttp
  | HeadersTooLarge
  | RequestTimeout
  | PayloadTooLarge
  | UnsupportedContentEncoding
  | InvalidJson
  | InvalidRequest
  | AgentNotFound
  | PreviousResponseNotFound
  | ResponseNotFound
  | SessionNotFound
  | SessionInUse
  | GatewayShuttingDown
  | AgentError

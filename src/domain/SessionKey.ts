/** Which session a run belongs to (see access/SessionKeys.ts for how a request's key is chosen). */
export interface SessionKey {
  readonly value: string
  /**
   * Every kind but `ephemeral` names a stable session; `ephemeral` ones live for one request.
   * `response`: a stored Responses API response's session, which `previous_response_id` continues.
   */
  readonly kind: "header" | "conversation" | "user" | "response" | "ephemeral"
  /** The API key the session belongs to (its id); absent for the gateway's own secret. */
  readonly owner?: string | undefined
}

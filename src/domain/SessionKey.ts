/** Which session a run belongs to (see access/SessionKeys.ts for how a request's key is chosen). */
export interface SessionKey {
  readonly value: string
  /**
   * Every kind but `ephemeral` names a stable session; `ephemeral` ones live for one request.
   * `response`: a stored Responses API response's session, which `previous_response_id` continues.
   */
  readonly kind: "header" | "conversation" | "user" | "response" | "ephemeral"
}

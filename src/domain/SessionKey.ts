/** Which session a run belongs to (see access/SessionKeys.ts for how a request's key is chosen). */
export interface SessionKey {
  readonly value: string
  /** Every kind but `ephemeral` names a stable session; `ephemeral` ones live for one request. */
  readonly kind: "header" | "conversation" | "user" | "ephemeral"
  /** The API key the session belongs to (its id); absent for the gateway's own secret. */
  readonly owner?: string | undefined
}

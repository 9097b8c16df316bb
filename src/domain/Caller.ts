/**
 * Who is calling: the gateway's own secret (or anyone, without auth), which may do everything, or
 * one of `gateway.auth.keys`, limited to its agents and to the sessions made with it.
 */

export interface Caller {
  /** The API key's id; undefined for the gateway's own secret (or no auth). Never the token. */
  readonly keyId: string | undefined
  /**
   * Who owns what the caller stores (the Responses API's responses; see access/Owner.ts): an API
   * key by its id, the gateway's secret by its hash, everyone without auth as `anonymous`.
   */
  readonly owner: string
  /** The agents the caller may use: all of them, or these ids. */
  readonly agents: "*" | ReadonlyArray<string>
  /** Counts the tokens a run of the caller used against its key's limit (nothing without one). */
  readonly spend: (tokens: number) => void
}

/**
 * No auth: every agent and every session, all callers the one owner. The gateway's secret is this
 * with an owner of its own (access/Auth.ts).
 */
export const gateway: Caller = { keyId: undefined, owner: "anonymous", agents: "*", spend: () => undefined }

/** Whether the caller may use the agent. */
export const mayUse = (caller: Caller, agentId: string): boolean =>
  caller.agents === "*" || caller.agents.includes(agentId)

/** What the caller may see of a list of agents. */
export const visible = <A extends { readonly id: string }>(
  caller: Caller,
  agents: ReadonlyArray<A>
): ReadonlyArray<A> => caller.agents === "*" ? agents : agents.filter((agent) => mayUse(caller, agent.id))

/**
 * The prefix of the session keys made with an API key: the same `user` under two keys is two
 * sessions. The gateway's secret keeps the bare keys, so sessions made before keys stay reachable.
 */
export const sessionPrefix = (keyId: string) => `key:${keyId}:`

/** A session key as the caller owns it (unchanged for the gateway's secret; never prefixed twice). */
export const ownKey = (caller: Caller, sessionKey: string): string => {
  if (caller.keyId === undefined) return sessionKey
  const prefix = sessionPrefix(caller.keyId)
  return sessionKey.startsWith(prefix) ? sessionKey : prefix + sessionKey
}

/** Whether the caller may see a session stored with `owner` (a key id, or null for the gateway's). */
export const owns = (caller: Caller, owner: string | null): boolean =>
  caller.keyId === undefined || caller.keyId === owner

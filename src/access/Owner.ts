/**
 * Who owns what a caller's requests leave behind (the Responses API's stored responses), as the
 * gate knows the caller: the one place that says it.
 */
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"

/**
 * An API key owns by its id, not its token: a key keeps what it stored when its token is rotated in
 * the config, and no two keys share an owner.
 */
export const ofKey = (keyId: string): string => `key:${keyId}`

/** The gateway's own secret owns by its SHA-256 (never the secret itself). */
export const ofSecret = (secret: Redacted.Redacted<string>): string =>
  `sha256:${Crypto.createHash("sha256").update(Redacted.value(secret)).digest("hex")}`

/**
 * Who made a request, as the owner of what it leaves behind (the Responses API's stored
 * responses): the one place that says it, so that it can become a scoped key's id.
 */
import * as Crypto from "node:crypto"
import { bearerValue } from "./Bearer.js"

/** The owner when auth is off: every caller is the same one. */
export const ANONYMOUS = "anonymous"

/**
 * The owner of a request: the SHA-256 of its bearer secret (never the secret itself), or
 * `anonymous` when the gateway checks none (auth mode `none`).
 */
export const ownerOf = (authorization: string | undefined, authChecked: boolean): string => {
  const secret = bearerValue(authorization)
  return !authChecked || secret === undefined
    ? ANONYMOUS
    : `sha256:${Crypto.createHash("sha256").update(secret).digest("hex")}`
}

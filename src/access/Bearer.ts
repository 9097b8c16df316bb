/**
 * The bearer secret check, constant-time: `Authorization: Bearer <secret>`, the prefix
 * case-insensitive and the value trimmed (as the reference gateway reads it).
 */
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"

const digest = (value: string) => Crypto.createHash("sha256").update(value).digest()

/** The value of an `Authorization: Bearer <value>` header, if it is one. */
export const bearerValue = (header: string | undefined): string | undefined =>
  header === undefined ? undefined : /^bearer\s+(.+)$/is.exec(header.trim())?.[1]?.trim()

/**
 * Whether an `Authorization` header carries `secret`. Digests are compared, so the check takes as
 * long whatever was sent (a missing header as long as a wrong one) and says nothing of the
 * secret's length.
 */
export const matcher = (secret: Redacted.Redacted<string>) => {
  const expected = digest(Redacted.value(secret))
  return (authorization: string | undefined): boolean => {
    const presented = bearerValue(authorization)
    return Crypto.timingSafeEqual(digest(presented ?? ""), expected) && presented !== undefined
  }
}

/**
 * Which of several secrets an `Authorization` header carries, if any. Every secret's digest is
 * compared, with no early exit, so the time taken says nothing of which one (or none) matched.
 */
export const identifier = <A>(secrets: ReadonlyArray<readonly [A, Redacted.Redacted<string>]>) => {
  const expected = secrets.map(([owner, secret]) => [owner, digest(Redacted.value(secret))] as const)
  return (authorization: string | undefined): A | undefined => {
    const presented = bearerValue(authorization)
    const sent = digest(presented ?? "")
    let found: A | undefined
    for (const [owner, secret] of expected) {
      if (Crypto.timingSafeEqual(sent, secret) && found === undefined) found = owner
    }
    return presented === undefined ? undefined : found
  }
}

/**
 * How an error message quotes what the client sent: short, and with invisible characters shown.
 */

/** The most characters of a client's value an error message quotes: a 200 KB value makes no 200 KB error. */
export const MAX_QUOTED_LENGTH = 100

/**
 * Characters a reader cannot see: controls, format characters (a byte-order mark, zero-width
 * spaces), line separators, lone surrogates, private and unassigned code points.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/gu

/** `\uXXXX` for each UTF-16 unit of the character. */
const escaped = (char: string) =>
  char.split("").map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`).join("")

/**
 * Client text as an error message shows it: its first `MAX_QUOTED_LENGTH` characters (then `…`),
 * invisible ones escaped. Every message that quotes the client goes through here or `quote`.
 */
export const excerpt = (text: string): string => {
  if (text.length <= MAX_QUOTED_LENGTH) return text.replace(INVISIBLE, escaped)
  // Not between the halves of a surrogate pair.
  const end = /[\ud800-\udbff]/.test(text.charAt(MAX_QUOTED_LENGTH - 1)) ? MAX_QUOTED_LENGTH - 1 : MAX_QUOTED_LENGTH
  return `${text.slice(0, end).replace(INVISIBLE, escaped)}…`
}

/**
 * A client's value as an error message quotes it: as JSON, cut by `excerpt`. A long string is cut
 * before it is encoded; other values are encoded whole (they are no larger than the body).
 */
export const quote = (value: unknown): string =>
  excerpt(JSON.stringify(typeof value === "string" ? value.slice(0, MAX_QUOTED_LENGTH + 1) : value) ?? String(value))

/** A Schema issue's path as people write it: `messages[0].content`; cut, as its keys may be a client's. */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  excerpt(
    path.map((key, i) => typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`).join("")
  )

/** Reading parsed JSON of unknown shape: a field missing or of another type reads as `undefined`. */

export type Json = Record<string, unknown>

export const isRecord = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The value at `path` (object keys and array indexes), if there is one. */
export const field = (value: unknown, ...path: ReadonlyArray<string | number>): unknown =>
  path.reduce<unknown>(
    (at, key) =>
      typeof key === "number" ? (Array.isArray(at) ? at[key] : undefined) : isRecord(at) ? at[key] : undefined,
    value
  )

/** The objects of an array (anything else: none). */
export const records = (value: unknown): ReadonlyArray<Json> => Array.isArray(value) ? value.filter(isRecord) : []

/** A message's content as text: a string as it is, content parts' texts joined. */
export const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : records(content).flatMap((part) => typeof part.text === "string" ? [part.text] : []).join("")

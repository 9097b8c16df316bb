import { excerpt } from "./Errors.js"

/** A path as people write it: `messages[0].content`; cut by `excerpt`, as its keys may be a client's. */
export const format = (path: ReadonlyArray<PropertyKey>): string =>
  excerpt(path.map((key, i) => typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`).join(""))

/**
 * SessionKeys: which session a request belongs to. An explicit header wins, then the OpenAI `user`,
 * else a fresh key per request (stateless).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Crypto from "node:crypto"
import { InvalidRequest } from "./Errors.js"

export const SESSION_KEY_HEADER = "x-clawdbot-session-key"
export const SESSION_KEY_HEADERS: ReadonlyArray<string> = [SESSION_KEY_HEADER, "x-openclaw-session-key"]
export const MAX_SESSION_KEY_LENGTH = 512

export interface SessionKey {
  readonly value: string
  /** `header` and `user` keys name a stable session; `ephemeral` ones live for one request. */
  readonly kind: "header" | "user" | "ephemeral"
}

export interface SessionKeyInput {
  readonly agentId: string
  /** The value of the session-key header, if sent. */
  readonly header: Option.Option<string>
  /** The request's OpenAI `user`, if sent. */
  readonly user: Option.Option<string>
}

/** Printable ASCII only: the key is sent back in a response header. */
const isPrintable = (key: string) => /^[\x20-\x7e]*$/.test(key)

/** Characters a header cannot carry are percent-encoded, so any `user` gives a usable key. */
const headerSafe = (text: string) => text.replace(/[^\x20-\x7e]/gu, (char) => encodeURIComponent(char))

export class SessionKeys extends Context.Tag("clawgate/SessionKeys")<SessionKeys, {
  readonly resolve: (input: SessionKeyInput) => Effect.Effect<SessionKey, InvalidRequest>
}>() {
  /** Ephemeral keys from `newId` (a random UUID by default). */
  static readonly make = (newId: () => string = Crypto.randomUUID) =>
    SessionKeys.of({
      resolve: Effect.fn("SessionKeys.resolve")(function*({ agentId, header, user }: SessionKeyInput) {
        const explicit = header.pipe(Option.map((key) => key.trim()), Option.filter((key) => key.length > 0))
        if (Option.isSome(explicit)) {
          const key = explicit.value
          if (key.length > MAX_SESSION_KEY_LENGTH || !isPrintable(key)) {
            return yield* new InvalidRequest({
              message: `The ${SESSION_KEY_HEADER} header must be at most ${MAX_SESSION_KEY_LENGTH} ` +
                `printable ASCII characters.`,
              param: SESSION_KEY_HEADER
            })
          }
          return { value: key, kind: "header" } satisfies SessionKey
        }
        const named = user.pipe(Option.map((name) => name.trim()), Option.filter((name) => name.length > 0))
        if (Option.isSome(named)) {
          return { value: `agent:${agentId}:openai-user:${headerSafe(named.value.toLowerCase())}`, kind: "user" }
        }
        return { value: `agent:${agentId}:openai:${newId()}`, kind: "ephemeral" }
      })
    })

  static readonly layer = Layer.sync(SessionKeys, () => SessionKeys.make())
}

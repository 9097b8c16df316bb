/**
 * SessionKeys: which session a request belongs to. An explicit session-key header wins, then a
 * configured conversation header (such as Open WebUI's chat id), then the OpenAI `user`, else a
 * fresh key per request (stateless).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Crypto from "node:crypto"
import { type Caller, ownKey } from "../domain/Caller.js"
import { InvalidRequest } from "../domain/Errors.js"
import type { SessionKey } from "../domain/SessionKey.js"
import * as Telemetry from "../ops/Telemetry.js"

export const SESSION_KEY_HEADER = "x-clawdbot-session-key"
export const SESSION_KEY_HEADERS: ReadonlyArray<string> = [SESSION_KEY_HEADER, "x-openclaw-session-key"]
export const MAX_SESSION_KEY_LENGTH = 512

export type { SessionKey }

export interface SessionKeyInput {
  readonly agentId: string
  /** The value of the session-key header, if sent. */
  readonly header: Option.Option<string>
  /** A configured conversation header the request carries, and its value. */
  readonly conversation?: Option.Option<{ readonly header: string; readonly value: string }>
  /** The request's OpenAI `user`, if sent. */
  readonly user: Option.Option<string>
  /**
   * Who is asking: an API key's sessions are its own (their keys prefixed with its id), the
   * gateway's secret keeps the bare keys. Default: the gateway's secret.
   */
  readonly caller?: Caller | undefined
}

/** Printable ASCII only: the key is sent back in a response header. */
const isPrintable = (key: string) => /^[\x20-\x7e]*$/.test(key)

/**
 * Characters a header cannot carry are percent-encoded, so any `user` gives a usable key. Half a
 * surrogate pair, which JSON allows and `encodeURIComponent` throws on, first becomes U+FFFD (as
 * `String.prototype.toWellFormed` does; ES2023's lib does not declare it).
 */
const headerSafe = (text: string) =>
  text.replace(/\p{Surrogate}/gu, "\ufffd").replace(/[^\x20-\x7e]/gu, (char) => encodeURIComponent(char))

/** A header's value, trimmed (empty counts as absent), and refused if it cannot be a key. */
const checked = (value: Option.Option<string>, header: string) => {
  const key = value.pipe(Option.map((text) => text.trim()), Option.filter((text) => text.length > 0))
  return Option.isSome(key) && (key.value.length > MAX_SESSION_KEY_LENGTH || !isPrintable(key.value))
    ? new InvalidRequest({
      message: `The ${header} header must be at most ${MAX_SESSION_KEY_LENGTH} printable ASCII characters.`,
      param: header
    })
    : Effect.succeed(key)
}

export class SessionKeys extends Context.Tag("clawgate/SessionKeys")<SessionKeys, {
  readonly resolve: (input: SessionKeyInput) => Effect.Effect<SessionKey, InvalidRequest>
}>() {
  /** Ephemeral keys from `newId` (a random UUID by default). */
  static readonly make = (newId: () => string = Crypto.randomUUID) => {
    const unowned = Effect.fnUntraced(
      function*(
        { agentId, conversation, header, user }: SessionKeyInput
      ): Effect.fn.Return<SessionKey, InvalidRequest> {
        const explicit = yield* checked(header, SESSION_KEY_HEADER)
        if (Option.isSome(explicit)) return { value: explicit.value, kind: "header" } satisfies SessionKey
        const chat = conversation ?? Option.none()
        if (Option.isSome(chat)) {
          const chatId = yield* checked(Option.some(chat.value.value), chat.value.header)
          if (Option.isSome(chatId)) {
            return {
              value: `agent:${agentId}:${chat.value.header}:${chatId.value}`,
              kind: "conversation"
            } satisfies SessionKey
          }
        }
        const named = user.pipe(Option.map((name) => name.trim()), Option.filter((name) => name.length > 0))
        if (Option.isSome(named)) {
          return { value: `agent:${agentId}:openai-user:${headerSafe(named.value.toLowerCase())}`, kind: "user" }
        }
        return { value: `agent:${agentId}:openai:${newId()}`, kind: "ephemeral" }
      }
    )
    const resolve = (input: SessionKeyInput) => {
      const caller = input.caller
      return caller?.keyId === undefined ? unowned(input) : Effect.map(unowned(input), (key): SessionKey => ({
        ...key,
        value: ownKey(caller, key.value),
        owner: caller.keyId
      }))
    }
    return SessionKeys.of({ resolve: (input) => Telemetry.traced("SessionKeys.resolve")(resolve(input)) })
  }

  static readonly layer = Layer.sync(SessionKeys, () => SessionKeys.make())
}

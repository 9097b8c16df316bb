/** What the operations tests add to the kit: a grace period, and a session store that can be taken down. */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { type ConfigInput } from "../../src/config/ConfigFile.js"
import { SessionStoreUnavailable } from "../../src/domain/Errors.js"
import { SessionStore } from "../../src/store/SessionStore.js"
import { baseConfig } from "../kit/gateway.js"

/** `config` (default: the kit's) with `gateway.shutdownGraceMs` set. */
export const withGrace = (shutdownGraceMs: number, config: ConfigInput = baseConfig): ConfigInput => ({
  ...config,
  gateway: { ...config.gateway, shutdownGraceMs }
})

/** A session store whose every call fails while `up` is false. */
export const switchableStore = (up: Ref.Ref<boolean>): Layer.Layer<SessionStore> => {
  const whileUp = <A>(value: A) => () =>
    Effect.flatMap(
      Ref.get(up),
      (ok) => ok ? Effect.succeed(value) : Effect.fail(new SessionStoreUnavailable({ cause: "down" }))
    )
  return Layer.succeed(
    SessionStore,
    SessionStore.of({
      load: whileUp([]),
      commit: whileUp(undefined),
      info: whileUp(Option.none()),
      list: whileUp({ sessions: [], hasMore: false }),
      reset: whileUp(undefined),
      remove: whileUp(undefined)
    })
  )
}

/**
 * ResponseStore: the service the Responses endpoint keeps its stored responses in
 * (./StoredResponses.ts), in the session store's database.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { SessionStore } from "./SessionStore.js"
import { memory, type ResponseStoreShape } from "./StoredResponses.js"

export type { StoredResponse } from "./StoredResponses.js"

export class ResponseStore extends Context.Tag("clawgate/ResponseStore")<ResponseStore, ResponseStoreShape>() {
  /** The session store's own (same database), or one in memory when it has none. */
  static readonly layer = Layer.effect(
    ResponseStore,
    Effect.map(SessionStore, (store) => ResponseStore.of(store.responses ?? memory()))
  )
}

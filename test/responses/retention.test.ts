/**
 * The retention of stored responses: `prune`, on the SQLite store and in memory (those saved before
 * the cutoff go, with their output items; those saved since stay, items and all), and the
 * endpoint, which removes the responses past `retentionDays` before it reads or writes any.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import * as Owner from "../../src/access/Owner.js"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { ResponseStore } from "../../src/store/ResponseStore.js"
import { SessionStore } from "../../src/store/SessionStore.js"
import { memory, type ResponseStoreShape } from "../../src/store/StoredResponses.js"
import { testGateway, TOKEN } from "../kit/gateway.js"
import { field } from "../kit/json.js"
import { memoryStore } from "../kit/store.js"
import { byId, createJson, responsesConfig } from "./kit.js"

const DAY_MS = 24 * 60 * 60 * 1000

/** A response of `owner`'s with one output item, `<id>_item`. */
const saved = (store: ResponseStoreShape, id: string) =>
  store.save(
    { id, owner: "o", agentId: "main", sessionKey: `resp:${id}`, body: JSON.stringify({ id }) },
    [{ id: `${id}_item`, body: JSON.stringify({ id: `${id}_item` }) }]
  )

const prunes = <R>(store: Effect.Effect<ResponseStoreShape, never, R>) =>
  Effect.gen(function*() {
    const responses = yield* store
    yield* saved(responses, "resp_old")
    yield* TestClock.adjust(10 * DAY_MS)
    yield* saved(responses, "resp_new")
    yield* TestClock.adjust(DAY_MS)

    // A cutoff between the two: the older goes, the newer stays.
    expect(yield* responses.prune(Date.UTC(1970, 0, 1) + 5 * DAY_MS)).toBe(1)
    expect(yield* responses.find("resp_old", "o")).toEqual(Option.none())
    expect(Option.map(yield* responses.find("resp_new", "o"), (found) => found.id)).toEqual(Option.some("resp_new"))
    expect([...(yield* responses.items(["resp_old_item", "resp_new_item"], "o")).keys()]).toEqual(["resp_new_item"])
    // Nothing is left to remove before that cutoff.
    expect(yield* responses.prune(Date.UTC(1970, 0, 1) + 5 * DAY_MS)).toBe(0)
  })

/** The Responses endpoint on, keeping stored responses until they are deleted. */
const keptForever: ConfigInput = responsesConfig({ responses: { enabled: true, retentionDays: 0 } })

describe("stored responses past their retention", () => {
  it.scoped("on SQLite: prune removes those saved before the cutoff, with their items", () =>
    prunes(ResponseStore).pipe(Effect.provide(ResponseStore.layer.pipe(Layer.provide(memoryStore())))))

  it.effect("in memory: prune removes those saved before the cutoff, with their items", () =>
    prunes(Effect.sync(memory)))

  /** A response of the gateway token's, saved at the epoch (the test clock's start). */
  const ancientResponse = Effect.gen(function*() {
    const responses = (yield* SessionStore).responses
    if (responses === undefined) return yield* Effect.dieMessage("the session store keeps no responses")
    const owner = Owner.ofSecret(Redacted.make(TOKEN))
    yield* responses.save(
      { id: "resp_ancient", owner, agentId: "main", sessionKey: "resp:ancient", body: JSON.stringify({}) },
      []
    ).pipe(Effect.provide(TestContext.TestContext))
    return { responses, owner }
  })

  it.scopedLive("the endpoint removes a response past retentionDays: GET 404, and it is gone from the store", () =>
    Effect.gen(function*() {
      const { owner, responses } = yield* ancientResponse
      const fresh = yield* createJson({ input: "hi" })
      const gone = yield* byId("GET", "resp_ancient")
      expect(gone.status).toBe(404)
      expect(field(gone.json, "error", "code")).toBe("response_not_found")
      expect(yield* responses.find("resp_ancient", owner)).toEqual(Option.none())
      expect((yield* byId("GET", String(field(fresh.json, "id")))).status).toBe(200)
    }).pipe(Effect.provide(testGateway({ config: responsesConfig() }))))

  it.scopedLive("with retentionDays 0 the endpoint keeps every response until it is deleted", () =>
    Effect.gen(function*() {
      yield* ancientResponse
      yield* createJson({ input: "hi" })
      expect((yield* byId("GET", "resp_ancient")).status).toBe(200)
    }).pipe(Effect.provide(testGateway({ config: keptForever }))))
})

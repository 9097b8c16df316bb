/**
 * The PostgreSQL session store in-process, on the machine's PostgreSQL in
 * a schema of each test's own: what the SQLite store does (transcripts, all-or-nothing turns,
 * tracked migrations), plus what sharing needs: stores starting at once on an empty schema, and
 * `lock`, one holder per session across connections, released when its scope closes, when its
 * waiter gives up, or when its connection drops.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Net from "node:net"
import { Config } from "../../src/config/Config.js"
import { ConfigError } from "../../src/config/ConfigError.js"
import type { ChatMessage } from "../../src/domain/Run.js"
import { SessionStore } from "../../src/store/SessionStore.js"
import { assistant, user } from "../kit/messages.js"
import { storedTurn } from "../kit/store.js"
import { BOUND, freshSchema, type TestSchema } from "./pg.js"

/** A store on the schema, opened for the scope (each call: a store of its own, own pools). */
const open = (schema: TestSchema) =>
  Layer.build(Layer.fresh(SessionStore.layerPg({ url: Redacted.make(schema.url), maxConcurrentRuns: 4 }))).pipe(
    Effect.map((context) => Context.get(context, SessionStore)),
    Effect.orDie
  )

/** The store's `lock`, which the PostgreSQL store always has. */
const lockOf = (store: SessionStore["Type"]) => {
  const lock = store.lock
  if (lock === undefined) throw new Error("the PostgreSQL store has no lock")
  return lock
}

/** Takes `sessionKey`'s lock in a scope of its own; `release` closes it. */
const hold = (store: SessionStore["Type"], sessionKey: string) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const acquired = yield* Deferred.make<void, unknown>()
    const fiber = yield* lockOf(store)(sessionKey).pipe(
      Scope.extend(scope),
      Effect.exit,
      Effect.flatMap((exit) => Deferred.done(acquired, exit)),
      Effect.fork
    )
    return {
      acquired: Deferred.await(acquired).pipe(
        Effect.timeoutFail({ duration: BOUND, onTimeout: () => new Error(`${sessionKey}'s lock was never granted`) }),
        Effect.orDie
      ),
      isAcquired: Deferred.isDone(acquired),
      /** Gives up waiting (or holding): interrupts the wait and closes the scope. */
      release: Effect.zipRight(Fiber.interrupt(fiber), Scope.close(scope, Exit.void))
    }
  })

describe("SessionStore (PostgreSQL)", () => {
  it.scopedLive("transcripts: empty when new, the most recent N oldest first, sessions apart, tool calls and usage kept", () =>
    Effect.gen(function*() {
      const schema = yield* freshSchema
      const store = yield* open(schema)
      expect(yield* store.load("nobody", 100)).toEqual([])
      yield* store.commit("s", storedTurn("r1", [user("one")], "reply one"))
      yield* store.commit("other", storedTurn("r9", [user("elsewhere")], "not here"))
      yield* store.commit("s", storedTurn("r2", [user("two"), user("two more")], "reply two"))
      const tool: ChatMessage = { role: "tool", content: "{\"temp\":21}", name: "weather", toolCallId: "call_9" }
      const called: ChatMessage = {
        role: "assistant",
        content: "",
        toolCalls: [{ id: "call_9", name: "weather", arguments: "{ \"city\": \"Oslo\" }" }]
      }
      yield* store.commit("s", { ...storedTurn("r3", [called, tool], "It is 21 degrees."), toolCalls: undefined })
      expect(yield* store.load("s", 100)).toEqual([
        user("one"),
        assistant("reply one"),
        user("two"),
        user("two more"),
        assistant("reply two"),
        called,
        tool,
        assistant("It is 21 degrees.")
      ])
      expect(yield* store.load("s", 2)).toEqual([tool, assistant("It is 21 degrees.")])
      expect(yield* store.load("other", 100)).toEqual([user("elsewhere"), assistant("not here")])
      const rows = yield* schema.sql<
        { role: string; run_id: string; prompt_tokens: number | null; completion_tokens: number | null }
      >`
        SELECT role, run_id, prompt_tokens, completion_tokens FROM ${schema.sql(schema.name)}.session_messages
        WHERE session_key = 's' AND run_id = 'r1' ORDER BY seq`
      expect(rows).toEqual([
        { role: "user", run_id: "r1", prompt_tokens: null, completion_tokens: null },
        { role: "assistant", run_id: "r1", prompt_tokens: 11, completion_tokens: 4 }
      ])
    }))

  it.scopedLive("a turn that cannot be written entirely is not written at all, and fails with SessionStoreUnavailable", () =>
    Effect.gen(function*() {
      const schema = yield* freshSchema
      const store = yield* open(schema)
      const { name, sql } = schema
      yield* store.commit("s", storedTurn("r1", [user("first")], "first reply"))
      // The database refuses one row of the next turn: its assistant reply.
      yield* sql`CREATE FUNCTION ${sql(name)}.refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.content = 'boom' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$`
      yield* sql`CREATE TRIGGER refuse_boom BEFORE INSERT ON ${sql(name)}.session_messages
        FOR EACH ROW EXECUTE FUNCTION ${sql(name)}.refuse_boom()`
      const error = yield* Effect.flip(
        store.commit("s", storedTurn("r2", [user("second"), user("second, more")], "boom"))
      )
      expect(error._tag).toBe("SessionStoreUnavailable")
      expect(yield* store.load("s", 100)).toEqual([user("first"), assistant("first reply")])
      // The store goes on working: the next turn follows the first.
      yield* store.commit("s", storedTurn("r3", [user("third")], "third reply"))
      expect(yield* store.load("s", 100)).toEqual([
        user("first"),
        assistant("first reply"),
        user("third"),
        assistant("third reply")
      ])
    }))

  it.scopedLive("stores starting at once on an empty schema all come up; the migrations run once and are tracked", () =>
    Effect.gen(function*() {
      const schema = yield* freshSchema
      const { name, sql } = schema
      // Four processes' worth of stores, each with its own connections, opened together.
      const stores = yield* Effect.all(Array.from({ length: 4 }, () => open(schema)), { concurrency: "unbounded" })
      yield* stores[0]!.commit("s", storedTurn("r1", [user("written by one")], "seen by all"))
      for (const store of stores) {
        expect(yield* store.load("s", 10)).toEqual([user("written by one"), assistant("seen by all")])
      }
      const migrations = sql<{ readonly migration_id: number }>`
        SELECT migration_id FROM ${sql(name)}.clawgate_migrations ORDER BY migration_id`.pipe(
        Effect.map((rows) => rows.map((row) => row.migration_id))
      )
      const first = yield* migrations
      expect(first.length).toBeGreaterThan(0)
      expect(new Set(first).size).toBe(first.length)
      // Opened again later: the turns are kept, no migration recorded twice.
      const again = yield* open(schema)
      expect(yield* again.load("s", 10)).toEqual([user("written by one"), assistant("seen by all")])
      expect(yield* migrations).toEqual(first)
    }))

  it.scopedLive("lock: one holder per session across stores; the next waits until the holder's scope closes", () =>
    Effect.gen(function*() {
      const schema = yield* freshSchema
      const [one, two] = yield* Effect.all([open(schema), open(schema)])
      const first = yield* hold(one!, "s")
      yield* first.acquired
      // Another session is not held up by it.
      const elsewhere = yield* hold(two!, "t")
      yield* elsewhere.acquired
      const second = yield* hold(two!, "s")
      yield* schema.someoneWaitsFor("s")
      expect(yield* second.isAcquired).toBe(false)
      yield* first.release
      yield* second.acquired
      yield* Effect.all([second.release, elsewhere.release])
      // Nothing left held: the connections went back to their pools unlocked.
      expect(yield* schema.holderOf("s")).toBeUndefined()
      expect(yield* schema.holderOf("t")).toBeUndefined()
    }))

  it.scopedLive("lock: a waiter that gives up leaves nothing held; the holder's dropped connection frees the session", () =>
    Effect.gen(function*() {
      const schema = yield* freshSchema
      const [one, two, three] = yield* Effect.all([open(schema), open(schema), open(schema)])
      const holder = yield* hold(one!, "s")
      yield* holder.acquired
      const quitter = yield* hold(two!, "s")
      yield* schema.someoneWaitsFor("s")
      yield* quitter.release
      const waiter = yield* hold(three!, "s")
      yield* schema.someoneWaitsFor("s")
      // The holder's connection drops (as when its process dies): the session is free.
      const pid = yield* schema.holderOf("s")
      expect(pid).toBeDefined()
      yield* schema.sql`SELECT pg_terminate_backend(${pid ?? 0})`
      yield* waiter.acquired
      expect(yield* schema.holderOf("s")).not.toBe(pid)
      yield* waiter.release
      // The quitter did not end up holding it after all.
      expect(yield* schema.holderOf("s")).toBeUndefined()
      yield* holder.release
    }))

  it.scopedLive("SessionStore.layer opens the PostgreSQL store that session.store names", () =>
    Effect.gen(function*() {
      const schema = yield* freshSchema
      const config = Config.layerFrom({ session: { store: { kind: "postgres", url: schema.url } } })
      const context = yield* Layer.build(SessionStore.layer.pipe(Layer.provide(Layer.merge(config, NodeContext.layer))))
      const store = Context.get(context, SessionStore)
      yield* store.commit("s", storedTurn("r1", [user("through the config")], "stored"))
      expect(yield* schema.transcript("s")).toEqual([
        { role: "user", content: "through the config" },
        { role: "assistant", content: "stored" }
      ])
    }))

  it.scopedLive("a database that cannot be reached is a config error naming session.store.url, without the password", () =>
    Effect.gen(function*() {
      const port = yield* Effect.async<number>((resume) => {
        const server = Net.createServer().listen(0, "127.0.0.1", () => {
          const address = server.address()
          server.close(() => resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0)))
        })
      })
      const url = `postgres://postgres:hunter2secret@127.0.0.1:${port}/test`
      const config = Config.layerFrom({ session: { store: { kind: "postgres", url } } })
      const error = yield* Effect.flip(
        Effect.provide(SessionStore, SessionStore.layer.pipe(Layer.provide(Layer.merge(config, NodeContext.layer))))
      )
      expect(error).toBeInstanceOf(ConfigError)
      expect(error.message).toMatch(/session\.store\.url: the session store cannot be opened/)
      expect(error.message).not.toContain("hunter2secret")
    }))
})

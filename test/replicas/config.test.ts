/**
 * `session.store`: SQLite by `path` stays the default; `{ kind:
 * "postgres", url }` names a shared PostgreSQL store, its URL kept redacted and taken from the
 * environment with `${NAME}`; a half-written store section is refused at its key.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { DEFAULT_SESSION_STORE } from "../../src/config/ConfigFile.js"
import { decode, load } from "../../src/config/Load.js"

const env = { token: Option.none(), password: Option.none() }

const storeOf = (store: unknown) =>
  Either.map(
    decode({ session: { store } }, env),
    ({ settings, unknownKeys }) => ({ store: settings.session.store, unknownKeys })
  )

describe("session.store", () => {
  it("is a SQLite file by default, and by path alone", () => {
    expect(Either.map(decode({}, env), ({ settings }) => settings.session.store)).toEqual(
      Either.right({ kind: "sqlite", path: DEFAULT_SESSION_STORE })
    )
    expect(storeOf({ path: "/var/lib/clawgate/s.sqlite" })).toEqual(
      Either.right({ store: { kind: "sqlite", path: "/var/lib/clawgate/s.sqlite" }, unknownKeys: [] })
    )
    expect(storeOf({ kind: "sqlite", path: ":memory:" })).toEqual(
      Either.right({ store: { kind: "sqlite", path: ":memory:" }, unknownKeys: [] })
    )
  })

  it("kind postgres takes a url, kept redacted", () => {
    const url = "postgres://clawgate:s3cret@db.internal:5432/clawgate"
    const decoded = storeOf({ kind: "postgres", url })
    if (Either.isLeft(decoded)) throw new Error(decoded.left.join("\n"))
    const { store, unknownKeys } = decoded.right
    expect(unknownKeys).toEqual([])
    if (store.kind !== "postgres") throw new Error(`decoded as ${store.kind}`)
    expect(Redacted.value(store.url)).toBe(url)
    expect(String(store.url)).not.toContain("s3cret")
    expect(JSON.stringify(store)).not.toContain("s3cret")
  })

  it("a store section that cannot be meant is refused at its key", () => {
    expect(storeOf({ kind: "postgres" })).toEqual(
      Either.left(["session.store.url: is missing (kind \"postgres\" needs a url)"])
    )
    expect(storeOf({ kind: "postgres", url: "" })).toEqual(
      Either.left(["session.store.url: Expected a non empty string, actual \"\""])
    )
    // A url without the kind would silently leave each process a SQLite file of its own.
    expect(storeOf({ url: "postgres://db/clawgate" })).toEqual(
      Either.left(["session.store.kind: expected \"postgres\" with a url"])
    )
    expect(storeOf({ kind: "mysql", url: "mysql://db" })).toEqual(
      Either.left(["session.store.kind: expected \"sqlite\" or \"postgres\""])
    )
  })

  it.scoped("the url may come from the environment, as ${NAME} in the file", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "clawgate-store-config-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      const file = Path.join(dir, "clawgate.json5")
      Fs.writeFileSync(file, "{ session: { store: { kind: 'postgres', url: '${STORE_URL}' } } }")
      const settings = yield* load(Option.some(file)).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["STORE_URL", "postgres://u:pw@db:5432/sessions"]])))
      )
      const store = settings.session.store
      expect(store.kind === "postgres" ? Redacted.value(store.url) : store.kind).toBe(
        "postgres://u:pw@db:5432/sessions"
      )

      const unset = yield* Effect.flip(
        load(Option.some(file)).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))
      )
      expect(unset.message).toContain("session.store.url: environment variable STORE_URL is not set")
    }).pipe(Effect.provide(NodeContext.layer)))
})

/**
 * Many replicas: two `clawgate serve` processes on one PostgreSQL store, started at once
 * on an empty schema. A session is shared between them: requests on it through both run one at a
 * time, each seeing the turns before it, all turns stored once; and a process killed mid-run
 * frees the session for the other, whose waiting request then goes on.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Path from "node:path"
import { controlledProvider } from "../fakes/ControlledProvider.js"
import { requireBuild, tempDir } from "../kit/process.js"
import { lines, replicaConfigFile, startGateway, turnOn } from "./harness.js"
import { freshSchema } from "./pg.js"

requireBuild()

/** Two processes start in each test: seconds on a busy machine. */
const TIMEOUT = 90_000

/** A fresh schema, the fake provider, and two gateway processes on both, started together. */
const replicas = Effect.gen(function*() {
  const schema = yield* freshSchema
  const fake = yield* controlledProvider
  const dir = yield* tempDir
  const config = replicaConfigFile(dir, fake.baseUrl)
  const [a, b] = yield* Effect.all(
    [startGateway(config, Path.join(dir, "a"), schema.url), startGateway(config, Path.join(dir, "b"), schema.url)],
    { concurrency: 2 }
  )
  return { schema, fake, a, b }
})

describe("replicas on one PostgreSQL store", () => {
  it.scopedLive(
    "a request on a session held by the other process waits for its run to end, then sees its turn",
    () =>
      Effect.gen(function*() {
        const { a, b, fake, schema } = yield* replicas
        const first = yield* Effect.fork(turnOn(a, "shared", "one"))
        const call1 = yield* fake.nextCall
        expect(call1.said).toBe("one")

        const second = yield* Effect.fork(turnOn(b, "shared", "two"))
        yield* schema.someoneWaitsFor("shared")
        // B's run waits for the session: its provider call has not started.
        expect(yield* fake.waiting).toBe(0)

        yield* call1.reply("reply one")
        expect(yield* Fiber.join(first)).toEqual({ status: 200, text: "reply one" })
        const call2 = yield* fake.nextCall
        // B's call started once A's had ended: never two at once.
        expect(fake.mostOpenAtOnce()).toBe(1)
        // The model behind B is given A's turn: the replicas share the session.
        expect(lines(call2.messages)).toEqual(["user: one", "assistant: reply one", "user: two"])
        yield* call2.reply("reply two")
        expect(yield* Fiber.join(second)).toEqual({ status: 200, text: "reply two" })

        expect(lines(yield* schema.transcript("shared"))).toEqual([
          "user: one",
          "assistant: reply one",
          "user: two",
          "assistant: reply two"
        ])
      }),
    TIMEOUT
  )

  it.scopedLive(
    "a burst on one session through both processes runs one at a time; every turn is stored once, in order",
    () =>
      Effect.gen(function*() {
        const { a, b, fake, schema } = yield* replicas
        const said = ["a1", "b1", "a2", "b2", "a3", "b3"]
        const answers = yield* Effect.fork(Effect.all(
          said.map((content) => turnOn(content.startsWith("a") ? a : b, "burst", content)),
          { concurrency: "unbounded" }
        ))
        const seen: Array<ReadonlyArray<string>> = []
        for (let i = 0; i < said.length; i++) {
          const call = yield* fake.nextCall
          seen.push(lines(call.messages))
          yield* call.reply(`re ${call.said}`)
        }
        const replies = yield* Fiber.join(answers)
        expect(replies.map((reply) => reply.status)).toEqual(said.map(() => 200))
        expect(replies.map((reply) => reply.text)).toEqual(said.map((content) => `re ${content}`))
        expect(fake.mostOpenAtOnce()).toBe(1)

        const stored = lines(yield* schema.transcript("burst"))
        expect(stored).toHaveLength(2 * said.length)
        // Each message once, each reply right after its message.
        expect([...stored.filter((line) => line.startsWith("user: "))].sort()).toEqual(
          said.map((content) => `user: ${content}`).sort()
        )
        for (let i = 0; i < stored.length; i += 2) {
          expect(stored[i + 1]).toBe(stored[i]!.replace("user: ", "assistant: re "))
        }
        // Each run was given every turn stored before it, whichever process ran them.
        seen.forEach((messages, i) => expect(messages).toEqual(stored.slice(0, 2 * i + 1)))
      }),
    TIMEOUT
  )

  it.scopedLive(
    "killing the process running a session's turn frees the session: the other's waiting request goes on",
    () =>
      Effect.gen(function*() {
        const { a, b, fake, schema } = yield* replicas
        const doomed = yield* Effect.fork(turnOn(a, "orphaned", "doomed"))
        const call1 = yield* fake.nextCall
        expect(call1.said).toBe("doomed")

        const survivor = yield* Effect.fork(turnOn(b, "orphaned", "survivor"))
        yield* schema.someoneWaitsFor("orphaned")
        expect(yield* fake.waiting).toBe(0)

        a.kill("SIGKILL")
        yield* a.exited
        const call2 = yield* fake.nextCall
        expect(call2.said).toBe("survivor")
        // The killed run's turn was never stored: B's model sees only the new message.
        expect(lines(call2.messages)).toEqual(["user: survivor"])
        yield* call2.reply("saved")
        expect(yield* Fiber.join(survivor)).toEqual({ status: 200, text: "saved" })
        expect(Exit.isFailure(yield* Fiber.await(doomed))).toBe(true)

        expect(lines(yield* schema.transcript("orphaned"))).toEqual(["user: survivor", "assistant: saved"])
      }),
    TIMEOUT
  )
})

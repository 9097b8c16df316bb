/**
 * The sessions API on a PostgreSQL store shared by two gateways (replicas, in this process): a
 * session made on one is listed, read, reset and deleted on the other, with the API keys' walls
 * intact, and a run in flight on one replica makes the other answer 409.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type { ConfigInput } from "../../src/config/ConfigFile.js"
import { controlledProvider } from "../fakes/ControlledProvider.js"
import { baseConfig, baseUrl, testGateway, TOKEN } from "../kit/gateway.js"
import { json, sendTo, userSays } from "../kit/http.js"
import { field, records } from "../kit/json.js"
import { freshSchema } from "./pg.js"

const APP = "app-token"
const BOT = "bot-token"

const path = (key: string) => `/v1/sessions/${encodeURIComponent(key)}`

describe("the sessions API on PostgreSQL, across replicas", () => {
  it.scopedLive("one replica's sessions are managed on another, each key seeing only its own", () =>
    Effect.gen(function*() {
      const schema = yield* freshSchema
      const provider = yield* controlledProvider
      const config: ConfigInput = {
        ...baseConfig,
        gateway: {
          ...baseConfig.gateway,
          auth: {
            mode: "token",
            token: TOKEN,
            keys: [{ id: "app", token: APP }, { id: "bot", token: BOT }]
          }
        },
        models: {
          providers: { ctl: { api: "openai-completions", baseUrl: provider.baseUrl, retry: { attempts: 0 } } }
        },
        agents: { list: [{ id: "main", default: true, model: "ctl/slow" }] },
        session: { store: { kind: "postgres", url: schema.url } }
      }
      const replica = () =>
        Effect.flatMap(Layer.build(testGateway({ config })), (context) => Effect.provide(baseUrl, context)).pipe(
          Effect.orDie
        )
      const one = yield* replica()
      const two = yield* replica()
      const say = (url: string, user: string, content: string, token: string) =>
        Effect.gen(function*() {
          const asked = yield* Effect.fork(
            sendTo(url, "/v1/chat/completions", { token, body: userSays(content, { user }) })
          )
          const call = yield* provider.nextCall
          return { call, asked }
        })
      const finished = (turn: Effect.Effect.Success<ReturnType<typeof say>>) =>
        Effect.gen(function*() {
          yield* turn.call.reply(`re: ${turn.call.said}`)
          const response = yield* Fiber.join(turn.asked)
          expect(response.status).toBe(200)
          yield* json(response)
          return response.headers.get("x-clawdbot-session-key") ?? ""
        })

      const mine = yield* finished(yield* say(one, "lee", "app on one", APP))
      const theirs = yield* finished(yield* say(one, "lee", "bot on one", BOT))
      expect(mine).not.toBe(theirs)
      const listed = yield* json(yield* sendTo(two, "/v1/sessions", { token: APP }))
      expect(records(field(listed, "data")).map((entry) => entry.key)).toEqual([mine])
      expect(field(yield* json(yield* sendTo(two, path(mine), { token: APP })), "messages")).toEqual([
        { role: "user", content: "app on one" },
        { role: "assistant", content: "re: app on one" }
      ])
      expect((yield* sendTo(two, path(theirs), { token: APP })).status).toBe(404)

      // A run in flight on replica one: replica two does not reset or delete under it.
      const running = yield* say(one, "lee", "still thinking", APP)
      expect((yield* sendTo(two, `${path(mine)}/reset`, { method: "POST", token: APP })).status).toBe(409)
      expect((yield* sendTo(two, path(mine), { method: "DELETE", token: APP })).status).toBe(409)
      yield* finished(running)
      const reset = yield* sendTo(two, `${path(mine)}/reset`, { method: "POST", token: APP })
      expect(reset.status).toBe(200)
      expect(yield* json(yield* sendTo(one, path(mine), { token: APP }))).toMatchObject({ turns: 0, messages: [] })
      expect((yield* sendTo(two, path(theirs), { method: "DELETE" })).status).toBe(200)
      expect((yield* sendTo(one, path(theirs), { token: BOT })).status).toBe(404)
    }))
})

/**
 * A crash (kill -9) mid-run loses no committed turn and leaves no half turn. The real gateway runs as a child process (`node dist/bin/main.js serve`; `npm test`
 * builds dist/ first, alone run `npm run build`) on a temp SQLite file, its agent on the
 * `openai-completions` provider pointed at a tiny fake server in this test that answers the first
 * request and hangs in the middle of the second. The child is killed with SIGKILL mid-run; the
 * file is then opened and read, and a new gateway goes on from it.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as NodeHttp from "node:http"
import type * as Net from "node:net"
import { requireBuild, startGateway } from "../gatewayProcess.js"

const TOKEN = "crash-token"
const SESSION = "agent:main:openai-user:crash"

requireBuild()

// ---------------------------------------------------------------------------------------------
// The fake provider: an OpenAI-compatible Chat Completions server that streams
// ---------------------------------------------------------------------------------------------

/** How the fake answers one request: all of `text`, or `text` and then nothing more, ever. */
type Script = { readonly answer: string } | { readonly hangAfter: string }

/** What the fake reads of a request: the messages the gateway sent the model. */
const ProviderRequest = Schema.parseJson(Schema.Struct({
  messages: Schema.Array(Schema.Struct({ role: Schema.String, content: Schema.Unknown }))
}))
type ProviderRequest = typeof ProviderRequest.Type
const decodeRequest = Schema.decodeUnknownSync(ProviderRequest)

const chunk = (delta: Record<string, unknown>, finishReason: string | null) =>
  `data: ${
    JSON.stringify({
      id: "chatcmpl-fake",
      object: "chat.completion.chunk",
      created: 1,
      model: "slow-model",
      choices: [{ index: 0, delta, finish_reason: finishReason }]
    })
  }\n\n`

/**
 * The fake on a loopback port, for the scope. Each request takes the next script; `requests`
 * gets each request's body once the fake has written what the script says to write first.
 */
const fakeProvider = (scripts: Array<Script>) =>
  Effect.gen(function*() {
    const requests = yield* Queue.unbounded<ProviderRequest>()
    const sockets = new Set<Net.Socket>()
    const server = NodeHttp.createServer((request, response) => {
      let raw = ""
      request.setEncoding("utf8")
      request.on("data", (part: string) => raw += part)
      request.on("end", () => {
        const body = decodeRequest(raw)
        const script = scripts.shift() ?? { answer: "unscripted" }
        response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
        if ("answer" in script) {
          response.write(chunk({ role: "assistant", content: script.answer }, null))
          response.write(chunk({}, "stop"))
          response.write(
            `data: ${
              JSON.stringify({
                id: "chatcmpl-fake",
                object: "chat.completion.chunk",
                created: 1,
                model: "slow-model",
                choices: [],
                usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 }
              })
            }\n\n`
          )
          response.end("data: [DONE]\n\n")
          Queue.unsafeOffer(requests, body)
        } else {
          // One chunk, flushed, then the answer hangs: the run is mid-way for as long as it lives.
          response.write(chunk({ role: "assistant", content: script.hangAfter }, null), () =>
            Queue.unsafeOffer(requests, body))
        }
      })
    })
    server.on("connection", (socket) => {
      sockets.add(socket)
      socket.on("close", () =>
        sockets.delete(socket))
    })
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
      () =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    const address = server.address()
    if (address === null || typeof address === "string") return yield* Effect.dieMessage("the fake has no port")
    return { baseUrl: `http://127.0.0.1:${address.port}/v1`, requests }
  })

// ---------------------------------------------------------------------------------------------
// Requests to the child
// ---------------------------------------------------------------------------------------------

/** A streamed chat request on a connection of its own; closed with the scope. */
const streamChat = (url: string, messages: ReadonlyArray<{ role: string; content: string }>) =>
  Effect.gen(function*() {
    const request = NodeHttp.request(`${url}/v1/chat/completions`, {
      method: "POST",
      agent: false,
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => request.destroy()))
    const response = yield* Effect.async<NodeHttp.IncomingMessage, Error>((resume) => {
      request.on("response", (response) => resume(Effect.succeed(response)))
      request.on("error", (error) => resume(Effect.fail(error)))
      request.end(JSON.stringify({ model: "clawdbot:main", user: "crash", stream: true, messages }))
    }).pipe(Effect.orDie)
    response.setEncoding("utf8")
    let text = ""
    const iterator = response[Symbol.asyncIterator]()
    return {
      status: response.statusCode,
      /** Reads until the body so far contains `needle`; the body so far. */
      readUntil: (needle: string) =>
        Effect.promise(async () => {
          while (!text.includes(needle)) {
            const next = await iterator.next()
            if (next.done === true) throw new Error(`the answer ended without ${JSON.stringify(needle)}:\n${text}`)
            text += String(next.value)
          }
          return text
        })
    }
  })

// ---------------------------------------------------------------------------------------------
// The store, read after the crash
// ---------------------------------------------------------------------------------------------

interface Row {
  readonly session_key: string
  readonly role: string
  readonly content: string
  readonly run_id: string
}

const readStore = (file: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [integrity] = yield* sql<{ readonly integrity_check: string }>`PRAGMA integrity_check`
    const rows = yield* sql<
      Row
    >`SELECT session_key, role, content, run_id FROM session_messages ORDER BY session_key, seq`
    return { integrity: integrity?.integrity_check, rows }
  }).pipe(Effect.scoped, Effect.provide(SqliteClient.layer({ filename: file })), Effect.orDie)

const configText = (options: { readonly baseUrl: string; readonly store: string }) =>
  JSON.stringify({
    gateway: {
      http: { endpoints: { chatCompletions: { enabled: true } } },
      auth: { mode: "token", token: TOKEN }
    },
    agents: { list: [{ id: "main", default: true, model: "slow/slow-model" }] },
    models: { providers: { slow: { api: "openai-completions", baseUrl: options.baseUrl, retry: { attempts: 0 } } } },
    session: { store: { path: options.store } }
  })

describe("a gateway killed with SIGKILL mid-run", () => {
  it.scopedLive("keeps every committed turn and no half of the one in flight; a new gateway goes on from the store", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "clawgate-crash-" })
      const store = `${dir}/state/sessions.sqlite`
      const config = `${dir}/clawgate.json5`
      const provider = yield* fakeProvider([
        { answer: "first answer" },
        { hangAfter: "half of the sec" },
        { answer: "third answer" }
      ])
      yield* fs.writeFileString(config, configText({ baseUrl: provider.baseUrl, store }))

      const gateway = yield* startGateway(config, dir)
      // Turn 1, committed: its answer has ended.
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const answer = yield* streamChat(gateway.url, [{ role: "user", content: "first question" }])
        expect(answer.status).toBe(200)
        return yield* answer.readUntil("data: [DONE]")
      }))
      expect(first).toContain("first answer")
      yield* Queue.take(provider.requests)

      // Turn 2, mid-run: the provider has the request and the client has the first words.
      const second = yield* streamChat(gateway.url, [
        { role: "user", content: "first question" },
        { role: "assistant", content: "first answer" },
        { role: "user", content: "second question" }
      ])
      expect(second.status).toBe(200)
      yield* Queue.take(provider.requests)
      yield* second.readUntil("half of the sec")
      gateway.kill("SIGKILL")
      expect((yield* gateway.exited).signal).toBe("SIGKILL")

      const afterCrash = yield* readStore(store)
      expect(afterCrash.integrity).toBe("ok")
      expect(afterCrash.rows.map(({ content, role, session_key }) => [session_key, role, content])).toEqual([
        [SESSION, "user", "first question"],
        [SESSION, "assistant", "first answer"]
      ])
      // One run wrote both rows.
      expect(new Set(afterCrash.rows.map((row) => row.run_id)).size).toBe(1)

      // A new gateway on the same file: the session goes on from turn 1, nothing of turn 2.
      const restarted = yield* startGateway(config, dir)
      const third = yield* Effect.scoped(Effect.gen(function*() {
        const answer = yield* streamChat(restarted.url, [{ role: "user", content: "third question" }])
        expect(answer.status).toBe(200)
        return yield* answer.readUntil("data: [DONE]")
      }))
      expect(third).toContain("third answer")
      const seen = yield* Queue.take(provider.requests)
      expect(seen.messages).toEqual([
        { role: "user", content: "first question" },
        { role: "assistant", content: "first answer" },
        { role: "user", content: "third question" }
      ])
      restarted.kill("SIGKILL")
      yield* restarted.exited
      const final = yield* readStore(store)
      expect(final.rows.map(({ content, role }) => [role, content])).toEqual([
        ["user", "first question"],
        ["assistant", "first answer"],
        ["user", "third question"],
        ["assistant", "third answer"]
      ])
    }).pipe(Effect.provide(NodeContext.layer)))
})

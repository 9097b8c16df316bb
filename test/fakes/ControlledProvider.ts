/**
 * A fake OpenAI-compatible Chat Completions provider on a loopback port that answers only when the
 * test says so: each request is handed to the test as a `ProviderCall`; a streamed answer sends a
 * chunk per `say` and ends on `finish`. Agents reach it as `api: "openai-completions"` with
 * `baseUrl` (in this process, or from a child gateway process). Where ./ChatCompletionsServer.ts
 * answers at once from a script, this one lets a test hold a run at any point.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as NodeHttp from "node:http"
import { field, records, textOf } from "../kit/json.js"
import { listenOnLoopback } from "./listen.js"

/** A chat message as the provider got it: its role and its content as text. */
export interface ProviderMessage {
  readonly role: string
  readonly content: string
}

export interface ProviderCall {
  /** The `model` of the request. */
  readonly model: string
  /** The request's messages. */
  readonly messages: ReadonlyArray<ProviderMessage>
  /** What the user said last. */
  readonly said: string
  /** The request's `Authorization` header. */
  readonly authorization: string | undefined
  readonly stream: boolean
  /** Sends a content chunk (the answer's head first, if not sent yet). */
  readonly say: (text: string) => Effect.Effect<void>
  /** Sends the finish chunk, usage and `[DONE]` (JSON with all that was said, when not streamed). */
  readonly finish: Effect.Effect<void>
  /** Says `text`, then finishes. */
  readonly reply: (text: string) => Effect.Effect<void>
  /** Completes when the gateway closed the connection before the answer ended. */
  readonly closedEarly: Effect.Effect<void>
}

export interface ControlledProvider {
  /** `http://127.0.0.1:<port>/v1`: a provider's `baseUrl`. */
  readonly baseUrl: string
  /** The next call the provider got, in arrival order. */
  readonly nextCall: Effect.Effect<ProviderCall>
  /** Calls received and not yet taken with `nextCall`. */
  readonly waiting: Effect.Effect<number>
  /** The most calls ever open (received and not answered) at once. */
  readonly mostOpenAtOnce: () => number
}

const messagesOf = (body: unknown): ReadonlyArray<ProviderMessage> =>
  records(field(body, "messages")).flatMap((message) =>
    typeof message.role === "string" ? [{ role: message.role, content: textOf(message.content) }] : []
  )

/** Starts the provider for the enclosing scope (stopped, open answers cut, when it closes). */
export const controlledProvider: Effect.Effect<ControlledProvider, never, Scope.Scope> = Effect.gen(function*() {
  const calls = yield* Queue.unbounded<ProviderCall>()
  let openCalls = 0
  let mostOpen = 0

  const handle = (req: NodeHttp.IncomingMessage, res: NodeHttp.ServerResponse, text: string) => {
    const body: unknown = JSON.parse(text)
    const stream = field(body, "stream") === true
    const model = String(field(body, "model") ?? "")
    const messages = messagesOf(body)
    const closed = Deferred.unsafeMake<void>(FiberId.none)
    openCalls += 1
    mostOpen = Math.max(mostOpen, openCalls)
    // Answered, or the caller went away (a gateway process killed, say): the call is over.
    res.on("close", () => {
      openCalls -= 1
      if (!res.writableEnded) Deferred.unsafeDone(closed, Exit.void)
    })
    const chunk = (choices: ReadonlyArray<unknown>, extra: Record<string, unknown> = {}) =>
      `data: ${
        JSON.stringify({
          id: "chatcmpl-controlled",
          object: "chat.completion.chunk",
          created: 0,
          model,
          choices,
          ...extra
        })
      }\n\n`
    const open = () => {
      if (res.headersSent) return
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
      res.write(chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]))
    }
    let answer = ""
    const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }
    const say = (piece: string) =>
      Effect.sync(() => {
        answer += piece
        if (!stream) return
        open()
        res.write(chunk([{ index: 0, delta: { content: piece }, finish_reason: null }]))
      })
    const finish = Effect.sync(() => {
      if (stream) {
        open()
        res.write(chunk([{ index: 0, delta: {}, finish_reason: "stop" }]))
        res.write(chunk([], { usage }))
        res.end("data: [DONE]\n\n")
      } else {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({
          id: "chatcmpl-controlled",
          object: "chat.completion",
          created: 0,
          model,
          choices: [{ index: 0, message: { role: "assistant", content: answer }, finish_reason: "stop" }],
          usage
        }))
      }
    })
    Queue.unsafeOffer(calls, {
      model,
      messages,
      said: messages.findLast((message) => message.role === "user")?.content ?? "",
      authorization: req.headers.authorization,
      stream,
      say,
      finish,
      reply: (text) => Effect.zipRight(say(text), finish),
      closedEarly: Deferred.await(closed)
    })
  }

  const server = NodeHttp.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (data: Buffer) => chunks.push(data))
    req.on("end", () => handle(req, res, Buffer.concat(chunks).toString("utf8")))
  })
  const port = yield* listenOnLoopback(server)
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    nextCall: Queue.take(calls),
    waiting: Queue.size(calls),
    mostOpenAtOnce: () => mostOpen
  }
})

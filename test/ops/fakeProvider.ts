/**
 * A fake OpenAI-compatible Chat Completions provider on a loopback port that answers only when the
 * test says so: each request is handed to the test as a `ProviderCall`, whose stream sends a
 * chunk per `say` and ends on `finish`. For the process tests, where the gateway is a child
 * process pointed at it (`api: "openai-completions"`, `baseUrl`).
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as NodeHttp from "node:http"

/** A chat message as the provider got it. */
export interface ProviderMessage {
  readonly role: string
  readonly content: string
}

export interface ProviderCall {
  /** The request's messages (role and text). */
  readonly messages: ReadonlyArray<ProviderMessage>
  readonly stream: boolean
  /** Sends a content chunk (the answer's head first, if not sent yet). */
  readonly say: (text: string) => Effect.Effect<void>
  /** Sends the finish chunk, usage and `[DONE]`, and ends the answer (JSON when not streamed). */
  readonly finish: Effect.Effect<void>
  /** Completes when the gateway closed the connection before the answer ended. */
  readonly closedEarly: Effect.Effect<void>
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

const messagesOf = (body: unknown): ReadonlyArray<ProviderMessage> =>
  isRecord(body) && Array.isArray(body.messages)
    ? body.messages.flatMap((message: unknown) =>
      isRecord(message) && typeof message.role === "string"
        ? [{ role: message.role, content: typeof message.content === "string" ? message.content : JSON.stringify(message.content) }]
        : []
    )
    : []

/** Starts the provider for the enclosing scope (stopped, open answers cut, when it closes). */
export const fakeProvider: Effect.Effect<
  { readonly baseUrl: string; readonly nextCall: Effect.Effect<ProviderCall> },
  never,
  Scope.Scope
> = Effect.gen(function*() {
  const calls = yield* Queue.unbounded<ProviderCall>()

  const handle = (res: NodeHttp.ServerResponse, text: string) => {
    const body: unknown = JSON.parse(text)
    const stream = isRecord(body) && body.stream === true
    const closed = Deferred.unsafeMake<void>(FiberId.none)
    res.on("close", () => {
      if (!res.writableEnded) Deferred.unsafeDone(closed, Exit.void)
    })
    const chunk = (choices: ReadonlyArray<unknown>, extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id: "chatcmpl-fake", object: "chat.completion.chunk", created: 0, model: "slow", choices, ...extra })}\n\n`
    let said = ""
    const open = () => {
      if (res.headersSent) return
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
      res.write(chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]))
    }
    Queue.unsafeOffer(calls, {
      messages: messagesOf(body),
      stream,
      say: (piece) =>
        Effect.sync(() => {
          said += piece
          if (!stream) return
          open()
          res.write(chunk([{ index: 0, delta: { content: piece }, finish_reason: null }]))
        }),
      finish: Effect.sync(() => {
        const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }
        if (stream) {
          open()
          res.write(chunk([{ index: 0, delta: {}, finish_reason: "stop" }]))
          res.write(chunk([], { usage }))
          res.end("data: [DONE]\n\n")
        } else {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify({
            id: "chatcmpl-fake",
            object: "chat.completion",
            created: 0,
            model: "slow",
            choices: [{ index: 0, message: { role: "assistant", content: said }, finish_reason: "stop" }],
            usage
          }))
        }
      }),
      closedEarly: Deferred.await(closed)
    })
  }

  const server = NodeHttp.createServer((req, res) => {
    const parts: Array<Buffer> = []
    req.on("data", (part: Buffer) => parts.push(part))
    req.on("end", () => handle(res, Buffer.concat(parts).toString("utf8")))
  })
  const port = yield* Effect.acquireRelease(
    Effect.async<number>((resume) => {
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
      })
    }),
    () =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )
  return { baseUrl: `http://127.0.0.1:${port}/v1`, nextCall: Queue.take(calls) }
})

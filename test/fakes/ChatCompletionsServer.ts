/**
 * A scripted OpenAI-compatible Chat Completions server on a loopback port, for the provider and
 * gateway tests. It records every request it gets and answers each with the next scripted
 * `Answer`, or with the default one (the last user message echoed back, word by word).
 *
 *   const server = yield* ChatCompletionsServer
 *   yield* server.answer(Answer.reply(["Hel", "lo"], { finishReason: "length" }))
 *   yield* server.answer(Answer.toolCalls([{ id: "call_1", name: "f", arguments: ['{"a":', "1}"] }]))
 *   // ... point a provider at server.baseUrl (`http://127.0.0.1:<port>/v1`) ...
 *   const request = yield* server.nextRequest          // the request as the server saw it
 *   yield* request.closedByClient                      // waits until the client hung up early
 *
 * Provide `ChatCompletionsServer.layer` (scoped: the server stops, hanging answers included, when
 * the scope closes).
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Runtime from "effect/Runtime"
import * as Http from "node:http"
import { listenOnLoopback } from "./listen.js"

/** Token counts as the server reports them (`null`: no usage at all). */
export interface FakeUsage {
  readonly promptTokens: number
  readonly completionTokens: number
}

export interface UpstreamError {
  readonly message: string
  readonly type?: string
  readonly code?: string | number | null
}

/** A tool call the server answers with; `arguments` are the pieces it streams (joined in JSON). */
export interface FakeToolCall {
  readonly id: string
  readonly name: string
  readonly arguments: ReadonlyArray<string>
}

/** How the server answers one request. */
export type Answer = Data.TaggedEnum<{
  /** A completion: JSON, or SSE when the request asked to stream (usage chunk when it asked for it). */
  Reply: {
    readonly pieces: ReadonlyArray<string>
    readonly finishReason: string
    readonly usage: FakeUsage | null
  }
  /**
   * Tool calls after some text (maybe none): JSON `message.tool_calls`, or streamed as OpenAI
   * streams them (per call: its index, id, type and name with empty arguments, then one chunk per
   * piece of its arguments).
   */
  ToolCalls: {
    readonly text: ReadonlyArray<string>
    readonly calls: ReadonlyArray<FakeToolCall>
    readonly finishReason: string
    readonly usage: FakeUsage | null
  }
  /** An error status with a JSON body and extra headers (e.g. `retry-after`). */
  Status: {
    readonly status: number
    readonly body: unknown
    readonly headers: Readonly<Record<string, string>>
  }
  /** A 200 stream: the pieces, then `data: {"error": ...}`, then the end of the response. */
  InBandError: { readonly pieces: ReadonlyArray<string>; readonly error: UpstreamError }
  /** A 200 stream with the pieces, that then never ends (no headers at all when there is none). */
  Hang: { readonly pieces: ReadonlyArray<string> }
  /** A 200 stream with the pieces, then the connection is destroyed: no finish, no `[DONE]`. */
  Cut: { readonly pieces: ReadonlyArray<string> }
  /** Raw writes, as given, then the end of the response (unless `keepOpen`). */
  Raw: {
    readonly keepOpen: boolean
    readonly status: number
    readonly headers: Readonly<Record<string, string>>
    readonly chunks: ReadonlyArray<string>
  }
}>

const AnswerTags = Data.taggedEnum<Answer>()

export const Answer = {
  ...AnswerTags,
  /** A completion with these pieces of text (one SSE chunk each when streamed). */
  reply: (
    pieces: string | ReadonlyArray<string>,
    options: { readonly finishReason?: string; readonly usage?: FakeUsage | null } = {}
  ): Answer =>
    AnswerTags.Reply({
      pieces: typeof pieces === "string" ? [pieces] : pieces,
      finishReason: options.finishReason ?? "stop",
      usage: options.usage === undefined ? { promptTokens: 5, completionTokens: 7 } : options.usage
    }),
  /** Tool calls (finish reason `tool_calls` by default); each call's arguments as one piece or several. */
  toolCalls: (
    calls: ReadonlyArray<
      { readonly id: string; readonly name: string; readonly arguments: string | ReadonlyArray<string> }
    >,
    options: {
      readonly text?: ReadonlyArray<string>
      readonly finishReason?: string
      readonly usage?: FakeUsage | null
    } = {}
  ): Answer =>
    AnswerTags.ToolCalls({
      text: options.text ?? [],
      calls: calls.map((call) => ({
        ...call,
        arguments: typeof call.arguments === "string" ? [call.arguments] : call.arguments
      })),
      finishReason: options.finishReason ?? "tool_calls",
      usage: options.usage === undefined ? { promptTokens: 5, completionTokens: 7 } : options.usage
    }),
  /** An error answer, OpenAI-shaped body by default. */
  status: (
    status: number,
    options: { readonly body?: unknown; readonly headers?: Readonly<Record<string, string>> } = {}
  ): Answer =>
    AnswerTags.Status({
      status,
      body: options.body ?? { error: { message: `fake upstream error ${status}`, type: "fake_error", code: null } },
      headers: options.headers ?? {}
    }),
  inBandError: (pieces: ReadonlyArray<string>, error: UpstreamError): Answer =>
    AnswerTags.InBandError({ pieces, error }),
  hang: (pieces: ReadonlyArray<string> = []): Answer => AnswerTags.Hang({ pieces }),
  cut: (pieces: ReadonlyArray<string>): Answer => AnswerTags.Cut({ pieces }),
  raw: (
    chunks: ReadonlyArray<string>,
    options: {
      readonly status?: number
      readonly headers?: Readonly<Record<string, string>>
      readonly keepOpen?: boolean
    } = {}
  ): Answer =>
    AnswerTags.Raw({
      chunks,
      keepOpen: options.keepOpen ?? false,
      status: options.status ?? 200,
      headers: options.headers ?? { "content-type": "text/event-stream" }
    })
}

/** A request as the server received it. */
export interface RecordedRequest {
  readonly method: string
  /** The path with its query, e.g. `/v1/chat/completions`. */
  readonly path: string
  /** Lower-cased names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  /** The JSON body, or the raw text when it is not JSON. */
  readonly body: unknown
  /** Succeeds once the client closed the connection before the server had finished answering. */
  readonly closedByClient: Effect.Effect<void>
}

/** What to answer when nothing is scripted: a fixed answer, or one made from the request. */
export type DefaultAnswer = Answer | ((request: RecordedRequest) => Answer)

export class ChatCompletionsServer extends Context.Tag("test/fakes/ChatCompletionsServer")<ChatCompletionsServer, {
  /** `http://127.0.0.1:<port>/v1`: a provider's `baseUrl`. */
  readonly baseUrl: string
  readonly port: number
  /** Scripts the answers of the next requests, in order (one request each). */
  readonly answer: (...answers: ReadonlyArray<Answer>) => Effect.Effect<void>
  /** The answer once the script is used up (initially: `echoLastUser`). */
  readonly setDefault: (answer: DefaultAnswer) => Effect.Effect<void>
  /** Waits for the next request not yet taken, in arrival order. */
  readonly nextRequest: Effect.Effect<RecordedRequest>
  /** Every request so far, in arrival order. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
}>() {
  static readonly layer: Layer.Layer<ChatCompletionsServer> = Layer.scoped(
    ChatCompletionsServer,
    Effect.suspend(() => start())
  )
}

/** The text of the last user message of a request body, string or content parts. */
export const lastUserText = (body: unknown): string => {
  const messages = isRecord(body) && Array.isArray(body.messages) ? body.messages : []
  const last: unknown = messages.findLast((message) => isRecord(message) && message.role === "user")
  if (!isRecord(last)) return ""
  if (typeof last.content === "string") return last.content
  if (!Array.isArray(last.content)) return ""
  return last.content.flatMap((part) => isRecord(part) && typeof part.text === "string" ? [part.text] : []).join("")
}

/** The default answer: the last user message echoed back in words, with word-count usage. */
export const echoLastUser = (request: RecordedRequest): Answer => {
  const words = lastUserText(request.body).match(/\s*\S+/g) ?? []
  return Answer.reply(words, { usage: { promptTokens: words.length, completionTokens: words.length } })
}

// ---------------------------------------------------------------------------------------------

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

const parseBody = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const wireUsage = (usage: FakeUsage) => ({
  prompt_tokens: usage.promptTokens,
  completion_tokens: usage.completionTokens,
  total_tokens: usage.promptTokens + usage.completionTokens
})

const portOf = (server: Http.Server): number => {
  const address = server.address()
  return typeof address === "object" && address !== null ? address.port : 0
}

let counter = 0

const start = Effect.fnUntraced(function*() {
  const runtime = yield* Effect.runtime<never>()
  const runSync = Runtime.runSync(runtime)
  const script = yield* Ref.make<ReadonlyArray<Answer>>([])
  const fallback = yield* Ref.make<DefaultAnswer>(echoLastUser)
  const received = yield* Queue.unbounded<RecordedRequest>()
  const all = yield* Ref.make<ReadonlyArray<RecordedRequest>>([])

  const nextAnswer = (request: RecordedRequest): Effect.Effect<Answer> =>
    Effect.flatMap(
      Ref.modify(script, (answers) => [answers[0], answers.slice(1)]),
      (scripted) =>
        scripted !== undefined
          ? Effect.succeed(scripted)
          : Effect.map(Ref.get(fallback), (answer) => typeof answer === "function" ? answer(request) : answer)
    )

  const handle = (req: Http.IncomingMessage, res: Http.ServerResponse, text: string) => {
    const closed = runSync(Deferred.make<void>())
    let serverEnded = false
    res.on("close", () => {
      if (!serverEnded && !res.writableEnded) runSync(Deferred.succeed(closed, undefined))
    })
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(", ") : value ?? ""])
    )
    const recorded: RecordedRequest = {
      method: req.method ?? "",
      path: req.url ?? "",
      headers,
      body: parseBody(text),
      closedByClient: Deferred.await(closed)
    }
    runSync(Ref.update(all, (list) => [...list, recorded]).pipe(Effect.zipRight(Queue.offer(received, recorded))))

    if (req.method !== "POST" || (req.url ?? "").split("?")[0] !== "/v1/chat/completions") {
      res.writeHead(404, { "content-type": "application/json" })
      res.end(JSON.stringify({ error: { message: "not found", type: "invalid_request_error", code: null } }))
      return
    }

    const body = isRecord(recorded.body) ? recorded.body : {}
    const model = typeof body.model === "string" ? body.model : "fake-model"
    const id = `chatcmpl-fake-${++counter}`
    const created = Math.floor(Date.now() / 1000)
    const chunk = (choices: ReadonlyArray<unknown>, extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices, ...extra })}\n\n`
    const piece = (content: string) => chunk([{ index: 0, delta: { content }, finish_reason: null }])
    const openStream = (pieces: ReadonlyArray<string>) => {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
      res.write(chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]))
      for (const text of pieces) res.write(piece(text))
    }

    const endStream = (finishReason: string, usage: FakeUsage | null) => {
      res.write(chunk([{ index: 0, delta: {}, finish_reason: finishReason }]))
      const options = body.stream_options
      if (usage !== null && isRecord(options) && options.include_usage === true) {
        res.write(chunk([], { usage: wireUsage(usage) }))
      }
      res.end("data: [DONE]\n\n")
    }

    const answer = runSync(nextAnswer(recorded))
    AnswerTags.$match(answer, {
      Reply: ({ finishReason, pieces, usage }) => {
        if (body.stream === true) {
          openStream(pieces)
          endStream(finishReason, usage)
        } else {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify({
            id,
            object: "chat.completion",
            created,
            model,
            choices: [{
              index: 0,
              message: { role: "assistant", content: pieces.join("") },
              finish_reason: finishReason
            }],
            ...(usage !== null && { usage: wireUsage(usage) })
          }))
        }
      },
      ToolCalls: ({ calls, finishReason, text, usage }) => {
        if (body.stream === true) {
          openStream(text)
          calls.forEach((call, index) => {
            const toolCall = (delta: Record<string, unknown>) =>
              res.write(chunk([{ index: 0, delta: { tool_calls: [{ index, ...delta }] }, finish_reason: null }]))
            toolCall({ id: call.id, type: "function", function: { name: call.name, arguments: "" } })
            for (const piece of call.arguments) toolCall({ function: { arguments: piece } })
          })
          endStream(finishReason, usage)
        } else {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify({
            id,
            object: "chat.completion",
            created,
            model,
            choices: [{
              index: 0,
              message: {
                role: "assistant",
                content: text.length === 0 ? null : text.join(""),
                tool_calls: calls.map((call) => ({
                  id: call.id,
                  type: "function",
                  function: { name: call.name, arguments: call.arguments.join("") }
                }))
              },
              finish_reason: finishReason
            }],
            ...(usage !== null && { usage: wireUsage(usage) })
          }))
        }
      },
      Status: ({ body: errorBody, headers: extra, status }) => {
        res.writeHead(status, { "content-type": "application/json", ...extra })
        res.end(JSON.stringify(errorBody))
      },
      InBandError: ({ error, pieces }) => {
        openStream(pieces)
        res.end(`data: ${JSON.stringify({ error })}\n\n`)
      },
      Hang: ({ pieces }) => {
        if (pieces.length > 0) openStream(pieces)
      },
      Cut: ({ pieces }) => {
        openStream(pieces)
        serverEnded = true
        // Let the pieces go out first, then drop the connection mid-answer.
        res.write("", () => res.destroy())
      },
      Raw: ({ chunks, headers: extra, keepOpen, status }) => {
        res.writeHead(status, extra)
        for (const text of chunks) res.write(text)
        if (!keepOpen) res.end()
      }
    })
  }

  const server = Http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (data: Buffer) => chunks.push(data))
    req.on("end", () => handle(req, res, Buffer.concat(chunks).toString("utf8")))
  })

  const port = yield* listenOnLoopback(server)

  return ChatCompletionsServer.of({
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    answer: (...answers) => Ref.update(script, (current) => [...current, ...answers]),
    setDefault: (answer) => Ref.set(fallback, answer),
    nextRequest: Queue.take(received),
    requests: Ref.get(all)
  })
})

/** A loopback port with nothing listening: bound, then closed. */
export const closedPort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = Http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = portOf(server)
    server.close(() => resume(Effect.succeed(port)))
  })
})

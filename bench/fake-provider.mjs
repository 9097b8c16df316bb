// A fake OpenAI-compatible Chat Completions provider for the benchmark, on 127.0.0.1.
//
//   node bench/fake-provider.mjs [--pieces 20] [--slow-interval-ms 1000] [--slow-max-ms 90000]
//                                [--fanout-tokens 60] [--fanout-interval-ms 1000]
//
// Prints `fake-provider listening on http://127.0.0.1:<port>` on stdout, then serves:
// - POST .../chat/completions, non-streaming: an instant chat.completion JSON answer.
// - the same with `"stream": true`: SSE as OpenAI streams it (a role chunk, `--pieces` content
//   chunks, a finish chunk, a usage chunk when `stream_options.include_usage`, `[DONE]`), written at once.
// - a streaming request whose `model` contains "slow": the role chunk and a first content piece at
//   once, then one more piece every `--slow-interval-ms` until `POST /control/release` (or
//   `--slow-max-ms`), then the finish, usage and `[DONE]`. This keeps thousands of streams open.
// - a streaming request whose `model` contains "paced": the role chunk and the first content piece at
//   once, the rest `--paced-delay-ms` later, so the first piece travels alone (time to first token).
// - a streaming request whose `model` contains "fanout": `--fanout-tokens` content pieces, the first at
//   once and then one every `--fanout-interval-ms` (as a model streams), each stamped with the time it
//   was written: `t<seq>@<ms>`, where <ms> is the machine's monotonic clock (CLOCK_MONOTONIC, as
//   `process.hrtime` reads it: the same in every process, so a client on this machine can subtract
//   it from its own clock), with 3 decimals; then the finish, usage and `[DONE]`. One timer serves
//   all these streams, so thousands of them cost the provider little.
// - POST .../v1/messages (Anthropic's Messages API), streaming, with a `model` that contains
//   "fanout": the same stamped tokens as `text_delta` events, after `message_start` and
//   `content_block_start`, then `content_block_stop`, `message_delta` and `message_stop`: the fan-out
//   through the `anthropic-messages` provider (`npm run bench -- --fanout-api anthropic-messages`).
// - GET /control/stats: `{"open": <slow streams open>, "served": <answers started>}`.
import * as Http from "node:http"
import { performance } from "node:perf_hooks"
import { monotonicMs } from "./loadgen.mjs"

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? Number(args[at + 1]) : fallback
}
const PIECES = option("pieces", 20)
const SLOW_INTERVAL_MS = option("slow-interval-ms", 1000)
const SLOW_MAX_MS = option("slow-max-ms", 90_000)
const PACED_DELAY_MS = option("paced-delay-ms", 20)
const FANOUT_TOKENS = option("fanout-tokens", 60)
const FANOUT_INTERVAL_MS = option("fanout-interval-ms", 1000)

const created = Math.floor(Date.now() / 1000)
const words = Array.from({ length: Math.max(PIECES, 1) }, (_, i) => (i === 0 ? "Hello" : ` w${i}`))

const completion = (model) =>
  JSON.stringify({
    id: "chatcmpl-fake",
    object: "chat.completion",
    created,
    model,
    choices: [{
      index: 0,
      message: { role: "assistant", content: "Hello from the fake provider." },
      finish_reason: "stop"
    }],
    usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 }
  })

const chunk = (model, delta, finishReason = null) =>
  `data: ${
    JSON.stringify({
      id: "chatcmpl-fake",
      object: "chat.completion.chunk",
      created,
      model,
      choices: [{ index: 0, delta, finish_reason: finishReason }]
    })
  }\n\n`

const usageChunk = (model, completionTokens = PIECES) =>
  `data: ${
    JSON.stringify({
      id: "chatcmpl-fake",
      object: "chat.completion.chunk",
      created,
      model,
      choices: [],
      usage: { prompt_tokens: 5, completion_tokens: completionTokens, total_tokens: 5 + completionTokens }
    })
  }\n\n`

const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" }

/** Slow streams still open: each has a `finish()` that ends it. */
const open = new Set()
let served = 0

const finishSlow = (res, model, includeUsage, timer, hardStop) => {
  clearInterval(timer)
  clearTimeout(hardStop)
  res.write(chunk(model, {}, "stop"))
  if (includeUsage) res.write(usageChunk(model))
  res.end("data: [DONE]\n\n")
}

/**
 * The fan-out streams waiting for their next token, in the order it is due. All share one interval,
 * so a stream that has just been served is due after every other one: a FIFO queue stays in order
 * and one timer, set for the head, serves them all.
 */
const fanoutQueue = []
let fanoutHead = 0
let fanoutTimer
const FANOUT_MARK = "{{stamp}}"
/** Per model: a token's chunk before and after its content, and the answer's end, built once. */
const fanoutTemplates = new Map()
const fanoutTemplate = (model) => {
  let template = fanoutTemplates.get(model)
  if (template === undefined) {
    const [head, tail] = chunk(model, { content: FANOUT_MARK }).split(FANOUT_MARK)
    const finish = chunk(model, {}, "stop")
    const done = "data: [DONE]\n\n"
    template = { head, tail, end: finish + done, endWithUsage: finish + usageChunk(model, FANOUT_TOKENS) + done }
    fanoutTemplates.set(model, template)
  }
  return template
}

/** An Anthropic SSE event. */
const anthropicEvent = (data) => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`
const anthropicDelta = (text) =>
  anthropicEvent({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text } })
/** The same as `fanoutTemplate`, in Anthropic's events, and what opens the answer. */
const anthropicFanoutTemplate = (model) => {
  const [head, tail] = anthropicDelta(FANOUT_MARK).split(FANOUT_MARK)
  const end = anthropicEvent({ type: "content_block_stop", index: 0 }) +
    anthropicEvent({
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: FANOUT_TOKENS }
    }) +
    anthropicEvent({ type: "message_stop" })
  const start = anthropicEvent({
    type: "message_start",
    message: {
      id: "msg_fake",
      type: "message",
      role: "assistant",
      content: [],
      model,
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 5, output_tokens: 1 }
    }
  }) + anthropicEvent({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } })
  return { head, tail, end, endWithUsage: end, start }
}

const serveFanout = () => {
  fanoutTimer = undefined
  const now = performance.now()
  while (fanoutHead < fanoutQueue.length && fanoutQueue[fanoutHead].dueAt <= now) {
    const stream = fanoutQueue[fanoutHead++]
    if (stream.closed) continue
    writeFanoutToken(stream)
    if (stream.sent < FANOUT_TOKENS) {
      stream.dueAt += FANOUT_INTERVAL_MS
      fanoutQueue.push(stream)
    }
  }
  // drop the served prefix now and then rather than shifting the array on every token
  if (fanoutHead > 1024 && fanoutHead * 2 > fanoutQueue.length) {
    fanoutQueue.splice(0, fanoutHead)
    fanoutHead = 0
  }
  armFanout()
}

const armFanout = () => {
  if (fanoutTimer !== undefined || fanoutHead === fanoutQueue.length) return
  fanoutTimer = setTimeout(serveFanout, Math.max(0, fanoutQueue[fanoutHead].dueAt - performance.now()))
}

/** Writes the stream's next token, stamped now; after the last, the finish, usage and `[DONE]` with it. */
const writeFanoutToken = (stream) => {
  const { res, template } = stream
  const token = `${template.head}t${stream.sent++}@${monotonicMs().toFixed(3)}${template.tail}`
  if (stream.sent < FANOUT_TOKENS) res.write(token)
  else res.end(token + (stream.includeUsage ? template.endWithUsage : template.end))
}

const startFanout = (res, template, includeUsage) => {
  const stream = {
    res,
    template,
    includeUsage,
    sent: 0,
    dueAt: performance.now(),
    closed: false
  }
  res.on("close", () => (stream.closed = true))
  writeFanoutToken(stream)
  if (stream.sent === FANOUT_TOKENS) return
  stream.dueAt += FANOUT_INTERVAL_MS
  fanoutQueue.push(stream)
  armFanout()
}

/** Reads the request's body as JSON: `undefined` when it is not JSON. */
const readJson = (req, then) => {
  const parts = []
  req.on("data", (part) => parts.push(part))
  req.on("end", () => {
    let body
    try {
      body = JSON.parse(Buffer.concat(parts).toString("utf8"))
    } catch {
      body = undefined
    }
    then(body)
  })
}

const server = Http.createServer((req, res) => {
  if (req.method === "POST" && req.url === "/control/release") {
    const waiting = [...open]
    open.clear()
    for (const finish of waiting) finish()
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ released: waiting.length }))
    return
  }
  if (req.method === "GET" && req.url === "/control/stats") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ open: open.size, served }))
    return
  }
  if (req.method === "POST" && req.url?.endsWith("/v1/messages")) return serveMessages(req, res)
  if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
    res.writeHead(404, { "content-type": "application/json" }).end("{\"error\":{\"message\":\"not found\"}}")
    return
  }
  readJson(req, (body) => {
    if (body === undefined) {
      res.writeHead(400, { "content-type": "application/json" }).end("{\"error\":{\"message\":\"bad json\"}}")
      return
    }
    served++
    const model = typeof body.model === "string" ? body.model : "fake"
    if (body.stream !== true) {
      const text = completion(model)
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text)
      return
    }
    const includeUsage = body.stream_options?.include_usage === true
    res.writeHead(200, SSE_HEADERS)
    res.write(chunk(model, { role: "assistant", content: "" }))
    if (model.includes("fanout")) return startFanout(res, fanoutTemplate(model), includeUsage)
    if (model.includes("slow")) {
      res.write(chunk(model, { content: words[0] }))
      let sent = 1
      const timer = setInterval(
        () => res.write(chunk(model, { content: words[sent++ % words.length] })),
        SLOW_INTERVAL_MS
      )
      const finish = () => finishSlow(res, model, includeUsage, timer, hardStop)
      const hardStop = setTimeout(() => {
        open.delete(finish)
        finish()
      }, SLOW_MAX_MS)
      open.add(finish)
      res.on("close", () => {
        if (open.delete(finish)) {
          clearInterval(timer)
          clearTimeout(hardStop)
        }
      })
      return
    }
    const rest = (from) => {
      for (const word of words.slice(from)) res.write(chunk(model, { content: word }))
      res.write(chunk(model, {}, "stop"))
      if (includeUsage) res.write(usageChunk(model))
      res.end("data: [DONE]\n\n")
    }
    if (model.includes("paced")) {
      res.write(chunk(model, { content: words[0] }))
      setTimeout(() => rest(1), PACED_DELAY_MS)
      return
    }
    rest(0)
  })
})
/** Anthropic's Messages API: the fan-out's streams only. */
const serveMessages = (req, res) =>
  readJson(req, (body) => {
    const model = typeof body?.model === "string" ? body.model : ""
    if (body?.stream !== true || !model.includes("fanout")) {
      res.writeHead(400, { "content-type": "application/json" }).end(
        "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"only fan-out streams here\"}}"
      )
      return
    }
    served++
    const template = anthropicFanoutTemplate(model)
    res.writeHead(200, SSE_HEADERS)
    res.write(template.start)
    startFanout(res, template, false)
  })

server.keepAliveTimeout = 60_000
server.headersTimeout = 65_000
server.maxRequestsPerSocket = 0
server.listen({ host: "127.0.0.1", port: 0, backlog: 8192 }, () => {
  process.stdout.write(`fake-provider listening on http://127.0.0.1:${server.address().port}\n`)
})
process.on("SIGTERM", () => process.exit(0))
process.on("SIGINT", () => process.exit(0))

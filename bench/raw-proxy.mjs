// The baseline: a minimal raw node:http proxy in front of the fake provider, on 127.0.0.1.
//
//   node bench/raw-proxy.mjs --upstream http://127.0.0.1:<port>/v1 --token <token> [--port 0]
//
// POST /v1/chat/completions: bearer check (constant time), read the body, JSON.parse it, check it has
// messages, forward `{model, messages, stream, stream_options}` to the upstream with a keep-alive
// agent, and pipe the answer (JSON or SSE) back as it comes. No sessions, agents, schema or logs:
// the least a gateway can do. Prints `raw-proxy listening on http://127.0.0.1:<port>` on stdout.
import * as Crypto from "node:crypto"
import * as Http from "node:http"

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1] : fallback
}
const upstream = new URL(option("upstream", "http://127.0.0.1:1/v1"))
const expected = Buffer.from(`Bearer ${option("token", "")}`)
const port = Number(option("port", "0"))
const upstreamPath = `${upstream.pathname.replace(/\/$/, "")}/chat/completions`
const agent = new Http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 10_000 })

const fail = (res, status, message) => {
  const body = JSON.stringify({ error: { message, type: "invalid_request_error", param: null, code: null } })
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body)
}

const authorized = (header) => {
  if (typeof header !== "string") return false
  const given = Buffer.from(header)
  return given.length === expected.length && Crypto.timingSafeEqual(given, expected)
}

const server = Http.createServer((req, res) => {
  if (req.url !== "/v1/chat/completions") return fail(res, 404, "not found")
  if (req.method !== "POST") return fail(res, 405, "method not allowed")
  if (!authorized(req.headers.authorization)) return fail(res, 401, "unauthorized")
  const parts = []
  req.on("data", (part) => parts.push(part))
  req.on("end", () => {
    let body
    try {
      body = JSON.parse(Buffer.concat(parts).toString("utf8"))
    } catch {
      return fail(res, 400, "invalid JSON")
    }
    if (body === null || typeof body !== "object" || !Array.isArray(body.messages)) {
      return fail(res, 400, "missing messages")
    }
    const forwarded = JSON.stringify({
      model: body.model,
      messages: body.messages,
      stream: body.stream === true,
      ...(body.stream === true && { stream_options: { include_usage: true } })
    })
    const request = Http.request({
      agent,
      host: upstream.hostname,
      port: upstream.port,
      method: "POST",
      path: upstreamPath,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(forwarded) }
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, { "content-type": answer.headers["content-type"] ?? "application/json" })
      answer.pipe(res)
    })
    request.on("error", () => {
      if (!res.headersSent) fail(res, 502, "upstream unreachable")
      else res.destroy()
    })
    res.on("close", () => {
      if (!res.writableFinished) request.destroy()
    })
    request.end(forwarded)
  })
})
server.keepAliveTimeout = 60_000
server.headersTimeout = 65_000
server.listen({ host: "127.0.0.1", port, backlog: 8192 }, () => {
  process.stdout.write(`raw-proxy listening on http://127.0.0.1:${server.address().port}\n`)
})
process.on("SIGTERM", () => process.exit(0))
process.on("SIGINT", () => process.exit(0))

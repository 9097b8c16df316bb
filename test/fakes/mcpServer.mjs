// An MCP server made with the official SDK, for the gateway's tests: a few tools that behave in the
// ways a real server's can (answer, fail, hang, return too much, wait for each other, die). Run
// directly (`node mcpServer.mjs`), it serves over stdio; `listenHttp` serves it over streamable
// HTTP on loopback, in the test's own process, where calls and cancellations can be watched.
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import * as Crypto from "node:crypto"
import * as Http from "node:http"
import * as Url from "node:url"

const object = (properties = {}, required = []) => ({ type: "object", properties, required })

export const TOOLS = [
  {
    name: "add",
    description: "Adds two numbers",
    inputSchema: object({ a: { type: "number" }, b: { type: "number" } }, ["a", "b"])
  },
  { name: "fail", description: "Always fails", inputSchema: object() },
  { name: "hang", description: "Never answers", inputSchema: object() },
  { name: "huge", description: "Answers `chars` characters", inputSchema: object({ chars: { type: "number" } }) },
  {
    name: "barrier",
    description: "Answers `tag` once `n` calls of it are waiting at once",
    inputSchema: object({ n: { type: "number" }, tag: { type: "string" } })
  },
  { name: "die", description: "Ends the server's process", inputSchema: object() }
]

const text = (value) => ({ content: [{ type: "text", text: String(value) }] })

/**
 * The tools' state, shared by every connection of one server: the barrier's waiting calls, and
 * the observer told of each call (`call(name, args)`) and of each cancelled one (`cancelled(name)`).
 * Over HTTP, the observer is also told when a client ends its session (`ended()`).
 */
export const makeTools = (observer = {}) => {
  const waiting = []
  return {
    call: (name, args, signal) => {
      observer.call?.(name, args)
      switch (name) {
        case "add":
          return text(Number(args.a) + Number(args.b))
        case "fail":
          return { isError: true, content: [{ type: "text", text: "the tool broke" }] }
        case "hang":
          return new Promise(() => {
            signal.addEventListener("abort", () => observer.cancelled?.(name))
          })
        case "huge":
          return text("x".repeat(Number(args.chars)))
        case "barrier":
          return new Promise((resolve) => {
            waiting.push(() => resolve(text(args.tag)))
            if (waiting.length >= Number(args.n)) waiting.splice(0).forEach((release) => release())
          })
        case "die":
          return process.exit(3)
        default:
          throw new Error(`no tool ${name}`)
      }
    }
  }
}

/** A server for one connection, on the shared tools. */
export const makeServer = (tools) => {
  const server = new Server({ name: "fake-tools", version: "1.0.0" }, { capabilities: { tools: {} } })
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: TOOLS }))
  server.setRequestHandler(
    CallToolRequestSchema,
    (request, extra) => tools.call(request.params.name, request.params.arguments ?? {}, extra.signal)
  )
  return server
}

/** Serves the tools over streamable HTTP (sessions kept by id) on a free loopback port. */
export const listenHttp = (observer = {}) => {
  const tools = makeTools(observer)
  const sessions = new Map()
  const server = Http.createServer((req, res) => {
    const known = sessions.get(req.headers["mcp-session-id"])
    if (known !== undefined && req.method === "DELETE") observer.ended?.()
    if (known !== undefined) return void known.handleRequest(req, res)
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => Crypto.randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, transport)
    })
    void makeServer(tools).connect(transport).then(() => transport.handleRequest(req, res))
  })
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      resolve({
        url: `http://127.0.0.1:${port}/mcp`,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })
}

if (process.argv[1] === Url.fileURLToPath(import.meta.url)) {
  await makeServer(makeTools()).connect(new StdioServerTransport())
}

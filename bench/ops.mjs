// `node bench/ops.mjs [--requests 2000] [--stream]`: what one request costs the gateway's own code,
// counted rather than timed. The gateway (tsc's output, dist/) is built as `Gateway.layer` on an
// HttpServer that only hands its app over, with the live runner on the fake provider; each request
// is a Node `IncomingMessage` / `ServerResponse` pair with no socket, run the way NodeServer runs
// one (a fiber with the request in its context, scoped, answered with `send`). So the count leaves
// out Node's HTTP parsing and the client's socket, and is the same on any machine:
//
// - Effect operations per request (every instruction the fiber runtime evaluates, counted with a
//   Supervisor under the OpSupervision flag), the most frequent kinds, and the regions
//   (uninterruptible sections: a scope, a provide, an acquireRelease each) among them;
// - CPU per request (process.cpuUsage over the run, without the counter; noisy on a shared machine).
//
// Needs `npm run build` first. Nothing but 127.0.0.1 is contacted.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import * as Scope from "effect/Scope"
import * as Supervisor from "effect/Supervisor"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Stream from "node:stream"
import { fileURLToPath } from "node:url"
import { Config } from "../dist/config/Config.js"
import * as Gateway from "../dist/Gateway.js"
import { NodeRequest, send } from "../dist/http/NodeRequest.js"
import * as Telemetry from "../dist/ops/Telemetry.js"

const ROOT = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const argv = process.argv.slice(2)
const option = (name, fallback) => {
  const at = argv.indexOf(`--${name}`)
  return at >= 0 && argv[at + 1] !== undefined ? argv[at + 1] : fallback
}
const REQUESTS = Number(option("requests", "2000"))
const STREAM = argv.includes("--stream")
const TOKEN = "ops-token"

const fake = await new Promise((resolve, reject) => {
  const child = ChildProcess.spawn(process.execPath, [Path.join(ROOT, "bench/fake-provider.mjs")], {
    stdio: ["ignore", "pipe", "ignore"]
  })
  child.once("exit", (code) => reject(new Error(`the fake provider exited with ${code}`)))
  child.stdout.on("data", (data) => {
    const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(data.toString())?.[1]
    if (port !== undefined) resolve({ child, port: Number(port) })
  })
})
process.on("exit", () => fake.child.kill())

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "clawgate-ops-"))
const configFile = Path.join(dir, "clawgate.json5")
Fs.writeFileSync(
  configFile,
  JSON.stringify({
    gateway: {
      http: { endpoints: { chatCompletions: { enabled: true } } },
      auth: { mode: "token", token: TOKEN },
      maxConcurrentRuns: 20_000
    },
    agents: { list: [{ id: "main", default: true, model: "fake/fast" }] },
    session: { store: { path: ":memory:" } },
    models: {
      providers: {
        fake: {
          api: "openai-completions",
          baseUrl: `http://127.0.0.1:${fake.port}/v1`,
          apiKey: "sk-ops",
          retry: { attempts: 0 }
        }
      }
    }
  })
)

// The gateway on a server that only keeps the app it is given.
let app
const server = HttpServer.make({
  address: { _tag: "TcpAddress", hostname: "127.0.0.1", port: 0 },
  serve: (served) => Effect.sync(() => void (app = served))
})
const config = Config.layer({ file: Option.some(configFile), port: Option.none(), bind: Option.none() })
const gateway = Gateway.layer(config).pipe(
  Layer.provide(Layer.succeed(HttpServer.HttpServer, server)),
  Layer.provide(Telemetry.layerOffWithoutEndpoint),
  Layer.provide(config),
  Layer.provide(NodeContext.layer),
  // The log line is formatted as `clawgate serve` does, and dropped.
  Layer.provide(Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, () => undefined)))
)
const runtime = await Effect.runPromise(Layer.toRuntime(gateway).pipe(Scope.extend(Effect.runSync(Scope.make()))))

/** Counts the instructions the request fibers evaluate, by kind. */
class Counter extends Supervisor.AbstractSupervisor {
  counting = false
  total = 0
  kinds = new Map()
  get value() {
    return Effect.void
  }
  onEffect(_fiber, effect) {
    if (!this.counting) return
    this.total += 1
    this.kinds.set(effect._op, (this.kinds.get(effect._op) ?? 0) + 1)
  }
}
const counter = new Counter()
const counted = (effect) =>
  effect.pipe(
    Effect.supervised(counter),
    Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision))
  )

const body = Buffer.from(JSON.stringify({
  model: "clawdbot:main",
  messages: [{ role: "user", content: "Say hello to the benchmark." }],
  ...(STREAM && { stream: true })
}))

/** One request, as NodeServer runs it, on a socket-less request and response; resolves with its status. */
const request = (count) =>
  new Promise((resolve) => {
    const req = new Http.IncomingMessage(new Net.Socket())
    req.method = "POST"
    req.url = "/v1/chat/completions"
    req.headers = {
      authorization: `Bearer ${TOKEN}`,
      "content-type": "application/json",
      "content-length": String(body.length)
    }
    req.push(body)
    req.push(null)
    const res = new Http.ServerResponse(req)
    res.assignSocket(new Stream.Writable({ write: (_chunk, _encoding, done) => done() }))
    const nodeRequest = new NodeRequest(req, res)
    let status = 0
    const answer = Effect.scoped(Effect.flatMap(app, (response) => {
      status = response.status
      return send(nodeRequest, response)
    }))
    const withRequest = Runtime.make({
      context: Context.add(runtime.context, HttpServerRequest.HttpServerRequest, nodeRequest),
      fiberRefs: runtime.fiberRefs,
      runtimeFlags: runtime.runtimeFlags
    })
    Runtime.runFork(withRequest, count ? counted(answer) : answer).addObserver(() => resolve(status))
  })

const run = async (count) => {
  for (let i = 0; i < REQUESTS; i++) {
    const status = await request(count)
    if (status !== 200) throw new Error(`request ${i} answered ${status}`)
  }
}

await run(false) // warm-up
counter.counting = true
await run(true)
counter.counting = false
const usage = process.cpuUsage()
await run(false)
const cpu = process.cpuUsage(usage)

const per = (n) => (n / REQUESTS).toFixed(1)
console.log(`# Effect operations per ${STREAM ? "streamed" : "plain"} request (${REQUESTS} requests)`)
console.log(`operations: ${per(counter.total)}`)
console.log(`regions (uninterruptible sections): ${per((counter.kinds.get("UpdateRuntimeFlags") ?? 0) / 2)}`)
console.log(
  `by kind: ${[...counter.kinds].sort((a, b) => b[1] - a[1]).map(([kind, n]) => `${kind} ${per(n)}`).join(", ")}`
)
console.log(`CPU per request: ${((cpu.user + cpu.system) / REQUESTS).toFixed(0)} µs (noisy on a shared machine)`)
Fs.rmSync(dir, { recursive: true, force: true })
process.exit(0)

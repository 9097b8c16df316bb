// `npm run bench`: clawgate against a minimal raw node:http proxy, both in front of the same fake
// provider, all on 127.0.0.1, alternating the two under the same load. See bench/README.md.
//
//   node bench/run.mjs [--rounds 3] [--duration 5] [--warmup 4] [--connections 50] [--pieces 20]
//                      [--streams 1000,5000] [--startups 5] [--slow-interval-ms 10000]
//                      [--open-timeout 90] [--fanout 5000] [--fanout-ramp 2000] [--fanout-tokens 60]
//                      [--fanout-interval 1000] [--fanout-api openai-completions|anthropic-messages]
//                      [--only startup,load,memory,fanout,ops] [--no-pin] [--quick]
//                      [--json <file>] [--keep]
//   node bench/run.mjs --profile cpu|stream|fanout|startup|heap|promoted [--duration 10] [--heap-streams 500] [--unbundled]
//                      (profile clawgate under that load, then print a summary)
//
// Needs `npm run build` first (the npm script does it), `ulimit -n` of at least 2.2x the largest
// stream count (each stream holds a client and an upstream socket in the gateway), and nothing else.
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath, pathToFileURL } from "node:url"
import { compare, tally } from "./heap-summary.mjs"
import { closedLoop, Connection, fanOut, openStreams, postBytes } from "./loadgen.mjs"
import { summarize, summarizeSampling } from "./profile.mjs"

const ROOT = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const argv = process.argv.slice(2)
const flag = (name) => argv.includes(`--${name}`)
const option = (name, fallback) => {
  const at = argv.indexOf(`--${name}`)
  return at >= 0 && argv[at + 1] !== undefined && !argv[at + 1].startsWith("--") ? argv[at + 1] : fallback
}
const QUICK = flag("quick")
const ROUNDS = Number(option("rounds", QUICK ? 1 : 3))
const DURATION_MS = Number(option("duration", QUICK ? 2 : 5)) * 1000
const CONNECTIONS = Number(option("connections", 50))
const PIECES = Number(option("pieces", 20))
const WARMUP_MS = Number(option("warmup", QUICK ? 1 : 4)) * 1000
const STARTUPS = Number(option("startups", QUICK ? 2 : 5))
let STREAM_COUNTS = option("streams", QUICK ? "200,1000" : "1000,5000").split(",").map(Number).filter((n) => n > 0)
const SLOW_INTERVAL_MS = Number(option("slow-interval-ms", 10_000))
/** Fan-out: this many streams opened evenly over the ramp (ms), each of this many tokens, one per interval (ms). */
let FANOUT = Number(option("fanout", QUICK ? 500 : 5000))
const FANOUT_RAMP_MS = Number(option("fanout-ramp", QUICK ? 1000 : 2000))
const FANOUT_TOKENS = Number(option("fanout-tokens", QUICK ? 10 : 60))
const FANOUT_INTERVAL_MS = Number(option("fanout-interval", QUICK ? 200 : 1000))
/** The provider api of the fan-out's agent: the fake speaks `openai-completions` and `anthropic-messages`. */
const FANOUT_API = option("fanout-api", "openai-completions")
if (!["openai-completions", "anthropic-messages"].includes(FANOUT_API)) {
  throw new Error(`--fanout-api: openai-completions or anthropic-messages, not ${FANOUT_API}`)
}
/** Parts to run (default all): startup, load, memory, fanout, ops. */
const ONLY = new Set(option("only", "startup,load,memory,fanout,ops").split(","))
const PROFILE = flag("profile") ? option("profile", "cpu") : undefined
const JSON_OUT = option("json", undefined)
const TOKEN = "bench-token-0123456789abcdef"
const HARD_LIMIT_MS = 15 * 60_000
const OPEN_TIMEOUT_MS = Number(option("open-timeout", 90)) * 1000
/** clawgate as users run it (the bundle), or from tsc's output so that profiles name its files. */
const CLAWGATE_MAIN = flag("unbundled") ? "bench/unbundled-main.mjs" : "dist/bin/main.js"

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

const children = new Set()
const killAll = () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL")
}
process.on("exit", killAll)
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130))
setTimeout(() => {
  console.error(`bench: still running after ${HARD_LIMIT_MS / 60_000} min; stopping`)
  process.exit(2)
}, HARD_LIMIT_MS).unref()

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const withTimeout = (promise, ms, what) =>
  Promise.race([
    promise,
    sleep(ms).then(() => {
      throw new Error(`timed out after ${ms} ms: ${what}`)
    })
  ])

const has = (command) => ChildProcess.spawnSync("sh", ["-c", `command -v ${command}`]).status === 0
const PIN = !flag("no-pin") && Os.availableParallelism() >= 2 && has("taskset")
/** The server under test gets CPU 1 to itself; the load generator and the fake provider share CPU 0. */
const TARGET_CPU = "1"
const DRIVER_CPU = "0"

/** Spawns a server and resolves with it and its port once it prints `listening on http://host:port`. */
const startServer = (name, command, args, { cpu, logFile, env } = {}) => {
  const spawnedAt = performance.now()
  const [file, fileArgs] = cpu !== undefined && PIN ? ["taskset", ["-c", cpu, command, ...args]] : [command, args]
  const log = Fs.openSync(logFile ?? "/dev/null", "a")
  const child = ChildProcess.spawn(file, fileArgs, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", log],
    env: { ...process.env, ...env }
  })
  Fs.closeSync(log)
  children.add(child)
  child.on("exit", () => children.delete(child))
  return withTimeout(
    new Promise((resolve, reject) => {
      let out = ""
      child.stdout.on("data", (data) => {
        out += data.toString()
        const match = /listening on http:\/\/[^:\s]+:(\d+)/.exec(out)
        if (match !== null) {
          child.stdout.removeAllListeners("data")
          child.stdout.resume()
          resolve({
            name,
            child,
            pid: child.pid,
            port: Number(match[1]),
            spawnedAt,
            listeningMs: performance.now() - spawnedAt
          })
        }
      })
      child.once(
        "exit",
        (code) =>
          reject(new Error(`${name} exited with ${code} before listening${logFile ? ` (log: ${logFile})` : ""}`))
      )
    }),
    20_000,
    `${name} to listen`
  )
}

const stopServer = async (server, signal = "SIGTERM") => {
  if (server.child.exitCode !== null) return server.child.exitCode
  const exited = new Promise((resolve) => server.child.once("exit", (code) => resolve(code)))
  server.child.kill(signal)
  return withTimeout(exited, 20_000, `${server.name} to exit`).catch(() => {
    server.child.kill("SIGKILL")
    return null
  })
}

/** Resident set size of a process, in MB (VmRSS of /proc/<pid>/status). */
const rssMb = (pid) => {
  const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024
}
/** Busy and total jiffies of each CPU (from /proc/stat). */
const cpuTimes = () =>
  Fs.readFileSync("/proc/stat", "utf8").split("\n").filter((line) => /^cpu\d+ /.test(line)).map((line) => {
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number)
    return {
      busy: user + nice + system + irq + softirq + steal,
      total: user + nice + system + idle + iowait + irq + softirq + steal
    }
  })
/** How busy each CPU was between two `cpuTimes()`, as fractions. */
const cpuBusy = (before, after) =>
  after.map((a, i) => (a.busy - before[i].busy) / Math.max(1, a.total - before[i].total))
const CLK_TCK = Number(ChildProcess.execSync("getconf CLK_TCK").toString().trim()) || 100
/** CPU seconds (user + system) a process has used. */
const cpuSeconds = (pid) => {
  const fields = Fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
}

const httpJson = async (port, method, path) => {
  const connection = new Connection(port)
  const bytes = Buffer.from(`${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 0\r\n\r\n`)
  const result = await connection.send(bytes)
  connection.close()
  return result
}

// ---------------------------------------------------------------------------------------------
// The machine and the set-up
// ---------------------------------------------------------------------------------------------

const sh = (command) => {
  try {
    return ChildProcess.execSync(command, { stdio: ["ignore", "pipe", "ignore"] }).toString().trim()
  } catch {
    return "?"
  }
}
const machine = {
  nproc: sh("nproc"),
  cpu: /model name\s*:\s*(.*)/.exec(Fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?",
  memory: sh("free -h | awk '/^Mem:/ {print $2}'"),
  node: process.version,
  kernel: Os.release(),
  loadAverage: Os.loadavg().map((n) => n.toFixed(2)).join(" "),
  ulimitN: sh("ulimit -n"),
  pinned: PIN
    ? `the server under test on CPU ${TARGET_CPU}; load generator and fake provider on CPU ${DRIVER_CPU}`
    : "no"
}

const maxStreams = Math.max(0, ...(ONLY.has("memory") ? STREAM_COUNTS : []), ...(ONLY.has("fanout") ? [FANOUT] : []))
const needFds = Math.ceil(maxStreams * 2.2) + 200
if (machine.ulimitN !== "unlimited" && Number(machine.ulimitN) < needFds) {
  const fit = Math.floor((Number(machine.ulimitN) - 200) / 2.2)
  console.error(
    `bench: ulimit -n is ${machine.ulimitN}; ${maxStreams} concurrent streams need about ${needFds} ` +
      `(raise it with \`ulimit -n ${needFds}\`). Capping the stream counts at ${fit}.`
  )
  STREAM_COUNTS = STREAM_COUNTS.map((n) => Math.min(n, fit))
  FANOUT = Math.min(FANOUT, fit)
}

if (!Fs.existsSync(Path.join(ROOT, "dist/bin/main.js"))) {
  console.error("bench: dist/bin/main.js is missing: run `npm run build` first (`npm run bench` does).")
  process.exit(1)
}

const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "clawgate-bench-"))
const say = (line) => process.stdout.write(`${line}\n`)
const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "-")

if (PIN) process.env.BENCH_PINNED = "1"
if (PIN) ChildProcess.spawnSync("taskset", ["-pc", DRIVER_CPU, String(process.pid)], { stdio: "ignore" })

const fake = await startServer("fake-provider", process.execPath, [
  "bench/fake-provider.mjs",
  "--pieces",
  String(PIECES),
  "--slow-interval-ms",
  String(SLOW_INTERVAL_MS),
  "--slow-max-ms",
  "240000",
  "--fanout-tokens",
  String(FANOUT_TOKENS),
  "--fanout-interval-ms",
  String(FANOUT_INTERVAL_MS)
], { cpu: DRIVER_CPU })
const fakeBase = `http://127.0.0.1:${fake.port}/v1`

const configFile = Path.join(tmp, "clawgate.json5")
Fs.writeFileSync(
  configFile,
  JSON.stringify(
    {
      gateway: {
        port: 0,
        bind: "loopback",
        http: { endpoints: { chatCompletions: { enabled: true } } },
        auth: { mode: "token", token: TOKEN },
        // The default (64 runs in flight, then 429) would refuse the concurrent-streams test.
        maxConcurrentRuns: 20_000
      },
      agents: {
        list: [
          { id: "main", default: true, model: "fake/fast" },
          { id: "slow", model: "fake/slow", firstTokenTimeoutMs: 120_000 },
          { id: "paced", model: "fake/paced" },
          { id: "fanout", model: FANOUT_API === "anthropic-messages" ? "fakeAnthropic/fanout" : "fake/fanout" }
        ]
      },
      session: { store: { path: ":memory:" } },
      models: {
        providers: {
          fake: { api: "openai-completions", baseUrl: fakeBase, apiKey: "sk-bench", retry: { attempts: 0 } },
          fakeAnthropic: {
            api: "anthropic-messages",
            baseUrl: `http://127.0.0.1:${fake.port}`,
            apiKey: "sk-bench",
            retry: { attempts: 0 }
          }
        }
      }
    },
    null,
    2
  )
)

const clawgateLog = Path.join(tmp, "clawgate.log")
const startClawgate = (nodeFlags = []) =>
  startServer("clawgate", process.execPath, [
    ...nodeFlags,
    CLAWGATE_MAIN,
    "serve",
    "--config",
    configFile,
    "--port",
    "0"
  ], {
    cpu: TARGET_CPU,
    logFile: clawgateLog
  })
const startRaw = () =>
  startServer("raw-proxy", process.execPath, ["bench/raw-proxy.mjs", "--upstream", fakeBase, "--token", TOKEN], {
    cpu: TARGET_CPU
  })

/** The raw proxy's work on the stack clawgate is built on: its floor (bench/effect-proxy.mjs). */
const startFloor = () =>
  startServer("effect-proxy", process.execPath, ["bench/effect-proxy.mjs", "--upstream", fakeBase, "--token", TOKEN], {
    cpu: TARGET_CPU
  })

const requestBody = (stream, model = "clawdbot:main") => ({
  model,
  messages: [{ role: "user", content: "Say hello to the benchmark." }],
  ...(stream && { stream: true })
})
const bytesFor = (port, stream, model) => postBytes(port, "/v1/chat/completions", TOKEN, requestBody(stream, model))

/** The fan-out of the settings on a server: its streams opened over the ramp and read to their end. */
const fanOutOn = (server) =>
  fanOut({
    port: server.port,
    bytes: bytesFor(server.port, true, "clawdbot:fanout"),
    count: FANOUT,
    rampMs: FANOUT_RAMP_MS,
    tokens: FANOUT_TOKENS,
    intervalMs: FANOUT_INTERVAL_MS
  })

/** Sends one request until it succeeds (the server may still be starting); ms from spawn to the answer. */
const firstAnswer = async (server) => {
  const bytes = bytesFor(server.port, false)
  const deadline = performance.now() + 20_000
  for (;;) {
    const connection = new Connection(server.port)
    const result = await connection.send(bytes)
    connection.close()
    if (result.status === 200) return performance.now() - server.spawnedAt
    if (performance.now() > deadline) {
      throw new Error(`${server.name}: no successful answer (${result.error ?? result.status})`)
    }
    await sleep(5)
  }
}

const median = (values) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

// ---------------------------------------------------------------------------------------------
// Profile mode
// ---------------------------------------------------------------------------------------------

if (PROFILE !== undefined) {
  const dir = Path.join(tmp, "profile")
  Fs.mkdirSync(dir)
  const mode = ["heap", "stream", "fanout", "startup", "promoted"].includes(PROFILE) ? PROFILE : "cpu"
  const samplingFile = Path.join(dir, "promoted.heapprofile")
  process.env.CLAWGATE_BENCH_SAMPLING_OUT = samplingFile
  const nodeFlags = mode === "heap"
    ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${dir}`]
    : mode === "promoted"
    ? ["--import", pathToFileURL(Path.join(ROOT, "bench/sampling-preload.mjs")).href]
    : ["--cpu-prof", `--cpu-prof-dir=${dir}`]
  say(`profiling clawgate (${mode}); files in ${dir}`)
  // V8's profile clock is CLOCK_MONOTONIC in microseconds, as process.hrtime is.
  const nowUs = () => Number(process.hrtime.bigint() / 1000n)
  const server = await startClawgate(nodeFlags)
  if (mode === "startup") {
    const answerMs = await firstAnswer(server)
    const toUs = nowUs()
    say(
      `first answer ${fmt(answerMs, 0)} ms after spawn (listening after ${
        fmt(server.listeningMs, 0)
      } ms) under the profiler; RSS ${fmt(rssMb(server.pid))} MB`
    )
    await stopServer(server)
    const profile = Fs.readdirSync(dir).find((f) => f.endsWith(".cpuprofile"))
    const data = JSON.parse(Fs.readFileSync(Path.join(dir, profile), "utf8"))
    say(`profile: ${Path.join(dir, profile)} (spawn to first answer)\n`)
    say(summarize(data, { top: Number(option("top", "30")), toUs }))
  } else if (mode === "heap") {
    await firstAnswer(server)
    const count = Number(option("heap-streams", "500"))
    const snapshots = () => Fs.readdirSync(dir).filter((f) => f.endsWith(".heapsnapshot")).sort()
    const snapshot = async () => {
      const before = snapshots().length
      server.child.kill("SIGUSR2")
      const started = performance.now()
      // written when complete: wait for the file to appear and stop growing
      while (snapshots().length === before && performance.now() - started < 300_000) await sleep(250)
      const file = Path.join(dir, snapshots().at(-1))
      for (let size = -1; size !== Fs.statSync(file).size;) {
        size = Fs.statSync(file).size
        await sleep(1000)
      }
      return file
    }
    await sleep(1000)
    const idleFile = await snapshot()
    say(`idle: RSS ${fmt(rssMb(server.pid))} MB, snapshot ${idleFile}`)
    const streams = openStreams({ port: server.port, bytes: bytesFor(server.port, true, "clawdbot:slow"), count })
    const opened = await withTimeout(streams.opened, 300_000, "streams to open")
    say(`${opened.open} slow streams open: RSS ${fmt(rssMb(server.pid))} MB; writing a heap snapshot`)
    const loadedFile = await snapshot()
    say(`with ${count} streams: snapshot ${loadedFile}`)
    await httpJson(fake.port, "POST", "/control/release")
    const finished = await withTimeout(streams.finished(), 120_000, "streams to finish")
    say(`streams completed with [DONE]: ${finished.done} of ${count}`)
    await stopServer(server)
    say("")
    say(compare(tally(idleFile), tally(loadedFile), count, Number(option("top", "40"))))
  } else if (mode === "promoted") {
    await firstAnswer(server)
    // What the streams' tokens leave in the old generation: sampled once every stream has started
    // (the burst's requests take seconds to start: their state would count), for up to 10 s of
    // tokens, dropping what scavenges collect.
    const fromMs = FANOUT_RAMP_MS + 15_000
    const windowMs = Math.min(10_000, FANOUT_TOKENS * FANOUT_INTERVAL_MS - 17_000)
    if (windowMs < 2000) throw new Error("--profile promoted needs streams that last 19 s or more")
    const run = fanOutOn(server)
    await sleep(fromMs)
    server.child.kill("SIGUSR2")
    await sleep(windowMs)
    server.child.kill("SIGUSR2")
    const finished = await run
    say(`fan-out under the sampling heap profiler: completed ${finished.completed} of ${FANOUT}`)
    for (const started = performance.now(); !Fs.existsSync(samplingFile) && performance.now() - started < 30_000;) {
      await sleep(250)
    }
    await stopServer(server)
    say(`profile: ${samplingFile}\n`)
    const tokens = Math.round((FANOUT * windowMs) / FANOUT_INTERVAL_MS)
    const data = JSON.parse(Fs.readFileSync(samplingFile, "utf8"))
    say(summarizeSampling(data, { units: tokens, unit: "token", top: Number(option("top", "25")) }))
  } else if (mode === "fanout") {
    await firstAnswer(server)
    // The streams' steady state: from a second after the ramp to the last token due.
    const fromUs = nowUs() + (FANOUT_RAMP_MS + 1000) * 1000
    const toUs = fromUs + Math.max(0, FANOUT_TOKENS * FANOUT_INTERVAL_MS - 2000) * 1000
    const run = await fanOutOn(server)
    say(`fan-out under the profiler: completed ${run.completed} of ${FANOUT}; tokens after the ramp profiled`)
    await stopServer(server)
    const profile = Fs.readdirSync(dir).find((f) => f.endsWith(".cpuprofile"))
    if (profile === undefined) throw new Error("clawgate wrote no .cpuprofile")
    say(`profile: ${Path.join(dir, profile)}\n`)
    const data = JSON.parse(Fs.readFileSync(Path.join(dir, profile), "utf8"))
    say(summarize(data, { top: Number(option("top", "30")), fromUs, toUs }))
  } else {
    await firstAnswer(server)
    const stream = mode === "stream"
    const warmupMs = 1000
    const fromUs = nowUs() + warmupMs * 1000
    const load = await closedLoop({
      port: server.port,
      bytes: bytesFor(server.port, stream),
      connections: CONNECTIONS,
      durationMs: Number(option("duration", "10")) * 1000,
      warmupMs,
      watchContent: stream
    })
    const toUs = nowUs()
    say(
      `${stream ? "streams" : "requests"}/s under the profiler: ${
        fmt(load.perSecond, 0)
      } (ok ${load.ok}, failed ${load.failed})`
    )
    await stopServer(server)
    const profile = Fs.readdirSync(dir).find((f) => f.endsWith(".cpuprofile"))
    if (profile === undefined) throw new Error("clawgate wrote no .cpuprofile")
    say(`profile: ${Path.join(dir, profile)}\n`)
    const data = JSON.parse(Fs.readFileSync(Path.join(dir, profile), "utf8"))
    if (Math.abs(data.startTime - fromUs) > 600e6) {
      say("(the profile's clock does not match this process's: summarizing the whole profile)")
    }
    const window = Math.abs(data.startTime - fromUs) > 600e6 ? {} : { fromUs, toUs }
    say(summarize(data, { top: Number(option("top", "30")), ...window }))
  }
  await stopServer(fake)
  process.exit(0)
}

// ---------------------------------------------------------------------------------------------
// The benchmark
// ---------------------------------------------------------------------------------------------

say("# clawgate benchmark")
say(
  `machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.memory} memory, node ${machine.node}, kernel ${machine.kernel}`
)
say(`load average at start: ${machine.loadAverage}; ulimit -n ${machine.ulimitN}; pinned: ${machine.pinned}`)
say(
  `settings: ${ROUNDS} rounds x ${
    DURATION_MS / 1000
  } s per load, ${CONNECTIONS} connections, ${PIECES} pieces per stream, ` +
    `concurrent streams ${STREAM_COUNTS.join(" and ")}; fan-out ${FANOUT} streams over ${FANOUT_RAMP_MS} ms, ` +
    `${FANOUT_TOKENS} tokens each every ${FANOUT_INTERVAL_MS} ms; ` +
    `clawgate log: ${clawgateLog} (deleted at the end unless --keep)`
)
const results = {
  machine,
  settings: {
    ROUNDS,
    DURATION_MS,
    CONNECTIONS,
    PIECES,
    STREAM_COUNTS,
    FANOUT,
    FANOUT_RAMP_MS,
    FANOUT_TOKENS,
    FANOUT_INTERVAL_MS
  },
  startup: {},
  rounds: [],
  memory: {},
  fanout: {}
}

if (ONLY.has("startup")) {
  // Start-up: spawn to the first successful answer, alternating the two.
  say("\n## start-up (spawn -> first 200 answer)")
  const startup = { clawgate: [], raw: [], clawgateListening: [], rawListening: [] }
  for (let i = 0; i < STARTUPS; i++) {
    for (const which of i % 2 === 0 ? ["clawgate", "raw"] : ["raw", "clawgate"]) {
      const server = which === "clawgate" ? await startClawgate() : await startRaw()
      startup[which].push(await firstAnswer(server))
      startup[`${which}Listening`].push(server.listeningMs)
      await stopServer(server)
    }
  }
  results.startup = {
    clawgateMs: median(startup.clawgate),
    clawgateListeningMs: median(startup.clawgateListening),
    rawMs: median(startup.raw),
    rawListeningMs: median(startup.rawListening),
    samples: startup
  }
  say(
    `clawgate: ${fmt(results.startup.clawgateMs, 0)} ms to the first answer (median of ${STARTUPS}; listening after ${
      fmt(results.startup.clawgateListeningMs, 0)
    } ms)`
  )
  say(`raw proxy: ${fmt(results.startup.rawMs, 0)} ms (listening after ${fmt(results.startup.rawListeningMs, 0)} ms)`)
}

if (ONLY.has("load")) {
  // Throughput and latency, alternating.
  const targets = {
    clawgate: await startClawgate(),
    raw: await startRaw(),
    floor: await startFloor()
  }
  const names = Object.keys(targets)
  for (const which of names) await firstAnswer(targets[which])
  await sleep(500)
  results.idleAfterStartMb = Object.fromEntries(names.map((which) => [which, rssMb(targets[which].pid)]))

  const measure = async (which) => {
    const server = targets[which]
    const cpu0 = cpuSeconds(server.pid)
    const fakeCpu0 = cpuSeconds(fake.pid)
    const driverCpu0 = process.cpuUsage()
    const machine0 = cpuTimes()
    const t0 = performance.now()
    const nonStream = await closedLoop({
      port: server.port,
      bytes: bytesFor(server.port, false),
      connections: CONNECTIONS,
      durationMs: DURATION_MS,
      warmupMs: 1000
    })
    const seconds = (performance.now() - t0) / 1000
    nonStream.serverCores = (cpuSeconds(server.pid) - cpu0) / seconds
    nonStream.fakeCores = (cpuSeconds(fake.pid) - fakeCpu0) / seconds
    nonStream.cpuBusy = cpuBusy(machine0, cpuTimes())
    const driverCpu = process.cpuUsage(driverCpu0)
    nonStream.driverCores = (driverCpu.user + driverCpu.system) / 1e6 / seconds
    const cpu1 = cpuSeconds(server.pid)
    const t1 = performance.now()
    const streams = await closedLoop({
      port: server.port,
      bytes: bytesFor(server.port, true),
      connections: CONNECTIONS,
      durationMs: DURATION_MS,
      warmupMs: 500,
      watchContent: true
    })
    streams.serverCores = (cpuSeconds(server.pid) - cpu1) / ((performance.now() - t1) / 1000)
    // the first piece comes alone, the rest 20 ms later: the time to it is the path's own latency
    const single = await closedLoop({
      port: server.port,
      bytes: bytesFor(server.port, true, "clawdbot:paced"),
      connections: 1,
      durationMs: Math.min(DURATION_MS, 3000),
      warmupMs: 300,
      watchContent: true
    })
    return { nonStream, streams, single }
  }

  // Warm-up, not counted: the JIT and the heap settle before the first round.
  for (const which of names) {
    const server = targets[which]
    await closedLoop({
      port: server.port,
      bytes: bytesFor(server.port, false),
      connections: CONNECTIONS,
      durationMs: WARMUP_MS
    })
    await closedLoop({
      port: server.port,
      bytes: bytesFor(server.port, true),
      connections: CONNECTIONS,
      durationMs: WARMUP_MS / 2,
      watchContent: true
    })
  }

  say(
    `\n## load: ${ROUNDS} rounds, taking turns (non-stream at ${CONNECTIONS} conns; streams at ${CONNECTIONS} conns; single-stream latency at 1 conn)`
  )
  for (let round = 0; round < ROUNDS; round++) {
    const entry = {}
    for (const which of [...names.slice(round % names.length), ...names.slice(0, round % names.length)]) {
      entry[which] = await measure(which)
      const m = entry[which]
      say(
        `round ${round + 1} ${which.padEnd(8)}  non-stream ${fmt(m.nonStream.perSecond, 0)} req/s ` +
          `p50 ${fmt(m.nonStream.p50, 2)} ms p99 ${fmt(m.nonStream.p99, 2)} ms (server ${
            fmt(m.nonStream.serverCores, 2)
          } cores, ` +
          `fake ${fmt(m.nonStream.fakeCores, 2)}, load generator ${fmt(m.nonStream.driverCores, 2)}, ` +
          `CPUs busy ${
            m.nonStream.cpuBusy.map((b) => `${fmt(100 * b, 0)}%`).join("/")
          }, failed ${m.nonStream.failed}) | streams ${fmt(m.streams.perSecond, 0)}/s ` +
          `first content p50 ${fmt(m.streams.firstContentP50, 2)} ms (failed ${m.streams.failed}) | ` +
          `single stream first content p50 ${fmt(m.single.firstContentP50, 2)} ms p99 ${
            fmt(m.single.firstContentP99, 2)
          } ms`
      )
      for (const [name, r] of Object.entries(m)) {
        if (r.failed > 0) say(`  ${which} ${name} failures: ${JSON.stringify(r.errors)}`)
      }
    }
    results.rounds.push(entry)
  }
  results.idleAfterLoadMb = Object.fromEntries(names.map((which) => [which, rssMb(targets[which].pid)]))
  for (const which of names) await stopServer(targets[which])
}

if (ONLY.has("memory")) {
  // Memory with many slow streams open: fresh servers, idle RSS, then each stream count in turn.
  say(
    `\n## memory: concurrent slow streams (each gets its first piece at once, then one every ${
      SLOW_INTERVAL_MS / 1000
    } s until released)`
  )
  for (const which of ["clawgate", "raw"]) {
    const server = which === "clawgate" ? await startClawgate() : await startRaw()
    await firstAnswer(server)
    await sleep(1000)
    const idle = rssMb(server.pid)
    const entry = { idleMb: idle, loads: [] }
    say(`${which}: idle RSS ${fmt(idle)} MB`)
    for (const count of STREAM_COUNTS) {
      const t0 = performance.now()
      const streams = openStreams({ port: server.port, bytes: bytesFor(server.port, true, "clawdbot:slow"), count })
      let tickCpu = cpuSeconds(server.pid)
      const ticker = setInterval(() => {
        const p = streams.progress()
        const cpu = cpuSeconds(server.pid)
        say(
          `  ${which}: ${p.open} of ${count} streams open after ${
            fmt((performance.now() - t0) / 1000, 0)
          } s (${p.failed} failed), ` +
            `RSS ${fmt(rssMb(server.pid))} MB, CPU ${fmt((cpu - tickCpu) / 15, 2)} cores over the last 15 s`
        )
        tickCpu = cpu
      }, 15_000)
      const opened = await withTimeout(streams.opened, OPEN_TIMEOUT_MS, `${count} streams to open`).catch((error) => {
        const p = streams.progress()
        say(`${which}: ${error.message}: ${p.open} open, ${p.failed} failed, RSS ${fmt(rssMb(server.pid))} MB`)
        return undefined
      }).finally(() => clearInterval(ticker))
      if (opened === undefined) {
        // Not all opened in time: what was open then, and its memory, is still worth reporting.
        // Launch no more; release the open ones (again, as late ones get their first piece) until all end.
        const { open, started } = streams.progress()
        const peakMb = rssMb(server.pid)
        streams.stop()
        const ending = streams.finished()
        let finished
        for (const deadline = performance.now() + 90_000; finished === undefined && performance.now() < deadline;) {
          await httpJson(fake.port, "POST", "/control/release")
          finished = await Promise.race([ending, sleep(2000).then(() => undefined)])
        }
        if (finished === undefined) {
          streams.abort()
          finished = await ending
        }
        const perStreamKb = ((peakMb - idle) * 1024) / Math.max(open, 1)
        entry.loads.push({
          count,
          timedOut: true,
          opened: open,
          started,
          openSeconds: OPEN_TIMEOUT_MS / 1000,
          peakMb,
          perStreamKb,
          done: finished.done,
          dropped: started - finished.done,
          errors: finished.errors
        })
        say(
          `${which}: ${count} streams: only ${open} open after ${OPEN_TIMEOUT_MS / 1000} s (${started} started), RSS ${
            fmt(peakMb)
          } MB, ` +
            `${
              fmt(perStreamKb)
            } KB per open stream over idle; of the ${started} started, ${finished.done} completed with [DONE]`
        )
        break
      }
      const openSeconds = (performance.now() - t0) / 1000
      const stats = JSON.parse((await httpJsonBody(fake.port, "/control/stats")) ?? "{}")
      let peak = 0
      for (let i = 0; i < 10; i++) {
        peak = Math.max(peak, rssMb(server.pid))
        await sleep(200)
      }
      await httpJson(fake.port, "POST", "/control/release")
      const finished = await withTimeout(streams.finished(), 120_000, `${count} streams to finish`)
      const perStreamKb = ((peak - idle) * 1024) / count
      entry.loads.push({
        count,
        opened: opened.open,
        openAtProvider: stats.open,
        openSeconds,
        peakMb: peak,
        perStreamKb,
        ...finished
      })
      say(
        `${which}: ${count} streams: ${opened.open} open after ${
          fmt(openSeconds)
        } s (provider saw ${stats.open} open), ` +
          `RSS ${fmt(peak)} MB, ${
            fmt(perStreamKb)
          } KB per stream over idle; completed with [DONE] ${finished.done}, dropped ${finished.dropped}` +
          (finished.dropped > 0 ? ` ${JSON.stringify(finished.errors)}` : "")
      )
      await sleep(1000)
    }
    results.memory[which] = entry
    await stopServer(server)
  }
}

if (ONLY.has("fanout")) {
  // Fan-out: many streams opened within a ramp, each streaming slowly as a model does, on fresh servers.
  say(
    `\n## fan-out: ${FANOUT} streams opened over ${FANOUT_RAMP_MS / 1000} s, ${FANOUT_TOKENS} tokens each, ` +
      `one every ${FANOUT_INTERVAL_MS} ms (the provider stamps each token)` +
      (FANOUT_API === "openai-completions"
        ? ""
        : `; clawgate's provider: ${FANOUT_API}, the raw proxy's Chat Completions`)
  )
  for (const which of ["clawgate", "raw"]) {
    const server = which === "clawgate" ? await startClawgate() : await startRaw()
    await firstAnswer(server)
    // untimed warm-up on short streams, so that the JIT's work is not counted as the streams' CPU
    await closedLoop({
      port: server.port,
      bytes: bytesFor(server.port, true),
      connections: CONNECTIONS,
      durationMs: WARMUP_MS / 2,
      watchContent: true
    })
    await sleep(1000)
    const idleMb = rssMb(server.pid)
    let peakMb = idleMb
    // the load side's CPU over the last second, every 250 ms: its busiest second shows whether it
    // kept up while the streams were opening (its mean over the run would hide that)
    const loadSideCpu = () => cpuSeconds(fake.pid) + cpuSeconds(process.pid)
    const loadSideSamples = [[performance.now(), loadSideCpu()]]
    let loadSideBusiest = 0
    const sampler = setInterval(() => {
      peakMb = Math.max(peakMb, rssMb(server.pid))
      loadSideSamples.push([performance.now(), loadSideCpu()])
      if (loadSideSamples.length < 5) return
      const [[since, cpuSince], [now, cpuNow]] = [loadSideSamples.shift(), loadSideSamples.at(-1)]
      loadSideBusiest = Math.max(loadSideBusiest, (cpuNow - cpuSince) / ((now - since) / 1000))
    }, 250)
    const cpu0 = cpuSeconds(server.pid)
    const loadSide0 = loadSideSamples[0][1]
    const machine0 = cpuTimes()
    const run = await fanOutOn(server)
    clearInterval(sampler)
    const entry = {
      ...run,
      idleMb,
      peakMb,
      rssPerStreamKb: ((peakMb - idleMb) * 1024) / FANOUT,
      cpuPerStreamMs: ((cpuSeconds(server.pid) - cpu0) * 1000) / FANOUT,
      loadSideCores: (loadSideCpu() - loadSide0) / run.seconds,
      loadSideBusiestCores: loadSideBusiest,
      cpuBusy: cpuBusy(machine0, cpuTimes())
    }
    results.fanout[which] = entry
    say(
      `${which}: completed ${entry.completed}, reset ${entry.reset}, failed ${entry.failed}` +
        (entry.completed < FANOUT ? ` ${JSON.stringify(entry.errors)}` : "") +
        ` (opened over ${fmt(entry.rampSeconds, 2)} s, all ended after ${fmt(entry.seconds)} s); ` +
        `first content p50 ${fmt(entry.firstTokenP50)} ms p90 ${fmt(entry.firstTokenP90)} ms; ` +
        `per-token delay p50 ${fmt(entry.delayP50, 2)} ms p99 ${fmt(entry.delayP99, 2)} ms ` +
        `(${entry.tokensReceived} tokens); CPU ${fmt(entry.cpuPerStreamMs, 2)} ms and RSS ` +
        `${fmt(entry.rssPerStreamKb)} KB per stream (idle ${fmt(idleMb)} MB, peak ${fmt(peakMb)} MB); ` +
        `load side ${fmt(entry.loadSideCores, 2)} cores (busiest second ${fmt(entry.loadSideBusiestCores, 2)}), ` +
        `its event-loop delay p99 ${fmt(entry.clientLagP99Ms)} ms; CPUs busy ${
          entry.cpuBusy.map((b) => `${fmt(100 * b, 0)}%`).join("/")
        }`
    )
    await stopServer(server)
  }
}
await stopServer(fake)

if (ONLY.has("ops")) {
  // Counted, not timed (bench/ops.mjs): the same on any machine, so a change shows at once.
  say("\n## Effect operations per request (bench/ops.mjs, in-process, counted)")
  const count = (args) => {
    const out = ChildProcess.spawnSync(process.execPath, ["bench/ops.mjs", "--requests", "1000", ...args], {
      cwd: ROOT,
      encoding: "utf8"
    }).stdout
    const number = (label) => Number(new RegExp(`${label}: ([\\d.]+)`).exec(out)?.[1])
    return { operations: number("operations"), regions: number("regions \\(uninterruptible sections\\)") }
  }
  results.ops = { plain: count([]), streamed: count(["--stream"]) }
  for (const [kind, { operations, regions }] of Object.entries(results.ops)) {
    say(`${kind} request: ${fmt(operations, 0)} operations, ${fmt(regions, 1)} regions`)
  }
}

// ---------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------

const across = (which, pick) => median(results.rounds.map((r) => pick(r[which])))
const ratios = (pick, of = "clawgate", to = "raw") => median(results.rounds.map((r) => pick(r[of]) / pick(r[to])))
const diffs = (pick, of = "clawgate", to = "raw") => median(results.rounds.map((r) => pick(r[of]) - pick(r[to])))
const s = {
  nonStreamRps: [
    across("clawgate", (m) => m.nonStream.perSecond),
    across("raw", (m) => m.nonStream.perSecond),
    ratios((m) => m.nonStream.perSecond)
  ],
  nonStreamP50: [
    across("clawgate", (m) => m.nonStream.p50),
    across("raw", (m) => m.nonStream.p50),
    ratios((m) => m.nonStream.p50)
  ],
  nonStreamP99: [
    across("clawgate", (m) => m.nonStream.p99),
    across("raw", (m) => m.nonStream.p99),
    ratios((m) => m.nonStream.p99)
  ],
  serverCores: [across("clawgate", (m) => m.nonStream.serverCores), across("raw", (m) => m.nonStream.serverCores), NaN],
  cpuBusy: [0, 1].map((
    cpu
  ) => [across("clawgate", (m) => m.nonStream.cpuBusy[cpu]), across("raw", (m) => m.nonStream.cpuBusy[cpu])]),
  driverCores: [
    across("clawgate", (m) => m.nonStream.driverCores + m.nonStream.fakeCores),
    across("raw", (m) => m.nonStream.driverCores + m.nonStream.fakeCores),
    NaN
  ],
  streamsPerSecond: [
    across("clawgate", (m) => m.streams.perSecond),
    across("raw", (m) => m.streams.perSecond),
    ratios((m) => m.streams.perSecond)
  ],
  loadedFirstP50: [
    across("clawgate", (m) => m.streams.firstContentP50),
    across("raw", (m) => m.streams.firstContentP50),
    ratios((m) => m.streams.firstContentP50)
  ],
  singleFirstP50: [
    across("clawgate", (m) => m.single.firstContentP50),
    across("raw", (m) => m.single.firstContentP50),
    diffs((m) => m.single.firstContentP50)
  ],
  singleFirstP99: [
    across("clawgate", (m) => m.single.firstContentP99),
    across("raw", (m) => m.single.firstContentP99),
    diffs((m) => m.single.firstContentP99)
  ]
}
results.summary = s
const row = (name, [c, r, x], unit, digits = 1, how = "ratio") =>
  `| ${name} | ${fmt(c, digits)} ${unit} | ${fmt(r, digits)} ${unit} | ${
    how === "ratio" ? `${fmt(x, 2)}x` : `${x >= 0 ? "+" : ""}${fmt(x, 2)} ms`
  } |`
const lines = [
  "",
  `## results (median over ${ROUNDS} rounds; ratio = clawgate / raw proxy, per round, then median)`,
  "",
  "| measure | clawgate | raw proxy | clawgate vs raw |",
  "| --- | --- | --- | --- |",
  row(`non-stream throughput (${CONNECTIONS} conns)`, s.nonStreamRps, "req/s", 0),
  row("non-stream latency p50", s.nonStreamP50, "ms", 2),
  row("non-stream latency p99", s.nonStreamP99, "ms", 2),
  `| server CPU during non-stream load | ${fmt(s.serverCores[0], 2)} cores | ${fmt(s.serverCores[1], 2)} cores | |`,
  `| load generator + fake provider CPU then | ${fmt(s.driverCores[0], 2)} cores | ${
    fmt(s.driverCores[1], 2)
  } cores | |`,
  ...s.cpuBusy.map(([c, r], cpu) =>
    `| CPU ${cpu} busy (all processes) then | ${fmt(100 * c, 0)}% | ${fmt(100 * r, 0)}% | |`
  ),
  row(`streams completed (${CONNECTIONS} conns, ${PIECES} pieces)`, s.streamsPerSecond, "/s", 0),
  row(`first content chunk p50 (${CONNECTIONS} conns)`, s.loadedFirstP50, "ms", 2),
  row("first content chunk p50 (1 conn, first piece alone)", s.singleFirstP50, "ms", 2, "diff"),
  row("first content chunk p99 (1 conn, first piece alone)", s.singleFirstP99, "ms", 2, "diff"),
  `| start-up: spawn -> first answer (median of ${STARTUPS}) | ${fmt(results.startup.clawgateMs, 0)} ms | ${
    fmt(results.startup.rawMs, 0)
  } ms | |`,
  `| idle RSS after the first answer | ${fmt(results.memory.clawgate?.idleMb)} MB | ${
    fmt(results.memory.raw?.idleMb)
  } MB | |`,
  `| RSS after the load rounds | ${fmt(results.idleAfterLoadMb?.clawgate)} MB | ${
    fmt(results.idleAfterLoadMb?.raw)
  } MB | |`,
  `| Effect operations per request, plain / streamed (bench/ops.mjs) | ${fmt(results.ops?.plain.operations, 0)} / ${
    fmt(results.ops?.streamed.operations, 0)
  } | | |`
]
for (const [i, count] of STREAM_COUNTS.entries()) {
  const c = results.memory.clawgate?.loads[i]
  const r = results.memory.raw?.loads[i]
  const opened = (
    x
  ) => (x?.timedOut
    ? ` (only ${x.opened} opened in ${x.openSeconds} s)`
    : x === undefined
    ? ""
    : ` (all open after ${fmt(x.openSeconds)} s)`)
  lines.push(
    `| RSS with ${count} slow streams open | ${fmt(c?.peakMb)} MB${opened(c)} | ${fmt(r?.peakMb)} MB${opened(r)} | |`
  )
  lines.push(
    `| per stream over idle, ${count} streams | ${fmt(c?.perStreamKb)} KB | ${fmt(r?.perStreamKb)} KB | ${
      fmt(c?.perStreamKb / r?.perStreamKb, 2)
    }x |`
  )
  const dropped = (
    x
  ) => (x === undefined ? "-" : x.timedOut ? `${x.dropped} of the ${x.started} started` : String(x.dropped))
  lines.push(`| ${count} streams dropped (no [DONE]) | ${dropped(c)} | ${dropped(r)} | |`)
}
const fanC = results.fanout.clawgate
const fanR = results.fanout.raw
if (fanC !== undefined || fanR !== undefined) {
  const fanRow = (name, pick, unit, digits, how) =>
    `| fan-out: ${name} | ${fmt(pick(fanC), digits)} ${unit} | ${fmt(pick(fanR), digits)} ${unit} | ${
      how === "ratio" ? `${fmt(pick(fanC) / pick(fanR), 2)}x` : ""
    } |`
  const outcome = (f) => (f === undefined ? "-" : `${f.completed} / ${f.reset} / ${f.failed}`)
  lines.push(
    `| fan-out: ${FANOUT} streams over ${
      FANOUT_RAMP_MS / 1000
    } s, ${FANOUT_TOKENS} tokens every ${FANOUT_INTERVAL_MS} ms: ` +
      `completed / reset / failed | ${outcome(fanC)} | ${outcome(fanR)} | |`,
    fanRow(`all launched after (the ramp: ${FANOUT_RAMP_MS / 1000} s)`, (f) => f?.rampSeconds, "s", 2),
    fanRow("time to first content p50", (f) => f?.firstTokenP50, "ms", 1, "ratio"),
    fanRow("time to first content p90", (f) => f?.firstTokenP90, "ms", 1, "ratio"),
    fanRow("per-token delay added p50", (f) => f?.delayP50, "ms", 2, "ratio"),
    fanRow("per-token delay added p99", (f) => f?.delayP99, "ms", 2, "ratio"),
    fanRow("CPU per stream", (f) => f?.cpuPerStreamMs, "ms", 2, "ratio"),
    fanRow("RSS per stream (peak over idle)", (f) => f?.rssPerStreamKb, "KB", 1, "ratio"),
    fanRow("load side's CPU (load generator + fake provider)", (f) => f?.loadSideCores, "cores", 2),
    fanRow("load side's CPU, busiest second", (f) => f?.loadSideBusiestCores, "cores", 2),
    fanRow("load generator's event-loop delay p99", (f) => f?.clientLagP99Ms, "ms", 1),
    ...[0, 1].map((cpu) => fanRow(`CPU ${cpu} busy (all processes)`, (f) => 100 * f?.cpuBusy[cpu], "%", 0))
  )
}
if (results.rounds.length > 0) {
  const nonStream = (m) => m.nonStream.perSecond
  const streams = (m) => m.streams.perSecond
  const first = (m) => m.single.firstContentP50
  lines.push(
    "",
    "## the stack's floor (bench/effect-proxy.mjs: the raw proxy's work on @effect/platform's HTTP server and HttpClient)",
    "",
    "| measure | effect floor | floor vs raw proxy | clawgate vs floor |",
    "| --- | --- | --- | --- |",
    `| non-stream throughput (${CONNECTIONS} conns) | ${fmt(across("floor", nonStream), 0)} req/s | ${
      fmt(ratios(nonStream, "floor"), 2)
    }x | ${fmt(ratios(nonStream, "clawgate", "floor"), 2)}x |`,
    `| streams completed (${CONNECTIONS} conns, ${PIECES} pieces) | ${fmt(across("floor", streams), 0)} /s | ${
      fmt(ratios(streams, "floor"), 2)
    }x | ${fmt(ratios(streams, "clawgate", "floor"), 2)}x |`,
    `| first content chunk p50 (1 conn, first piece alone) | ${fmt(across("floor", first), 2)} ms | +${
      fmt(diffs(first, "floor"), 2)
    } ms | +${fmt(diffs(first, "clawgate", "floor"), 2)} ms |`,
    `| idle RSS after start | ${fmt(results.idleAfterStartMb?.floor)} MB | | |`
  )
}
const verdict = (ok, ...values) => (values.some((v) => !Number.isFinite(v)) ? "not measured" : ok ? "met" : "MISSED")
/** The fan-out targets are set at 5,000 streams: a smaller run says so next to its verdict. */
const fanVerdict = (ok, ...values) =>
  verdict(ok, ...values) +
  (fanC !== undefined && FANOUT < 5000 ? ` (at ${FANOUT} streams; the target is at 5,000)` : "")
const ratio = (pick) => pick(fanC) / pick(fanR)
lines.push(
  "",
  "## targets (issue 11)",
  "",
  `- non-stream throughput >= 0.35x raw (0.5x the goal beyond): ${fmt(s.nonStreamRps[2], 2)}x -> ${
    verdict(s.nonStreamRps[2] >= 0.35, s.nonStreamRps[2])
  }`,
  `- streams completed per second (${CONNECTIONS} conns, ${PIECES} pieces) >= 0.3x raw: ${
    fmt(s.streamsPerSecond[2], 2)
  }x -> ${verdict(s.streamsPerSecond[2] >= 0.3, s.streamsPerSecond[2])}`,
  `- first content chunk within 1 ms of raw at p50 (1 conn): ${fmt(s.singleFirstP50[2], 2)} ms -> ${
    verdict(s.singleFirstP50[2] <= 1, s.singleFirstP50[2])
  }`,
  `- start-up under 0.5 s to the first answer: ${fmt(results.startup.clawgateMs, 0)} ms -> ${
    verdict(results.startup.clawgateMs < 500, results.startup.clawgateMs)
  }`,
  `- idle RSS under 90 MB: ${fmt(results.memory.clawgate?.idleMb)} MB -> ${
    verdict(results.memory.clawgate?.idleMb < 90, results.memory.clawgate?.idleMb)
  }`,
  `- fan-out, none dropped: ${fanC === undefined ? "-" : FANOUT - fanC.completed} of ${FANOUT} -> ${
    fanVerdict(fanC?.completed === FANOUT, fanC?.completed)
  }`,
  `- fan-out, per-token delay p99 within 2x raw: ${fmt(ratio((f) => f?.delayP99), 2)}x -> ${
    fanVerdict(ratio((f) => f?.delayP99) <= 2, ratio((f) => f?.delayP99))
  }`,
  `- fan-out, CPU per stream within 3x raw: ${fmt(ratio((f) => f?.cpuPerStreamMs), 2)}x -> ${
    fanVerdict(ratio((f) => f?.cpuPerStreamMs) <= 3, ratio((f) => f?.cpuPerStreamMs))
  }`,
  `- fan-out, RSS per stream under 60 KB: ${fmt(fanC?.rssPerStreamKb)} KB -> ${
    fanVerdict(fanC?.rssPerStreamKb < 60, fanC?.rssPerStreamKb)
  }`,
  "",
  `load average at the end: ${Os.loadavg().map((n) => n.toFixed(2)).join(" ")}`
)
say(lines.join("\n"))
if (JSON_OUT !== undefined) Fs.writeFileSync(JSON_OUT, JSON.stringify(results, null, 2))
if (!flag("keep")) Fs.rmSync(tmp, { recursive: true, force: true })

async function httpJsonBody(port, path) {
  // a tiny one-off GET whose body we want: node's http client is fine here
  const Http = await import("node:http")
  return new Promise((resolve) => {
    Http.get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = ""
      res.on("data", (d) => (body += d))
      res.on("end", () => resolve(body))
    }).on("error", () => resolve(undefined))
  })
}
process.exit(0)

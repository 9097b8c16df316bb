// Load generation for the benchmark: keep-alive HTTP/1.1 connections over raw sockets (one request
// at a time on each, no pipelining), with request bytes built once, so the generator itself costs
// little CPU next to the server it measures. Only ever connects to 127.0.0.1.
import * as Net from "node:net"
import { monitorEventLoopDelay, performance } from "node:perf_hooks"

const CRLF2 = Buffer.from("\r\n\r\n")
const CRLF = Buffer.from("\r\n")
const DONE = "data: [DONE]"
const FIRST_CONTENT = /"content":"[^"]/
/** A token of the fake provider's `fanout` model: `t<seq>@<monotonic ms, 3 decimals>` (see fake-provider.mjs). */
const STAMP = /t(\d+)@(\d+\.\d{3})/g

/**
 * The machine's monotonic clock in ms (CLOCK_MONOTONIC, as `process.hrtime` reads it): unlike
 * `performance.now()`, the same in every process on the machine, so a time written by one process
 * can be subtracted from another's.
 */
export const monotonicMs = () => {
  const [seconds, nanoseconds] = process.hrtime()
  return seconds * 1e3 + nanoseconds / 1e6
}

/** A POST request's bytes, built once. */
export const postBytes = (port, path, token, body) => {
  const payload = Buffer.from(JSON.stringify(body))
  const head = `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: Bearer ${token}\r\n` +
    `content-type: application/json\r\naccept: */*\r\ncontent-length: ${payload.length}\r\n` +
    `connection: keep-alive\r\n\r\n`
  return Buffer.concat([Buffer.from(head), payload])
}

/**
 * One keep-alive connection. `send(bytes, handler)` resolves when the whole response has been read:
 * `{ status, headersMs, firstContentMs, totalMs, done, error }` (times from the send, in ms;
 * `firstContentMs` and `done` only for `{ watchContent: true }`: the first SSE chunk with non-empty
 * `content`, and whether `data: [DONE]` came). `{ onBody(data) }` sees each piece of the body as it
 * arrives (without the chunked framing).
 */
export class Connection {
  constructor(port) {
    this.port = port
    this.socket = undefined
    this.connecting = undefined
    /** The socket while it connects, so that `close()` can end a connection attempt too. */
    this.dialing = undefined
    this.pending = undefined
  }

  connect() {
    if (this.socket !== undefined && !this.socket.destroyed) return Promise.resolve()
    if (this.connecting !== undefined) return this.connecting
    this.connecting = new Promise((resolve, reject) => {
      const socket = Net.connect({ host: "127.0.0.1", port: this.port, noDelay: true })
      this.dialing = socket
      socket.once("connect", () => {
        this.socket = socket
        this.connecting = undefined
        this.dialing = undefined
        resolve()
      })
      socket.once("error", (error) => {
        this.connecting = undefined
        this.dialing = undefined
        if (this.socket !== socket) reject(error)
      })
      let failure = ""
      socket.on("error", (error) => (failure = ` (${error.code ?? error.message})`))
      socket.on("data", (data) => this.onData(data))
      socket.on("close", () => {
        if (this.socket === socket) this.socket = undefined
        this.finish(this.pending?.untilClose && failure === "" ? undefined : `connection closed${failure}`)
      })
    })
    return this.connecting
  }

  async send(bytes, options = {}) {
    try {
      await this.connect()
    } catch (error) {
      return { status: 0, error: `connect: ${error.code ?? error.message}` }
    }
    return new Promise((resolve) => {
      this.pending = {
        resolve,
        watchContent: options.watchContent === true,
        onFirstContent: options.onFirstContent,
        onBody: options.onBody,
        started: performance.now(),
        head: Buffer.alloc(0),
        inHead: true,
        status: 0,
        headersMs: undefined,
        firstContentMs: undefined,
        text: "",
        // body framing
        chunked: false,
        remaining: 0,
        untilClose: false,
        chunkState: "size",
        sizeLine: Buffer.alloc(0),
        closeAfter: false
      }
      this.socket.write(bytes)
    })
  }

  close() {
    this.socket?.destroy()
    this.dialing?.destroy(new Error("closed while connecting"))
  }

  finish(error) {
    const p = this.pending
    if (p === undefined) return
    this.pending = undefined
    const totalMs = performance.now() - p.started
    p.resolve({
      status: p.status,
      headersMs: p.headersMs,
      firstContentMs: p.firstContentMs,
      totalMs,
      done: p.watchContent ? p.text.includes(DONE) : undefined,
      error
    })
    if (p.closeAfter) this.socket?.destroy()
  }

  onBody(p, data) {
    if (data.length === 0) return
    p.onBody?.(data)
    if (!p.watchContent) return
    p.text += data.toString("latin1")
    if (p.firstContentMs === undefined && FIRST_CONTENT.test(p.text)) {
      p.firstContentMs = performance.now() - p.started
      p.onFirstContent?.()
    }
  }

  onData(data) {
    const p = this.pending
    if (p === undefined) return
    if (p.inHead) {
      const all = p.head.length === 0 ? data : Buffer.concat([p.head, data])
      const end = all.indexOf(CRLF2)
      if (end < 0) {
        p.head = all
        return
      }
      p.inHead = false
      p.headersMs = performance.now() - p.started
      const head = all.subarray(0, end).toString("latin1")
      p.status = Number(head.slice(9, 12))
      const lower = head.toLowerCase()
      const length = /\r\ncontent-length:\s*(\d+)/.exec(lower)
      p.chunked = /\r\ntransfer-encoding:\s*chunked/.test(lower)
      p.closeAfter = /\r\nconnection:\s*close/.test(lower)
      if (p.chunked) p.remaining = 0
      else if (length !== null) p.remaining = Number(length[1])
      else if (p.status === 204 || p.status === 304) p.remaining = 0
      else p.untilClose = true
      data = all.subarray(end + 4)
      if (!p.chunked && !p.untilClose && p.remaining === 0) return this.finish()
    }
    if (p.untilClose) return this.onBody(p, data)
    if (!p.chunked) {
      const take = Math.min(p.remaining, data.length)
      this.onBody(p, data.subarray(0, take))
      p.remaining -= take
      if (p.remaining === 0) this.finish()
      return
    }
    // chunked transfer coding
    let at = 0
    while (at < data.length && this.pending === p) {
      if (p.chunkState === "size") {
        const eol = data.indexOf(CRLF, at)
        if (eol < 0) {
          p.sizeLine = Buffer.concat([p.sizeLine, data.subarray(at)])
          return
        }
        const line = Buffer.concat([p.sizeLine, data.subarray(at, eol)]).toString("latin1")
        p.sizeLine = Buffer.alloc(0)
        at = eol + 2
        const size = parseInt(line, 16)
        if (size === 0) {
          p.chunkState = "trailer"
          p.trailer = Buffer.alloc(0)
        } else {
          p.remaining = size
          p.chunkState = "data"
        }
      } else if (p.chunkState === "data") {
        const take = Math.min(p.remaining, data.length - at)
        this.onBody(p, data.subarray(at, at + take))
        at += take
        p.remaining -= take
        if (p.remaining === 0) {
          p.chunkState = "crlf"
          p.crlfLeft = 2
        }
      } else if (p.chunkState === "crlf") {
        const take = Math.min(p.crlfLeft, data.length - at)
        at += take
        p.crlfLeft -= take
        if (p.crlfLeft === 0) p.chunkState = "size"
      } else {
        // trailer section: ends with an empty line (usually just CRLF)
        p.trailer = Buffer.concat([p.trailer, data.subarray(at)])
        at = data.length
        if (p.trailer.subarray(0, 2).equals(CRLF) || p.trailer.indexOf(CRLF2) >= 0) this.finish()
      }
    }
  }
}

export const percentile = (sorted, q) => {
  if (sorted.length === 0) return NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[index]
}

const sortNumbers = (values) => Float64Array.from(values).sort()

/**
 * Closed-loop load: `connections` keep-alive connections, each sending `bytes` again as soon as its
 * previous answer has been read, for `durationMs` after `warmupMs` (warm-up answers are not counted).
 * Stops by itself; at most `maxRequests` requests counted.
 */
export const closedLoop = async (
  { port, bytes, connections, durationMs, warmupMs = 0, watchContent = false, maxRequests = 5_000_000 }
) => {
  const start = performance.now()
  const measureFrom = start + warmupMs
  const deadline = measureFrom + durationMs
  const latencies = []
  const firstContent = []
  let ok = 0
  let failed = 0
  let notDone = 0
  const errors = new Map()
  const worker = async () => {
    const connection = new Connection(port)
    while (performance.now() < deadline && ok + failed < maxRequests) {
      const sentAt = performance.now()
      const result = await connection.send(bytes, { watchContent })
      if (sentAt < measureFrom) continue
      if (result.status === 200 && result.error === undefined && (!watchContent || result.done)) {
        ok++
        latencies.push(result.totalMs)
        if (result.firstContentMs !== undefined) firstContent.push(result.firstContentMs)
      } else {
        failed++
        if (watchContent && result.status === 200 && !result.done) notDone++
        const key = result.error ?? `status ${result.status}`
        errors.set(key, (errors.get(key) ?? 0) + 1)
        if (result.error !== undefined) await new Promise((resolve) => setTimeout(resolve, 10))
      }
    }
    connection.close()
  }
  await Promise.all(Array.from({ length: connections }, worker))
  const elapsed = (Math.min(performance.now(), deadline) - measureFrom) / 1000
  const sorted = sortNumbers(latencies)
  const sortedFirst = sortNumbers(firstContent)
  return {
    ok,
    failed,
    notDone,
    errors: Object.fromEntries(errors),
    seconds: elapsed,
    perSecond: ok / elapsed,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    firstContentP50: percentile(sortedFirst, 0.5),
    firstContentP99: percentile(sortedFirst, 0.99)
  }
}

/**
 * Opens `count` streams at once (one connection each), no more than `rampConcurrency` waiting for
 * their first content at a time. `opened()` resolves when every stream has its first content (or
 * failed); `finished()` when every stream has ended. Each result says whether `[DONE]` came.
 */
export const openStreams = ({ port, bytes, count, rampConcurrency = 200 }) => {
  const results = new Array(count)
  let started = 0
  let firstSeen = 0
  let failedEarly = 0
  let resolveOpened
  const opened = new Promise((resolve) => (resolveOpened = resolve))
  const waiters = []
  const checkOpened = () => {
    if (firstSeen + failedEarly === count) resolveOpened({ open: firstSeen, failed: failedEarly })
  }
  const connections = []
  const launch = (i) => {
    const connection = new Connection(port)
    connections.push(connection)
    let counted = false
    const countFirst = () => {
      if (counted) return
      counted = true
      firstSeen++
      checkOpened()
      next()
    }
    return connection.send(bytes, { watchContent: true, onFirstContent: countFirst }).then((result) => {
      results[i] = result
      if (result.firstContentMs !== undefined) countFirst()
      else if (!counted) {
        counted = true
        failedEarly++
        checkOpened()
        next()
      }
      connection.close()
    })
  }
  let aborted = false
  const next = () => {
    if (!aborted && started < count) {
      const i = started++
      waiters.push(launch(i))
    }
  }
  for (let i = 0; i < Math.min(rampConcurrency, count); i++) next()
  const finished = async () => {
    // every launch is pushed before its predecessor's slot is freed, so waiting in a loop sees them all
    for (let i = 0; i < waiters.length; i++) await waiters[i]
    const done = results.filter((r) => r !== undefined && r.status === 200 && r.done).length
    const errors = new Map()
    for (const r of results) {
      if (r === undefined || (r.status === 200 && r.done)) continue
      const key = r.error ?? (r.status === 200 ? "no [DONE]" : `status ${r.status}`)
      errors.set(key, (errors.get(key) ?? 0) + 1)
    }
    return { count, done, dropped: count - done, errors: Object.fromEntries(errors) }
  }
  /** Launches no more streams; those under way go on. */
  const stop = () => {
    aborted = true
  }
  const abort = () => {
    aborted = true
    connections.forEach((c) => c.close())
  }
  const progress = () => ({ started, open: firstSeen, failed: failedEarly })
  return { opened, finished, stop, abort, progress }
}

/**
 * Fan-out: `count` streams opened evenly over `rampMs` (stream i at i * rampMs / count), each on a
 * connection of its own, reading the fake provider's `fanout` answer of `tokens` stamped tokens to
 * its end. Per stream: the time from its launch (before connecting) to its first token, and whether
 * it completed (status 200, every token, `[DONE]`), was reset (refused, reset or closed before the
 * answer ended) or failed (any other answer, or still open `graceMs` after its last token was due,
 * given `intervalMs` between tokens). Per token: its arrival minus its stamp, the delay added on the
 * way (loopback costs ~0). Also this process's own event-loop delay, which would add to the tokens'.
 */
export const fanOut = async ({ port, bytes, count, rampMs, tokens, intervalMs, graceMs = 60_000 }) => {
  const delays = new Float64Array(count * tokens)
  let delayCount = 0
  const firstTokenMs = []
  const outcomes = { completed: 0, reset: 0, failed: 0 }
  const errors = new Map()
  /** The connections whose answer has not ended, with their stream's state. */
  const open = new Map()
  const settled = []
  const LAG_RESOLUTION_MS = 10
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
  lag.enable()
  const t0 = monotonicMs()

  const launch = () => {
    const launchedAt = monotonicMs()
    const connection = new Connection(port)
    const stream = { received: 0, done: false, carry: "", expired: false }
    open.set(connection, stream)
    const onBody = (data) => {
      const text = stream.carry + data.toString("latin1")
      const end = text.lastIndexOf("\n") + 1
      stream.carry = text.slice(end)
      if (end === 0) return
      const now = monotonicMs()
      const lines = text.slice(0, end)
      for (const match of lines.matchAll(STAMP)) {
        if (stream.received++ === 0) firstTokenMs.push(now - launchedAt)
        if (delayCount < delays.length) delays[delayCount++] = now - Number(match[2])
      }
      if (lines.includes(DONE)) stream.done = true
    }
    settled.push(
      connection.send(bytes, { onBody }).then((result) => {
        open.delete(connection)
        connection.close()
        const outcome = stream.expired
          ? ["failed", `still open ${graceMs / 1000} s after its last token was due`]
          : result.status === 0 || (result.error !== undefined && !stream.done)
          ? ["reset", result.error ?? "connection closed"]
          : result.status !== 200
          ? ["failed", `status ${result.status}`]
          : !stream.done
          ? ["failed", "no [DONE]"]
          : stream.received !== tokens
          ? ["failed", `${stream.received} of ${tokens} tokens`]
          : ["completed"]
        outcomes[outcome[0]]++
        if (outcome[1] !== undefined) errors.set(outcome[1], (errors.get(outcome[1]) ?? 0) + 1)
      })
    )
  }

  // one timer launches every stream that is due, then waits for the next
  let launched = 0
  await new Promise((resolve) => {
    const launchDue = () => {
      const elapsed = monotonicMs() - t0
      while (launched < count && launched * rampMs / count <= elapsed) {
        launch()
        launched++
      }
      if (launched === count) resolve()
      else setTimeout(launchDue, launched * rampMs / count - elapsed)
    }
    launchDue()
  })
  const rampSeconds = (monotonicMs() - t0) / 1000
  const allSettled = Promise.all(settled)
  let deadline
  const expired = await Promise.race([
    allSettled.then(() => false),
    new Promise((resolve) => (deadline = setTimeout(resolve, (tokens - 1) * intervalMs + graceMs, true)))
  ])
  clearTimeout(deadline)
  if (expired) {
    for (const [connection, stream] of open) {
      stream.expired = true
      connection.close()
    }
    await allSettled
  }
  lag.disable()
  const sortedFirst = sortNumbers(firstTokenMs)
  const sortedDelays = delays.subarray(0, delayCount).sort()
  return {
    count,
    ...outcomes,
    errors: Object.fromEntries(errors),
    rampSeconds,
    seconds: (monotonicMs() - t0) / 1000,
    tokensReceived: delayCount,
    firstTokenP50: percentile(sortedFirst, 0.5),
    firstTokenP90: percentile(sortedFirst, 0.9),
    delayP50: percentile(sortedDelays, 0.5),
    delayP99: percentile(sortedDelays, 0.99),
    delayMax: sortedDelays.at(-1),
    // the histogram holds the intervals between the timer's runs: how late it ran is the rest
    clientLagP99Ms: Math.max(0, lag.percentile(99) / 1e6 - LAG_RESOLUTION_MS)
  }
}

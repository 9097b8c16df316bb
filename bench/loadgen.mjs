// Load generation for the benchmark: keep-alive HTTP/1.1 connections over raw sockets (one request
// at a time on each, no pipelining), with request bytes built once, so the generator itself costs
// little CPU next to the server it measures. Only ever connects to 127.0.0.1.
import * as Net from "node:net"
import { performance } from "node:perf_hooks"

const CRLF2 = Buffer.from("\r\n\r\n")
const CRLF = Buffer.from("\r\n")
const DONE = "data: [DONE]"
const FIRST_CONTENT = /"content":"[^"]/

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
 * `content`, and whether `data: [DONE]` came).
 */
export class Connection {
  constructor(port) {
    this.port = port
    this.socket = undefined
    this.connecting = undefined
    this.pending = undefined
  }

  connect() {
    if (this.socket !== undefined && !this.socket.destroyed) return Promise.resolve()
    if (this.connecting !== undefined) return this.connecting
    this.connecting = new Promise((resolve, reject) => {
      const socket = Net.connect({ host: "127.0.0.1", port: this.port, noDelay: true })
      socket.once("connect", () => {
        this.socket = socket
        this.connecting = undefined
        resolve()
      })
      socket.once("error", (error) => {
        this.connecting = undefined
        if (this.socket !== socket) reject(error)
      })
      socket.on("error", () => {})
      socket.on("data", (data) => this.onData(data))
      socket.on("close", () => {
        if (this.socket === socket) this.socket = undefined
        this.finish(this.pending?.untilClose ? undefined : "connection closed")
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
    if (!p.watchContent || data.length === 0) return
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

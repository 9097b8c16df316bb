// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self and total time by function, by file
// and by package, excluding idle time.
//
//   node bench/profile.mjs <file.cpuprofile> [--top 30]
import * as Fs from "node:fs"
import { fileURLToPath } from "node:url"

const packageOf = (url, functionName) => {
  if (url === "") {
    if (functionName === "(garbage collector)") return "(garbage collector)"
    if (functionName === "(program)") return "(program: native, not JS)"
    if (functionName === "(idle)") return "(idle)"
    return "(native / builtins)"
  }
  if (url.startsWith("node:")) return "node: core"
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (match !== null) return match[1]
  const dist = /\/(dist|bench|src)\/(.*)$/.exec(url)
  if (dist !== null) return `clawgate ${dist[1]}/`
  return url
}

const fileOf = (url) => {
  if (url === "") return "(none)"
  const match = /node_modules\/(.*)$/.exec(url)
  if (match !== null) return match[1]
  const own = /\/((?:dist|bench|src)\/.*)$/.exec(url)
  return own !== null ? own[1] : url.replace(/^file:\/\//, "")
}

/** Packages that do work for others: time in them counts to the first other file up the stack. */
const SERVANTS = new Set([
  "effect",
  "node: core",
  "(native / builtins)",
  "(program: native, not JS)",
  "(garbage collector)"
])

const requesterOf = (id, nodes, parent) => {
  const leaf = nodes.get(id).callFrame
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const frame = nodes.get(at).callFrame
    if (frame.functionName === "(root)") break
    if (!SERVANTS.has(packageOf(frame.url, frame.functionName))) return fileOf(frame.url)
  }
  const pkg = packageOf(leaf.url, leaf.functionName)
  return pkg === "effect" ? "effect (runtime: fiber scheduling, no caller on the stack)" : pkg
}

const pct = (part, whole) => `${((100 * part) / whole).toFixed(1)}%`.padStart(6)
const ms = (us) => `${(us / 1000).toFixed(0)} ms`.padStart(9)

/** A text report of where the profile's CPU time went. */
export const summarize = (profile, { top = 30, fromUs = -Infinity, toUs = Infinity } = {}) => {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const self = new Map()
  const { samples, timeDeltas } = profile
  let at = profile.startTime
  let windowUs = 0
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the time to the next one to sample i.
    at += timeDeltas[i]
    if (at < fromUs || at > toUs) continue
    const delta = timeDeltas[i + 1] ?? 0
    windowUs += delta
    self.set(samples[i], (self.get(samples[i]) ?? 0) + delta)
  }
  const byFunction = new Map()
  const byFile = new Map()
  const byPackage = new Map()
  const totalPackage = new Map()
  const totalFunction = new Map()
  const byRequester = new Map()
  let all = 0
  let idle = 0
  const add = (map, key, value) => map.set(key, (map.get(key) ?? 0) + value)
  for (const [id, time] of self) {
    const node = nodes.get(id)
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === "(idle)") {
      idle += time
      continue
    }
    all += time
    const pkg = packageOf(url, functionName)
    add(byFunction, `${functionName || "(anonymous)"}  ${fileOf(url)}:${lineNumber + 1}`, time)
    add(byFile, fileOf(url), time)
    add(byPackage, pkg, time)
    // total (inclusive) time: each package and function once per stack
    const seenPackages = new Set()
    const seenFunctions = new Set()
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const frame = nodes.get(at).callFrame
      if (frame.functionName === "(root)") break
      seenPackages.add(packageOf(frame.url, frame.functionName))
      seenFunctions.add(`${frame.functionName || "(anonymous)"}  ${fileOf(frame.url)}:${frame.lineNumber + 1}`)
    }
    add(byRequester, requesterOf(id, nodes, parent), time)
    for (const key of seenPackages) add(totalPackage, key, time)
    for (const key of seenFunctions) add(totalFunction, key, time)
  }
  const sorted = (map) => [...map].sort((a, b) => b[1] - a[1])
  const lines = []
  const window = Number.isFinite(fromUs)
    ? ` in a window of ${ms(windowUs).trim()} (the load only, start-up left out)`
    : ""
  lines.push(`CPU time sampled (not idle): ${ms(all).trim()}; idle: ${ms(idle).trim()}${window}`)
  lines.push("", "self time by package (total = on the stack, inclusive):")
  for (const [key, time] of sorted(byPackage).slice(0, 20)) {
    lines.push(`${pct(time, all)} ${ms(time)}  total ${pct(totalPackage.get(key) ?? 0, all)}  ${key}`)
  }
  lines.push("", `self time by function (top ${top}):`)
  for (const [key, time] of sorted(byFunction).slice(0, top)) lines.push(`${pct(time, all)} ${ms(time)}  ${key}`)
  lines.push("", "self time by file (top 20):")
  for (const [key, time] of sorted(byFile).slice(0, 20)) lines.push(`${pct(time, all)} ${ms(time)}  ${key}`)
  lines.push(
    "",
    "self time by requester: the innermost file on the stack that is not effect's core, node's core or native",
    "(so work that effect or node does on behalf of a library or of clawgate is counted to it; top 25):"
  )
  for (const [key, time] of sorted(byRequester).slice(0, 25)) lines.push(`${pct(time, all)} ${ms(time)}  ${key}`)
  lines.push("", "total (inclusive) time of clawgate's own functions (top 20):")
  for (const [key, time] of sorted(totalFunction).filter(([key]) => /\s(dist|src)\//.test(key)).slice(0, 20)) {
    lines.push(`${pct(time, all)} ${ms(time)}  ${key}`)
  }
  return lines.join("\n")
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2]
  if (file === undefined) {
    console.error("usage: node bench/profile.mjs <file.cpuprofile> [--top N]")
    process.exit(1)
  }
  const at = process.argv.indexOf("--top")
  const top = at > 0 ? Number(process.argv[at + 1]) : 30
  console.log(summarize(JSON.parse(Fs.readFileSync(file, "utf8")), { top }))
}

/**
 * A text report of a sampling heap profile (`HeapProfiler.stopSampling`'s): bytes per `unit` (a
 * token, a request) by the allocating function, and by the innermost clawgate function on the stack.
 */
export const summarizeSampling = (profile, { units, unit = "unit", top = 25 }) => {
  const self = new Map()
  const byOwn = new Map()
  let total = 0
  const walk = (node, own) => {
    const { columnNumber, functionName, lineNumber, url } = node.callFrame
    const where = `${functionName || "(anonymous)"}  ${fileOf(url)}:${lineNumber + 1}:${columnNumber + 1}`
    const mine = /\/dist\//.test(url) ? where : own
    total += node.selfSize
    if (node.selfSize > 0) {
      self.set(where, (self.get(where) ?? 0) + node.selfSize)
      byOwn.set(mine, (byOwn.get(mine) ?? 0) + node.selfSize)
    }
    for (const child of node.children) walk(child, mine)
  }
  walk(profile.head, "(no clawgate function on the stack)")
  const bytes = (n) => `${(n / units).toFixed(0)} B`.padStart(8)
  const rows = (map) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, top).map(([where, size]) => `${bytes(size)}  ${where}`)
  return [
    `kept per ${unit}: ${bytes(total).trim()} (${units} ${unit}s; samples every 4 KB, so small figures are noise)`,
    "",
    `by the allocating function (top ${top}):`,
    ...rows(self),
    "",
    `by the innermost clawgate function on the stack (top ${top}):`,
    ...rows(byOwn)
  ].join("\n")
}

// Compares two V8 heap snapshots (idle, and with N streams open) by what the objects are: self size
// and count per constructor / closure / kind, per stream. Snapshots come from
// `npm run bench -- --profile heap` (node's --heapsnapshot-signal), or from Chrome DevTools.
//
//   node bench/heap-summary.mjs <before.heapsnapshot> <after.heapsnapshot> <streams> [--top 40]
import * as Fs from "node:fs"
import { fileURLToPath } from "node:url"

/** Self size and count by `kind name` (a constructor for objects, a function name for closures). */
export const tally = (file) => {
  // The snapshot is parsed as one string, and V8's strings stop at ~512 MB (about 600 streams' worth).
  const size = Fs.statSync(file).size
  if (size > 500 * 1048576) {
    throw new Error(
      `${file} is ${
        (size / 1048576).toFixed(0)
      } MB: too big to parse here; take it with fewer streams, or open it in Chrome DevTools`
    )
  }
  const snapshot = JSON.parse(Fs.readFileSync(file, "utf8"))
  const fields = snapshot.snapshot.meta.node_fields
  const types = snapshot.snapshot.meta.node_types[0]
  const width = fields.length
  const typeAt = fields.indexOf("type")
  const nameAt = fields.indexOf("name")
  const sizeAt = fields.indexOf("self_size")
  const { nodes, strings, edges } = snapshot
  const edgeWidth = snapshot.snapshot.meta.edge_fields.length
  const edgeTypes = snapshot.snapshot.meta.edge_types[0]
  const countAt = fields.indexOf("edge_count")
  // where each node's edges start
  const firstEdge = new Uint32Array(nodes.length / width + 1)
  for (let n = 0, e = 0; n < nodes.length / width; n++) {
    firstEdge[n] = e
    e += nodes[n * width + countAt] * edgeWidth
  }
  const named = (nodeIndex, name) => {
    const n = nodeIndex / width
    const end = firstEdge[n] + nodes[nodeIndex + countAt] * edgeWidth
    for (let e = firstEdge[n]; e < end; e += edgeWidth) {
      const type = edgeTypes[edges[e]]
      if (type !== "element" && type !== "hidden" && strings[edges[e + 1]] === name) return edges[e + 2]
    }
    return undefined
  }
  // the source file of each script id, through closure -> shared -> script -> name
  const locations = new Map()
  const scriptUrl = new Map()
  const loc = snapshot.locations ?? []
  const locWidth = snapshot.snapshot.meta.location_fields?.length ?? 4
  for (let i = 0; i < loc.length; i += locWidth) {
    const nodeIndex = loc[i]
    locations.set(nodeIndex, { script: loc[i + 1], line: loc[i + 2] })
    if (!scriptUrl.has(loc[i + 1]) && types[nodes[nodeIndex + typeAt]] === "closure") {
      const shared = named(nodeIndex, "shared")
      const script = shared === undefined ? undefined : named(shared, "script_or_debug_info") ?? named(shared, "script")
      if (script !== undefined) scriptUrl.set(loc[i + 1], strings[nodes[script + nameAt]])
    }
  }
  const shortUrl = (url) => {
    const match = /node_modules\/(.*)$/.exec(url) ?? /\/((?:dist|src|bench)\/.*)$/.exec(url)
    return match !== null ? match[1] : url
  }
  const bySize = new Map()
  const byCount = new Map()
  const closures = new Map()
  const closureCounts = new Map()
  let total = 0
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]]
    const size = nodes[i + sizeAt]
    total += size
    let key
    if (type === "object" || type === "closure" || type === "native") key = `${type} ${strings[nodes[i + nameAt]]}`
    else if (type === "array" || type === "hidden" || type === "object shape") {
      key = `(${type}) ${strings[nodes[i + nameAt]].slice(0, 40)}`
    } else key = `(${type})`
    bySize.set(key, (bySize.get(key) ?? 0) + size)
    byCount.set(key, (byCount.get(key) ?? 0) + 1)
    if (type === "closure") {
      const where = locations.get(i)
      const file = where === undefined ? "?" : shortUrl(scriptUrl.get(where.script) ?? `script ${where.script}`)
      const site = `${strings[nodes[i + nameAt]] || "(anonymous)"}  ${file}:${
        where === undefined ? "?" : where.line + 1
      }`
      closures.set(site, (closures.get(site) ?? 0) + size)
      closureCounts.set(site, (closureCounts.get(site) ?? 0) + 1)
    }
  }
  return { total, bySize, byCount, closures, closureCounts }
}

export const compare = (before, after, streams, top = 40) => {
  const lines = []
  const kb = (bytes) => (bytes / 1024).toFixed(2)
  lines.push(
    `live heap (after a full GC): ${(before.total / 1048576).toFixed(1)} MB idle, ${
      (after.total / 1048576).toFixed(1)
    } MB with ${streams} streams: ` +
      `${kb((after.total - before.total) / streams)} KB per stream`
  )
  const keys = new Set([...before.bySize.keys(), ...after.bySize.keys()])
  const rows = [...keys].map((key) => ({
    key,
    bytes: ((after.bySize.get(key) ?? 0) - (before.bySize.get(key) ?? 0)) / streams,
    count: ((after.byCount.get(key) ?? 0) - (before.byCount.get(key) ?? 0)) / streams
  })).sort((a, b) => b.bytes - a.bytes)
  lines.push("", `per stream, by kind (top ${top}): KB, objects`)
  for (const row of rows.slice(0, top)) {
    lines.push(`${kb(row.bytes).padStart(8)} KB ${row.count.toFixed(1).padStart(8)}  ${row.key}`)
  }
  const sites = new Set([...before.closureCounts.keys(), ...after.closureCounts.keys()])
  const closureRows = [...sites].map((key) => ({
    key,
    count: ((after.closureCounts.get(key) ?? 0) - (before.closureCounts.get(key) ?? 0)) / streams
  })).sort((a, b) => b.count - a.count)
  const closureTotal = closureRows.reduce((sum, row) => sum + Math.max(0, row.count), 0)
  lines.push(
    "",
    `closures per stream by the function they are (${
      closureTotal.toFixed(0)
    } in all; top 30), with the file that defines it:`
  )
  for (const row of closureRows.slice(0, 30)) lines.push(`${row.count.toFixed(1).padStart(8)}  ${row.key}`)
  const byFile = new Map()
  for (const row of closureRows) {
    const file = row.key.split("  ")[1].replace(/:\d+$/, "").replace(
      /^(@?[^/]+(?:\/[^/]+)?)\/dist\/.*$/,
      (_, pkg) => pkg.startsWith("@") ? pkg : pkg.split("/")[0]
    )
    byFile.set(file, (byFile.get(file) ?? 0) + row.count)
  }
  lines.push("", "closures per stream by package / file:")
  for (const [file, count] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    lines.push(`${count.toFixed(1).padStart(8)}  ${file}`)
  }
  return lines.join("\n")
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [before, after, streams] = process.argv.slice(2)
  if (before === undefined || after === undefined || streams === undefined) {
    console.error("usage: node bench/heap-summary.mjs <before.heapsnapshot> <after.heapsnapshot> <streams> [--top N]")
    process.exit(1)
  }
  const at = process.argv.indexOf("--top")
  console.log(compare(tally(before), tally(after), Number(streams), at > 0 ? Number(process.argv[at + 1]) : 40))
}

// Preloaded into clawgate by `npm run bench -- --profile promoted` (`node --import`): V8's sampling
// heap profiler, started at the first SIGUSR2 and stopped at the second, which writes the profile to
// $CLAWGATE_BENCH_SAMPLING_OUT. Samples of objects that scavenges collect are dropped, so the
// profile holds what was promoted to the old generation (or is still live, or too young to have
// met a scavenge yet): a stream's garbage that lives until its next token shows there.
import * as Fs from "node:fs"
import * as Inspector from "node:inspector"

const session = new Inspector.Session()
session.connect()
const post = (method, params = {}) =>
  new Promise((resolve, reject) =>
    session.post(method, params, (error, result) => error ? reject(error) : resolve(result))
  )

let sampling = false
process.on("SIGUSR2", async () => {
  if (!sampling) {
    sampling = true
    await post("HeapProfiler.startSampling", {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: false
    })
    return
  }
  sampling = false
  const { profile } = await post("HeapProfiler.stopSampling")
  Fs.writeFileSync(process.env.CLAWGATE_BENCH_SAMPLING_OUT, JSON.stringify(profile))
})

// The workloads of workloads.json through picsmith's Node binding and sharp; interleaved,
// outputs saved and peak memory measured in a process per library as bench.py does; prints
// the same JSON.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const require = createRequire(import.meta.url)
const here = path.dirname(fileURLToPath(import.meta.url))
const repo = path.resolve(here, '../..')
const spec = JSON.parse(readFileSync(path.join(here, 'workloads.json'), 'utf8'))
const { workloads, quality, crop } = spec
const [fitW, fitH] = spec.fit
const [halfW, halfH] = spec.half
const rounds = Number(process.env.PICSMITH_BENCH_ROUNDS ?? 40)
const warmup = 3
const rssRuns = 3
const corpus = process.env.PICSMITH_CORPUS
const outDir = process.env.PICSMITH_BENCH_OUT ?? path.join(repo, 'target/bench/out')

const header = (m) => ({ width: m.width, height: m.height, format: m.format, orientation: m.orientation ?? 1 })

// Each library loads its module and returns [display name, {workload: run}], where run(input)
// resolves to the encoded output, or for W7 to the fields it read.
const libraries = {
  'picsmith-node': () => {
    const picsmith = require(path.join(repo, 'node'))
    const runs = { W7: async (data) => header(await picsmith.metadata(data)) }
    for (const [w, { picsmith: query }] of Object.entries(workloads)) {
      if (query) runs[w] = async (data) => (await picsmith.process(data, query)).data
    }
    return ['picsmith (Node)', runs]
  },
  sharp: () => {
    const sharp = require(require.resolve('sharp', { paths: [process.env.NODE_PATH] }))
    sharp.cache(false)
    sharp.concurrency(1)
    const fit = (data) => sharp(data).resize(fitW, fitH, { fit: 'inside' })
    return [`sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips})`, {
      W1: (data) => fit(data).jpeg({ quality }).toBuffer(),
      W2: (data) => fit(data).webp({ quality }).toBuffer(),
      W4: (data) => sharp(data).resize(halfW, halfH).png().toBuffer(),
      // extract before rotate: sharp then crops in source coordinates, as the other peers do
      W5: (data) => sharp(data).extract(crop).rotate(90).blur(spec.blur_sigma).jpeg({ quality }).toBuffer(),
      W6: (data) => sharp(data).jpeg({ quality }).toBuffer(),
      W7: async (data) => header(await sharp(data).metadata()),
    }]
  },
}

const readInput = (w) => readFileSync(path.join(corpus, workloads[w].input))

// Not resourceUsage().maxRSS: Linux carries it across exec, so a child would report its
// parent's peak
const vmHwmKib = () => Number(readFileSync('/proc/self/status', 'utf8').match(/^VmHWM:\s+(\d+)/m)[1])

async function peakRss (key, workload) {
  const [, runs] = libraries[key]()
  const data = readInput(workload)
  const idle = vmHwmKib()
  for (let i = 0; i < rssRuns; i++) await runs[workload](data)
  process.stdout.write(JSON.stringify({ idle_kib: idle, peak_kib: vmHwmKib() }))
}

async function main () {
  const loaded = Object.fromEntries(Object.entries(libraries).map(([key, load]) => [key, load()]))
  const inputs = Object.fromEntries(Object.keys(workloads).map((w) => [w, readInput(w)]))
  const results = {}
  const outputs = {}
  for (const w of Object.keys(workloads)) {
    results[w] = Object.fromEntries(Object.keys(loaded).map((key) => [key, { ms: [] }]))
    outputs[w] = {}
  }
  for (let round = 0; round < rounds + warmup; round++) {
    for (const w of Object.keys(workloads)) {
      for (const [key, [, runs]] of Object.entries(loaded)) {
        const start = process.hrtime.bigint()
        const out = await runs[w](inputs[w])
        const ms = Number(process.hrtime.bigint() - start) / 1e6
        if (round >= warmup) results[w][key].ms.push(ms)
        outputs[w][key] = out
      }
    }
  }
  for (const [w, byLibrary] of Object.entries(outputs)) {
    for (const [key, out] of Object.entries(byLibrary)) {
      if (!Buffer.isBuffer(out)) {
        results[w][key].read = out
        continue
      }
      const file = path.join(outDir, w, `${key}.${workloads[w].format}`)
      mkdirSync(path.dirname(file), { recursive: true })
      writeFileSync(file, out)
      Object.assign(results[w][key], { bytes: out.length, output: file })
    }
  }
  for (const w of Object.keys(workloads)) {
    for (const key of Object.keys(loaded)) {
      const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--rss', key, w], { encoding: 'utf8' })
      if (child.status !== 0) throw new Error(`--rss ${key} ${w} failed: ${child.stderr}`)
      Object.assign(results[w][key], JSON.parse(child.stdout))
    }
  }
  const names = Object.fromEntries(Object.entries(loaded).map(([key, [name]]) => [key, name]))
  process.stdout.write(JSON.stringify({ libraries: names, results }))
}

if (process.argv[2] === '--rss') await peakRss(process.argv[3], process.argv[4])
else await main()

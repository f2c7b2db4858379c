// One Node library's side of the benchmark: `node worker.mjs picsmith|sharp`, speaking the
// line protocol that worker.py describes. Throughput runs $PICSMITH_BENCH_THREADS chains of
// calls at once; bench.py sizes libuv's pool (UV_THREADPOOL_SIZE), where both libraries work.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const require = createRequire(import.meta.url)
const here = path.dirname(fileURLToPath(import.meta.url))
const repo = path.resolve(here, '../..')
const spec = JSON.parse(readFileSync(path.join(here, 'workloads.json'), 'utf8'))
const { workloads, crop } = spec
const [fitW, fitH] = spec.fit
const [halfW, halfH] = spec.half
const threads = Number(process.env.PICSMITH_BENCH_THREADS ?? 1)
const rssRuns = 3

const header = (m) => ({ width: m.width, height: m.height, format: m.format, orientation: m.orientation ?? 1 })

// Each library loads its module and returns [display name, {workload: run}, {workload: why
// it is not run}], where run(input, quality) resolves to the encoded output, or for W7 to the
// fields it read.
const libraries = {
  picsmith: () => {
    const picsmith = require(path.join(repo, 'node'))
    // A header read decodes nothing: metadataSync, because metadata's trip to the libuv pool costs more
    const runs = { W7: async (data) => header(picsmith.metadataSync(data)) }
    for (const [w, { picsmith: query }] of Object.entries(workloads)) {
      if (query) runs[w] = async (data, quality) => (await picsmith.process(data, query.replace('{quality}', quality))).data
    }
    return ['picsmith (Node)', runs, {}]
  },
  sharp: () => {
    const sharp = require(require.resolve('sharp', { paths: [process.env.NODE_PATH] }))
    sharp.cache(false)
    // one libvips thread per image, as VIPS_CONCURRENCY=1 gives pyvips
    sharp.concurrency(1)
    const fit = (data) => sharp(data).resize(fitW, fitH, { fit: 'inside' })
    return [`sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips})`, {
      W1: (data, quality) => fit(data).jpeg({ quality }).toBuffer(),
      W2: (data, quality) => fit(data).webp({ quality }).toBuffer(),
      // effort = 9 - speed: libvips hands libheif speed = 9 - effort, libheif gives libaom cpu-used
      W3: (data, quality) => fit(data).avif({ quality, effort: 9 - workloads.W3.speed, chromaSubsampling: '4:4:4' }).toBuffer(),
      W4: (data) => sharp(data).resize(halfW, halfH).png().toBuffer(),
      // extract before rotate: sharp then crops in source coordinates, as the other peers do
      W5: (data, quality) => sharp(data).extract(crop).rotate(90).blur(spec.blur_sigma).jpeg({ quality }).toBuffer(),
      W6: (data, quality) => sharp(data).jpeg({ quality }).toBuffer(),
      W7: async (data) => header(await sharp(data).metadata()),
      W9: (data, quality) => fit(data).rotate(workloads.W9.tilt, { background: 'white' }).jpeg({ quality }).toBuffer(),
    }, {}]
  },
}

// Not resourceUsage().maxRSS: Linux carries it across exec, so a child would report its
// parent's peak
const vmHwmKib = () => Number(readFileSync('/proc/self/status', 'utf8').match(/^VmHWM:\s+(\d+)/m)[1])
const cpuMs = () => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

const [name, runs, skipped] = libraries[process.argv[2]]()
// Read when first asked for, once per file: a worker measuring one workload's peak RSS holds
// that input only, not every workload's.
const files = {}
const input = (workload) => {
  const file = workloads[workload].input
  files[file] ??= readFileSync(path.join(process.env.PICSMITH_CORPUS, file))
  return files[file]
}
const last = {}

const ops = {
  async run ({ workload, quality }) {
    const data = input(workload)
    const cpu = cpuMs()
    const start = process.hrtime.bigint()
    const out = await runs[workload](data, quality)
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    last[workload] = out
    return { ms, cpu_ms: cpuMs() - cpu, bytes: Buffer.isBuffer(out) ? out.length : null }
  },
  save ({ workload, path: file }) {
    const out = last[workload]
    if (!Buffer.isBuffer(out)) return { read: out }
    mkdirSync(path.dirname(file), { recursive: true })
    writeFileSync(file, out)
    return { bytes: out.length }
  },
  async throughput ({ workload, quality, images }) {
    const each = Math.floor(images / threads)
    const data = input(workload)
    const chain = async () => {
      for (let i = 0; i < each; i++) await runs[workload](data, quality)
    }
    const start = process.hrtime.bigint()
    await Promise.all(Array.from({ length: threads }, chain))
    return { images_per_s: (each * threads) / (Number(process.hrtime.bigint() - start) / 1e9) }
  },
  async rss ({ workload, quality }) {
    const data = input(workload)
    const idle = vmHwmKib()
    for (let i = 0; i < rssRuns; i++) await runs[workload](data, quality)
    return { idle_kib: idle, peak_kib: vmHwmKib() }
  },
}

process.stdout.write(JSON.stringify({ name, workloads: Object.keys(runs).sort(), skipped }) + '\n')
for await (const line of createInterface({ input: process.stdin })) {
  const { op, ...request } = JSON.parse(line)
  let reply
  try {
    reply = await ops[op](request)
  } catch (err) {
    reply = { error: String(err) }
  }
  process.stdout.write(JSON.stringify(reply) + '\n')
}

// W1 through picsmith's Node binding and sharp, interleaved; prints JSON like w1.py.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const require = createRequire(import.meta.url)
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const picsmith = require(path.join(repo, 'node'))
const sharp = require(require.resolve('sharp', { paths: [process.env.NODE_PATH] }))
sharp.cache(false)
sharp.concurrency(1)

const rounds = Number(process.env.PICSMITH_BENCH_ROUNDS ?? 40)
const warmup = 3
const data = readFileSync(process.env.PICSMITH_BENCH_INPUT)
const libraries = {
  'picsmith (Node)': async () => (await picsmith.process(data, 'width=720&height=588&quality=80')).data,
  [`sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips})`]: () =>
    sharp(data).resize(720, 588, { fit: 'inside' }).jpeg({ quality: 80 }).toBuffer(),
}
const times = Object.fromEntries(Object.keys(libraries).map((k) => [k, []]))
const sizes = {}
for (let round = 0; round < rounds + warmup; round++) {
  for (const [name, fn] of Object.entries(libraries)) {
    const start = process.hrtime.bigint()
    const out = await fn()
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (round >= warmup) times[name].push(ms)
    sizes[name] = out.length
  }
}
process.stdout.write(JSON.stringify({ times, sizes }))

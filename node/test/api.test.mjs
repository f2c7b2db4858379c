// The Node API itself: error objects, Pipeline reuse, limits, option checks, and that the
// engine runs on the libuv pool rather than on the JS thread.

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { Pipeline, features, metadata, metadataSync, parameters, process as transform, version } from '../index.js'
import { MIME, corpusDir, corpusFile, hasSignature, makePng, repoDir } from './helpers.mjs'

const png = makePng(64, 48)

/** Asserts that `error` is a picsmith error with the given code and HTTP status. */
function isPicsmithError(code, httpStatus, parameter) {
  return (error) => {
    assert.ok(error instanceof Error, 'an Error instance')
    assert.equal(error.code, code, error.message)
    assert.equal(error.httpStatus, httpStatus)
    assert.equal(error.parameter, parameter)
    assert.ok(error.message.length > 0)
    return true
  }
}

test('version is the package version', () => {
  const pkg = JSON.parse(readFileSync(join(repoDir, 'node', 'package.json'), 'utf8'))
  assert.equal(version, pkg.version)
})

test('parameters() exposes the registry', () => {
  const params = parameters()
  const width = params.find((p) => p.name === 'width')
  assert.deepEqual(width.aliases, ['w'])
  assert.equal(width.implemented, true)
  assert.match(width.accepted, /1 to 16384/)
  assert.equal(params.find((p) => p.name === 'autorotate').default, 'true')
  assert.equal(params.find((p) => p.name === 'recognition').implemented, true)
  assert.equal(params.find((p) => p.name === 'origin').implemented, true)
  assert.equal(params.find((p) => p.name === 'cache_processed').implemented, false)
  assert.equal(params.find((p) => p.name === 'redeye').implemented, true)
  assert.equal(new Set(params.map((p) => p.name)).size, params.length, 'names are unique')
  for (const p of params) assert.equal(typeof p.doc, 'string')
})

test('process returns the encoded image and its description', async () => {
  const image = await transform(png, 'width=32&format=webp&cachebuster=7')
  assert.equal(image.width, 32)
  assert.equal(image.height, 24)
  assert.equal(image.format, 'webp')
  assert.equal(image.mime, MIME.webp)
  assert.equal(image.varyAccept, false)
  assert.ok(Buffer.isBuffer(image.data))
  assert.ok(hasSignature(image.data, 'webp'))
  assert.deepEqual(
    image.warnings.map((w) => w.parameter),
    ['cachebuster'],
  )
  assert.equal(typeof image.warnings[0].message, 'string')
})

test('the quality used is reported', async () => {
  const photo = readFileSync(join(repoDir, 'tests', 'fixtures', 'photo-320.jpg'))
  assert.equal((await transform(photo, 'format=webp&quality=63')).quality, 63)
  const chosen = (await transform(photo, 'quality=auto&quality_min=50&quality_max=80')).quality
  assert.ok(chosen >= 50 && chosen <= 80, `chosen quality ${chosen}`)
  assert.equal((await transform(photo, 'format=png')).quality, undefined)
})

test('metadata reads headers, and pixel fields when asked', async () => {
  const photo = readFileSync(join(repoDir, 'tests', 'fixtures', 'photo-320.jpg'))
  const meta = await metadata(photo)
  assert.equal(meta.format, 'jpeg')
  assert.equal(meta.width, 320)
  assert.equal(meta.fileSize, photo.length)
  assert.equal(meta.dominantColor, null)
  const full = await metadata(photo, { colors: true, hashes: true, miniPreview: true })
  assert.match(full.dominantColor, /^#[0-9A-F]{6}$/)
  assert.equal(full.dhash.length, 16)
  assert.ok(full.palette.length >= 1 && full.palette.length <= 5)
  assert.equal((await transform(Buffer.from(full.miniPreview, 'base64'))).format, 'jpeg')
  await assert.rejects(metadata(Buffer.from('plain text')), isPicsmithError('unsupported_format', 415, undefined))
})

test('metadataSync reads the same headers on the calling thread, and refuses pixel fields', async () => {
  const photo = readFileSync(join(repoDir, 'tests', 'fixtures', 'photo-320.jpg'))
  assert.deepEqual(metadataSync(photo), await metadata(photo))
  for (const option of ['colors', 'hashes', 'miniPreview', 'faces']) {
    assert.throws(() => metadataSync(photo, { [option]: true }),
      (err) => err.code === 'ERR_INVALID_ARG_VALUE' && err.message.includes(option))
  }
  assert.equal(metadataSync(photo, { colors: false }).width, 320)
  assert.throws(() => metadataSync(Buffer.from('plain text')), isPicsmithError('unsupported_format', 415, undefined))
  assert.throws(() => metadataSync(photo, { limits: { maxInputBytes: 100 } }), isPicsmithError('limit_exceeded', 413, undefined))
})

test('meta=true answers JSON', async () => {
  const photo = readFileSync(join(repoDir, 'tests', 'fixtures', 'photo-320.jpg'))
  const out = await transform(photo, 'meta=true&width=100')
  assert.equal(out.format, 'json')
  assert.equal(out.mime, 'application/json')
  const doc = JSON.parse(out.data.toString('utf8'))
  assert.equal(doc.width, 100)
  assert.deepEqual(doc.faces, [])
})

test('the query and options are optional', async () => {
  const image = await transform(png)
  assert.equal(image.width, 64)
  assert.equal(image.format, 'png')
  assert.ok(hasSignature(image.data, 'png'))
})

test('format=auto negotiates from accept and says so', async () => {
  const webp = await transform(png, 'format=auto', { accept: 'image/webp,*/*' })
  assert.equal(webp.format, 'webp')
  assert.equal(webp.varyAccept, true)
  const fallback = await transform(png, 'format=auto', { accept: '*/*' })
  assert.equal(fallback.format, 'jpeg')
  assert.ok(hasSignature(fallback.data, 'jpeg'))
})

test('a bad parameter rejects with invalid_parameter and names it', async () => {
  await assert.rejects(transform(png, 'width=0'), isPicsmithError('invalid_parameter', 400, 'width'))
  await assert.rejects(transform(png, 'w=abc'), isPicsmithError('invalid_parameter', 400, 'width'))
})

test('strict turns unknown parameters into errors', async () => {
  await assert.rejects(transform(png, 'cb=1', { strict: true }), isPicsmithError('invalid_parameter', 400, 'cb'))
  assert.throws(() => Pipeline.fromQuery('cb=1', true), isPicsmithError('invalid_parameter', 400, 'cb'))
  assert.deepEqual(
    Pipeline.fromQuery('cb=1').warnings.map((w) => w.parameter),
    ['cb'],
  )
})

test('an unimplemented parameter is unsupported, not ignored', async () => {
  await assert.rejects(transform(png, 'cache_processed=true'), isPicsmithError('unsupported', 501, 'cache_processed'))
})

test('recognition=labels runs the configured model', async () => {
  // tests/fixtures/labels-rgb.onnx classifies the average colour (built by the Rust suite); the
  // top right corner of the test image is red, its bottom left green.
  const models = { labels: join(repoDir, 'tests', 'fixtures', 'labels-rgb.onnx') }
  const image = await transform(png, 'recognition=labels&crop=48,0,16,8', { models })
  assert.equal(image.format, 'json')
  assert.equal(image.mime, 'application/json')
  const { labels } = JSON.parse(image.data.toString('utf8'))
  assert.deepEqual(
    labels.map((l) => Object.keys(l).sort()),
    [['Confidence', 'Name'], ['Confidence', 'Name'], ['Confidence', 'Name']],
  )
  assert.equal(labels[0].Name, 'red')
  const pipeline = Pipeline.fromQuery('recognition=labels&crop=0,40,16,8')
  const green = JSON.parse((await pipeline.run(png, { models })).data.toString('utf8'))
  assert.equal(green.labels[0].Name, 'green')
  const missing = { labels: join(repoDir, 'tests', 'fixtures', 'absent.onnx') }
  await assert.rejects(
    transform(png, 'recognition=labels', { models: missing }),
    isPicsmithError('unsupported', 501, 'recognition'),
  )
})

test('bad images reject with their codes', async () => {
  await assert.rejects(transform(Buffer.alloc(0), 'width=10'), isPicsmithError('invalid_image', 422, undefined))
  await assert.rejects(
    transform(Buffer.from('plain text, not an image'), 'width=10'),
    isPicsmithError('unsupported_format', 415, undefined),
  )
  const truncated = png.subarray(0, png.length - 40)
  await assert.rejects(transform(truncated, 'width=10'), isPicsmithError('invalid_image', 422, undefined))
})

test('an invalid query throws synchronously from Pipeline.fromQuery', () => {
  assert.throws(() => Pipeline.fromQuery('height=-1'), isPicsmithError('invalid_parameter', 400, 'height'))
  assert.throws(() => new Pipeline(), /constructor/)
})

test('arguments of the wrong type throw synchronously', () => {
  assert.throws(() => transform('not a buffer', 'width=10'), /Buffer/)
  assert.throws(() => transform(png, 10), /String/)
  assert.throws(() => transform(png, '', { limits: { maxSourcePixels: -1 } }), (error) => {
    assert.equal(error.code, 'ERR_INVALID_ARG_VALUE')
    assert.match(error.message, /limits\.maxSourcePixels/)
    return true
  })
  assert.throws(() => transform(png, '', { limits: { maxOutputSide: 1.5 } }), { code: 'ERR_INVALID_ARG_VALUE' })
})

test('a Pipeline is parsed once and reused, also concurrently', async () => {
  const pipeline = Pipeline.fromQuery('w=20&format=png&cachebuster=1')
  assert.deepEqual(
    pipeline.warnings.map((w) => w.parameter),
    ['cachebuster'],
  )
  const inputs = [makePng(40, 40), makePng(80, 20), makePng(60, 30)]
  const images = await Promise.all(inputs.map((input) => pipeline.run(input)))
  assert.deepEqual(
    images.map((i) => [i.width, i.height, i.format]),
    [
      [20, 20, 'png'],
      [20, 5, 'png'],
      [20, 10, 'png'],
    ],
  )
  for (const image of images) {
    assert.deepEqual(
      image.warnings.map((w) => w.parameter),
      ['cachebuster'],
    )
  }
  const again = await pipeline.run(inputs[0])
  assert.deepEqual(again.data, images[0].data, 'the same input gives the same bytes')
  await assert.rejects(pipeline.run(Buffer.alloc(0)), { code: 'invalid_image' })
  const auto = Pipeline.fromQuery('format=auto')
  assert.equal((await auto.run(png, { accept: 'image/webp' })).format, 'webp')
})

test('limits are enforced', async () => {
  await assert.rejects(
    transform(png, 'width=10', { limits: { maxSourcePixels: 1000 } }),
    isPicsmithError('limit_exceeded', 413, undefined),
  )
  await assert.rejects(transform(png, '', { limits: { maxInputBytes: 10 } }), { code: 'limit_exceeded' })
  await assert.rejects(
    Pipeline.fromQuery('width=64').run(png, { limits: { maxOutputSide: 50 } }),
    { code: 'limit_exceeded' },
  )
  const within = await transform(png, 'width=10', { limits: { maxSourcePixels: 64 * 48 } })
  assert.equal(within.width, 10)
})

test('maxSourcePixels applies to a corpus photo', async (t) => {
  const photo = corpusFile(t, 'large-2725x2225.jpg')
  if (!photo) return
  await assert.rejects(
    transform(photo, 'width=100', { limits: { maxSourcePixels: 1000 } }),
    isPicsmithError('limit_exceeded', 413, undefined),
  )
})

test('a big transform runs off the JS thread', async (t) => {
  const photo = corpusFile(t, 'large-2725x2225.jpg')
  if (!photo) return
  // Each setImmediate callback needs a turn of the event loop. Were the transform done on the
  // JS thread, none could run before the promise settles; on the libuv pool they keep firing.
  let ticks = 0
  let longestGap = 0
  let last = performance.now()
  let running = true
  const spin = () => {
    const now = performance.now()
    longestGap = Math.max(longestGap, now - last)
    last = now
    ticks++
    if (running) setImmediate(spin)
  }
  const started = performance.now()
  const pending = transform(photo, 'quality=80')
  setImmediate(spin)
  const image = await pending
  running = false
  const elapsed = performance.now() - started

  assert.equal(image.width, 2725)
  assert.equal(image.height, 2225)
  assert.ok(hasSignature(image.data, 'jpeg'))
  t.diagnostic(`${ticks} event-loop turns in ${elapsed.toFixed(0)} ms, longest gap ${longestGap.toFixed(1)} ms`)
  assert.ok(ticks > 20, `only ${ticks} event-loop turns while the transform ran`)
  assert.ok(longestGap < elapsed / 2, `the event loop stalled ${longestGap.toFixed(0)} ms of ${elapsed.toFixed(0)} ms`)
})

test('opts.assets: a watermark from a directory changes the pixels', async (t) => {
  const { mkdtempSync, copyFileSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'picsmith-assets-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  copyFileSync(join(repoDir, 'tests', 'fixtures', 'logo-64x32.png'), join(dir, 'logo.png'))
  const base = readFileSync(join(repoDir, 'tests', 'fixtures', 'gray-200x100.png'))

  const plain = await transform(base, 'format=png')
  const marked = await transform(base, 'mark=/logo.png&format=png', { assets: dir })
  assert.deepEqual(marked.warnings, [])
  assert.ok(!marked.data.equals(plain.data), 'the mark changed the image')
  const viaPipeline = await Pipeline.fromQuery('mark=/logo.png&format=png').run(base, { assets: dir })
  assert.ok(viaPipeline.data.equals(marked.data))

  const skipped = await transform(base, 'mark=/logo.png&format=png')
  assert.deepEqual(skipped.warnings.map((w) => w.parameter), ['mark'])

  await assert.rejects(
    transform(base, 'mark=/missing.png&mark_required=true', { assets: dir }),
    isPicsmithError('invalid_parameter', 400, 'mark'),
  )
  await assert.rejects(
    transform(base, 'mark=/logo.png&mark_required=true'),
    isPicsmithError('unsupported', 501, 'mark'),
  )
  assert.throws(() => transform(base, 'width=10', { assets: join(dir, 'nope') }), (error) => {
    assert.equal(error.code, 'invalid_parameter')
    return true
  })
})

test('features() says whether libvips reads HEIF, AVIF, JPEG XL and TIFF', async (t) => {
  const list = features()
  assert.ok(Array.isArray(list) && list.every((f) => typeof f === 'string'))
  const tiff = corpusFile(t, 'icc-adobergb-16bit.tiff')
  const avif = corpusFile(t, 'avif-pitm-4096x800.avif')
  if (tiff === null || avif === null) return
  for (const input of [tiff, avif]) {
    if (list.includes('vips')) {
      const image = await transform(input, 'width=200&format=webp')
      assert.equal(image.format, 'webp')
      assert.equal(image.width, 200)
      assert.ok(hasSignature(image.data, 'webp'))
    } else {
      await assert.rejects(transform(input, 'width=200'), isPicsmithError('unsupported_format', 415))
    }
  }
  if (list.includes('vips')) {
    const jpeg = corpusFile(t, 'orient1-landscape.jpg')
    if (jpeg === null) return
    const jxl = await transform(jpeg, 'width=300&format=jxl')
    assert.equal(jxl.mime, 'image/jxl')
    const back = await transform(jxl.data, 'format=png')
    assert.equal(back.width, 300)
    // A HEIC made from the JPEG by the `vips` command transforms like the JPEG.
    const dir = mkdtempSync(join(tmpdir(), 'picsmith-heic-'))
    try {
      const heicPath = join(dir, 'landscape.heic')
      execFileSync('vips', ['copy', join(corpusDir, 'orient1-landscape.jpg'), `${heicPath}[Q=70]`])
      const fromHeic = await transform(readFileSync(heicPath), 'width=200&format=webp')
      const fromJpeg = await transform(jpeg, 'width=200&format=webp')
      assert.deepEqual([fromHeic.width, fromHeic.height], [fromJpeg.width, fromJpeg.height])
      const [a, b] = await Promise.all([fromHeic, fromJpeg].map((image) => metadata(image.data, { hashes: true })))
      const differing = (BigInt(`0x${a.dhash}`) ^ BigInt(`0x${b.dhash}`)).toString(2)
      const distance = [...differing].filter((bit) => bit === '1').length
      assert.ok(distance <= 8, `dHash ${a.dhash} vs ${b.dhash}: the HEIC is not the JPEG's picture`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
})

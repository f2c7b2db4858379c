// The node:http handler of handler.js, served on a real socket and requested with fetch.

import assert from 'node:assert/strict'
import { request as httpRequest, createServer } from 'node:http'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'

import { createHandler } from '../handler.js'
import { Library, signPath } from '../index.js'
import { hasSignature, repoDir } from './helpers.mjs'

const jpeg = readFileSync(join(repoDir, 'tests', 'fixtures', 'gray-320.jpg'))
const SECRET = 'handler-test-secret'

let dir
let server
let base
let record
let hidden

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'picsmith-handler-'))
  const library = Library.open({
    storage: `file://${dir}/data`,
    catalog: `sqlite://${dir}/data/catalog.db`,
    cache: `${dir}/cache`,
  })
  record = await library.upload(jpeg, { fileName: 'gray photo.jpg', folder: 'pets' })
  hidden = await library.upload(jpeg, { fileName: 'hidden.jpg', isPrivate: true })
  server = createServer(createHandler({ library, cacheControl: 'public, max-age=60', signingSecret: SECRET }))
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${server.address().port}`
})

after(async () => {
  await new Promise((resolve) => server.close(resolve))
  rmSync(dir, { recursive: true, force: true })
})

/** The JSON error body of a response, after checking its status and content type. */
async function errorOf(response, status) {
  assert.equal(response.status, status)
  assert.equal(response.headers.get('content-type'), 'application/json')
  const body = await response.json()
  assert.deepEqual(Object.keys(body), ['error'])
  return body.error
}

/** A request whose target is sent exactly as written (fetch would normalize it). */
function rawGet(target) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}/`, { path: target }, (res) => {
      const chunks = []
      res.on('data', (chunk) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }))
    })
    req.on('error', reject)
    req.end()
  })
}

test('a transform by path: the image, its headers, then a cache hit', async () => {
  const first = await fetch(`${base}${record.path}?width=100&format=webp`)
  assert.equal(first.status, 200)
  assert.equal(first.headers.get('content-type'), 'image/webp')
  assert.equal(first.headers.get('cache-control'), 'public, max-age=60')
  assert.equal(first.headers.get('x-picsmith-cache'), 'miss')
  assert.equal(first.headers.get('vary'), null)
  assert.match(first.headers.get('etag'), /^"[0-9a-f]{32}"$/)
  const data = Buffer.from(await first.arrayBuffer())
  assert.ok(hasSignature(data, 'webp'))
  assert.equal(Number(first.headers.get('content-length')), data.length)
  // VP8 lossy: the frame header holds the width in its low 14 bits at byte 26.
  assert.equal(data.readUInt16LE(26) & 0x3fff, 100)

  const second = await fetch(`${base}${record.path}?format=webp&w=100`)
  assert.equal(second.headers.get('x-picsmith-cache'), 'hit')
  assert.equal(second.headers.get('etag'), first.headers.get('etag'))
  assert.ok(Buffer.from(await second.arrayBuffer()).equals(data))
})

test('a transform by id, and a percent-encoded path', async () => {
  const byId = await fetch(`${base}/${record.id}?width=50`)
  assert.equal(byId.status, 200)
  assert.equal(byId.headers.get('content-type'), 'image/jpeg')
  assert.ok(hasSignature(Buffer.from(await byId.arrayBuffer()), 'jpeg'))

  const encoded = record.path.replace('gray', '%67ray')
  const byEncodedPath = await fetch(`${base}${encoded}?width=50`)
  assert.equal(byEncodedPath.status, 200)
  assert.equal(byEncodedPath.headers.get('etag'), byId.headers.get('etag'))
})

test('format=auto follows Accept and says Vary: Accept', async () => {
  const url = `${base}${record.path}?width=80&format=auto`
  const webp = await fetch(url, { headers: { accept: 'image/webp,*/*' } })
  assert.equal(webp.status, 200)
  assert.equal(webp.headers.get('content-type'), 'image/webp')
  assert.equal(webp.headers.get('vary'), 'Accept')
  assert.ok(hasSignature(Buffer.from(await webp.arrayBuffer()), 'webp'))

  const plain = await fetch(url, { headers: { accept: 'image/jpeg' } })
  assert.equal(plain.headers.get('content-type'), 'image/jpeg')
  assert.equal(plain.headers.get('vary'), 'Accept')
  assert.notEqual(plain.headers.get('etag'), webp.headers.get('etag'))
})

test('If-None-Match with the ETag answers 304 without a body', async () => {
  const url = `${base}${record.path}?width=70&bogus=1`
  const full = await fetch(url)
  const etag = full.headers.get('etag')
  assert.match(full.headers.get('x-picsmith-warnings'), /bogus/)
  await full.arrayBuffer()

  for (const ifNoneMatch of [etag, `"other", W/${etag}`, '*']) {
    const again = await fetch(url, { headers: { 'if-none-match': ifNoneMatch } })
    assert.equal(again.status, 304, ifNoneMatch)
    assert.equal(again.headers.get('etag'), etag)
    assert.equal(again.headers.get('cache-control'), 'public, max-age=60')
    assert.equal(again.headers.get('x-picsmith-warnings'), null)
    assert.equal((await again.arrayBuffer()).byteLength, 0)
  }
  const changed = await fetch(url, { headers: { 'if-none-match': '"0000"' } })
  assert.equal(changed.status, 200)
  await changed.arrayBuffer()
})

test('HEAD answers the headers of GET and no body', async () => {
  const url = `${base}${record.path}?width=60&format=png`
  const get = await fetch(url)
  const body = Buffer.from(await get.arrayBuffer())
  const head = await fetch(url, { method: 'HEAD' })
  assert.equal(head.status, 200)
  assert.equal(head.headers.get('content-type'), 'image/png')
  assert.equal(Number(head.headers.get('content-length')), body.length)
  assert.equal(head.headers.get('etag'), get.headers.get('etag'))
  assert.equal((await head.arrayBuffer()).byteLength, 0)
})

test('engine errors answer their status and the Imagizer error body', async () => {
  assert.deepEqual(await errorOf(await fetch(`${base}/pets/nothing-here.jpg?width=10`), 404), {
    code: 'not_found',
    message: "no image '/pets/nothing-here.jpg'",
    parameter: null,
  })
  const bad = await errorOf(await fetch(`${base}${record.path}?width=-3`), 400)
  assert.equal(bad.code, 'invalid_parameter')
  assert.equal(bad.parameter, 'width')
  assert.match(bad.message, /'-3'/)
  assert.equal((await errorOf(await fetch(`${base}/`), 404)).code, 'not_found')
})

test('bad request targets are answered, never thrown', async () => {
  const malformed = await rawGet('/pets/%E0%A4%A.jpg?width=10')
  assert.equal(malformed.status, 400)
  assert.deepEqual(JSON.parse(malformed.body).error.parameter, 'path')

  for (const target of ['/../../etc/passwd', '/pets/%2e%2e/%2e%2e/etc/passwd', '/%00']) {
    const refused = await rawGet(target)
    assert.equal(refused.status, 404, target)
    assert.equal(JSON.parse(refused.body).error.code, 'not_found')
  }

  // A query key with CR LF comes back in the warnings header, escaped.
  const crafted = await rawGet(`${record.path}?width=20&evil%0d%0aSet-Cookie:x=1`)
  assert.equal(crafted.status, 200)
  assert.equal(crafted.headers['set-cookie'], undefined)
  assert.match(crafted.headers['x-picsmith-warnings'], /evil\\u000d\\u000aSet-Cookie/)
})

test('other methods are 405 on their own and go to next() under Express', async () => {
  const post = await fetch(`${base}${record.path}`, { method: 'POST', body: 'x' })
  assert.equal(post.headers.get('allow'), 'GET, HEAD')
  assert.equal((await errorOf(post, 405)).code, 'method_not_allowed')

  // Express style: a handler given next() leaves other methods to what comes after it.
  const handler = createHandler({ settings: { storage: `file://${dir}/data`, catalog: `sqlite://${dir}/data/catalog.db`, cache: 'off' } })
  const chained = createServer((req, res) => handler(req, res, () => {
    res.writeHead(204, { 'X-Passed-On': req.method })
    res.end()
  }))
  await new Promise((resolve) => chained.listen(0, '127.0.0.1', resolve))
  try {
    const url = `http://127.0.0.1:${chained.address().port}${record.path}`
    const deleted = await fetch(url, { method: 'DELETE' })
    assert.equal(deleted.status, 204)
    assert.equal(deleted.headers.get('x-passed-on'), 'DELETE')
    const got = await fetch(`${url}?width=30`)
    assert.equal(got.status, 200)
    assert.equal(got.headers.get('x-picsmith-cache'), 'miss')
    await got.arrayBuffer()
  } finally {
    await new Promise((resolve) => chained.close(resolve))
  }
  assert.throws(() => createHandler({}), TypeError)
  assert.throws(() => createHandler({ library: null }), TypeError)
})

test('private images need a signed URL, which is verified', async () => {
  const refused = await errorOf(await fetch(`${base}${hidden.path}?width=40`), 403)
  assert.equal(refused.code, 'forbidden')

  const signed = signPath(SECRET, `${hidden.path}?width=40`, Math.floor(Date.now() / 1000) + 600)
  const ok = await fetch(`${base}${signed}`)
  assert.equal(ok.status, 200)
  assert.equal(ok.headers.get('cache-control'), 'private')
  assert.equal(ok.headers.get('content-type'), 'image/jpeg')
  await ok.arrayBuffer()

  const tampered = await errorOf(await fetch(`${base}${signed.replace('width=40', 'width=41')}`), 403)
  assert.equal(tampered.parameter, 'signature')
})

test('requireSignedUrls serves signed URLs only; allowedParameters limits the transform', async () => {
  assert.throws(() => createHandler({ settings: {}, requireSignedUrls: true }), TypeError)
  const library = Library.open({
    storage: `file://${dir}/data`,
    catalog: `sqlite://${dir}/data/catalog.db`,
    cache: 'off',
  })
  const guarded = createServer(
    createHandler({ library, signingSecret: SECRET, requireSignedUrls: true, allowedParameters: ['width', 'format'] }),
  )
  await new Promise((resolve) => guarded.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${guarded.address().port}`
  const expires = Math.floor(Date.now() / 1000) + 600
  try {
    const unsigned = await errorOf(await fetch(`${url}${record.path}?width=40`), 403)
    assert.deepEqual([unsigned.code, unsigned.parameter], ['forbidden', 'signature'])
    // An alias and a base64 form count as their parameter.
    for (const query of ['w=40&format=webp', `width64=${Buffer.from('40').toString('base64url')}`]) {
      const ok = await fetch(`${url}${signPath(SECRET, `${record.path}?${query}`, expires)}`)
      assert.equal(ok.status, 200, query)
      await ok.arrayBuffer()
    }
    for (const [query, parameter] of [['width=40&blur=5', 'blur'], ['width=40&nonsense=1', 'nonsense']]) {
      const refused = await errorOf(await fetch(`${url}${signPath(SECRET, `${record.path}?${query}`, expires)}`), 403)
      assert.deepEqual([refused.code, refused.parameter], ['forbidden', parameter])
    }
  } finally {
    await new Promise((resolve) => guarded.close(resolve))
  }
})

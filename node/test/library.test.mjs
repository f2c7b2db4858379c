// Library, the storage client, on local files + SQLite and on S3 + PostgreSQL (when
// tests/servers/with-servers.sh started them, as `make test` does).

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { Library, signPath, verifySignedPath } from '../index.js'
import { repoDir } from './helpers.mjs'

const jpeg = readFileSync(join(repoDir, 'tests', 'fixtures', 'gray-320.jpg'))

function localSettings(dir) {
  return {
    storage: `file://${dir}/data`,
    catalog: `sqlite://${dir}/data/catalog.db`,
    cache: `${dir}/cache`,
  }
}

/** A fresh bucket and database on the test servers, or null after marking the test skipped. */
function s3PostgresSettings(t, dir) {
  const { PICSMITH_TEST_S3_ENDPOINT: endpoint, PICSMITH_TEST_S3_ROOT: root, PICSMITH_TEST_POSTGRES: postgres } = process.env
  if (!endpoint || !root || !postgres) {
    t.skip('s3+postgres: run under tests/servers/with-servers.sh, as make test does')
    return null
  }
  const name = `node${process.pid}${Date.now() % 100000}`
  mkdirSync(join(root, name))
  const url = new URL(postgres)
  execFileSync('createdb', ['-h', url.hostname, '-p', url.port, '-U', 'postgres', name])
  return {
    storage: `s3://${name}?endpoint=${endpoint}&region=us-east-1&path_style=true`,
    catalog: `${postgres}/${name}`,
    cache: `${dir}/cache`,
  }
}

function code(expected, parameter) {
  return (error) => {
    assert.equal(error.code, expected, error.message)
    if (parameter !== undefined) assert.equal(error.parameter, parameter)
    return true
  }
}

for (const backend of ['local+sqlite', 's3+postgres']) {
  test(`${backend}: upload, read, render, tag, list, usage, delete`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'picsmith-node-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const settings = backend === 'local+sqlite' ? localSettings(dir) : s3PostgresSettings(t, dir)
    if (!settings) return
    const lib = Library.open(settings)

    const record = await lib.upload(jpeg, { fileName: 'cat photo.jpg', folder: 'pets', tags: ['cat'] })
    assert.equal(record.folder, '/pets/')
    assert.match(record.name, /^cat_photo_[0-9A-Za-z]{6}\.jpg$/)
    assert.equal(record.size, jpeg.length)
    assert.deepEqual(record.tags, ['cat'])
    assert.deepEqual(await lib.get(record.id), record)
    assert.deepEqual(await lib.get(record.path), record)
    assert.ok((await lib.read(record.id)).equals(jpeg))

    const first = await lib.render(record.path, 'width=100&format=webp')
    assert.equal(first.image.width, 100)
    assert.equal(first.cacheHit, false)
    const second = await lib.render(record.id, 'format=webp&w=100')
    assert.equal(second.cacheHit, true)
    assert.ok(second.image.data.equals(first.image.data))

    const [tagged] = await lib.addTags([record.id], ['pet'])
    assert.deepEqual(tagged.tags, ['cat', 'pet'])
    const [untagged] = await lib.removeTags([record.id], ['cat'])
    assert.deepEqual(untagged.tags, ['pet'])
    assert.equal((await lib.list({ tag: 'pet' })).total, 1)
    const usage = await lib.usage()
    assert.equal(usage.num_images, 1)
    assert.equal(usage.storage.used, jpeg.length)

    const deleted = await lib.delete([record.id])
    assert.equal(deleted[0].id, record.id)
    await assert.rejects(lib.get(record.id), code('not_found'))
    assert.deepEqual(await lib.verify(), [])
    assert.equal((await lib.maintain(0)).removedBlobs, 0)
  })

  test(`${backend}: bad input is refused and nothing is written`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'picsmith-node-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const settings = backend === 'local+sqlite' ? localSettings(dir) : s3PostgresSettings(t, dir)
    if (!settings) return
    const lib = Library.open(settings)
    await assert.rejects(lib.upload(Buffer.from('text')), code('unsupported_format'))
    await assert.rejects(lib.upload('%%%'), code('invalid_parameter', 'file'))
    await assert.rejects(lib.upload(jpeg, { fileName: '../../etc/passwd' }), code('invalid_parameter', 'fileName'))
    await assert.rejects(lib.upload(jpeg, { folder: '/a/../..' }), code('invalid_parameter', 'folder'))
    await assert.rejects(lib.upload(jpeg, { expiration: 'soon' }), code('invalid_parameter', 'options'))
    await assert.rejects(lib.upload(jpeg, { colour: 'red' }), code('invalid_parameter', 'options'))
    await assert.rejects(lib.upload('http://127.0.0.1/x.jpg'), code('forbidden', 'url'))
    await assert.rejects(lib.delete(Array.from({ length: 21 }, (_, i) => `id${i}`)), code('invalid_parameter', 'ids'))
    await assert.rejects(lib.addTags(['nosuchimage1'], ['x']), code('not_found'))
    assert.equal((await lib.usage()).num_images, 0)
    assert.equal((await lib.maintain(0)).removedBlobs, 0)
  })
}

test('settings are checked when the library opens', () => {
  assert.throws(() => Library.open({ storage: 'ftp://nowhere', catalog: 'sqlite:///tmp/x.db' }), code('invalid_parameter', 'storage'))
  assert.throws(() => Library.open({ storage: 'memory://', catalog: 'sqlite:///tmp/x.db', bogus: 1 }), code('invalid_parameter', 'settings'))
})

for (const backend of ['local+sqlite', 's3+postgres']) {
  test(`${backend}: API keys are stored hashed and shared through the catalog`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'picsmith-node-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const settings = backend === 'local+sqlite' ? localSettings(dir) : s3PostgresSettings(t, dir)
    if (!settings) return
    const lib = Library.open(settings)
    const key = await lib.createKey('acme', 'cms')
    assert.match(key, /^psk_[0-9A-Za-z]{40}$/)
    assert.equal(await lib.checkKey(key), 'acme')
    const other = Library.open(settings)
    assert.equal(await other.checkKey(key), 'acme')
    assert.equal(await lib.checkKey(`${key}x`), null)
    assert.equal(await lib.revokeKey(key), true)
    assert.equal(await other.checkKey(key), null)
    assert.equal(await lib.revokeKey(key), false)
    await assert.rejects(lib.createKey(''), code('invalid_parameter', 'account'))
  })
}

test('signed paths round-trip and refuse tampering and expiry', () => {
  const signed = signPath('s3cret', '/cat.jpg?width=300', 2000)
  assert.match(signed, /^\/cat\.jpg\?width=300&expires=2000&signature=[\w-]+$/)
  assert.equal(verifySignedPath(Buffer.from('s3cret'), signed, 1000), '/cat.jpg?width=300')
  for (const [bad, now] of [[signed, 2001], [signed.replace('300', '301'), 1000], ['/cat.jpg', 1000]]) {
    assert.throws(() => verifySignedPath('s3cret', bad, now), code('forbidden', 'signature'))
  }
  assert.throws(() => signPath('', '/cat.jpg'), code('invalid_parameter'))
})

test('remote origins are off until enabled', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'picsmith-node-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const closed = Library.open(localSettings(dir))
  await assert.rejects(closed.render('/', 'source_url=http://example.com/a.jpg'), code('forbidden', 'source_url'))
  const open = Library.open({ ...localSettings(dir), dynamicOrigins: ['source_url'] })
  await assert.rejects(open.render('/', 'source_url=http://127.0.0.1:9/a.jpg'), code('forbidden', 'url'))
  assert.throws(() => Library.open({ ...localSettings(dir), dynamicOrigins: ['everything'] }), code('invalid_parameter', 'dynamic_origins'))
})

// The TypeScript declarations: they compile against a use of the API, and ImageRecord names
// exactly the fields a real record has.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { Library } from '../index.js'
import { repoDir } from './helpers.mjs'

const nodeDir = join(repoDir, 'node')

test('index.d.ts and handler.d.ts compile under tsc --strict', () => {
  const tsc = join(nodeDir, 'node_modules', 'typescript', 'bin', 'tsc')
  const args = ['--strict', '--noEmit', '--skipLibCheck', 'false', '--module', 'nodenext', '--target', 'es2022', '--types', 'node']
  try {
    execFileSync(process.execPath, [tsc, ...args, join(nodeDir, 'test', 'types-usage.ts')], { cwd: nodeDir, encoding: 'utf8' })
  } catch (error) {
    assert.fail(`tsc reports:\n${error.stdout}${error.stderr}`)
  }
})

test('ImageRecord declares exactly the fields of a record', async () => {
  const declared = readFileSync(join(nodeDir, 'index.d.ts'), 'utf8')
  const block = declared.match(/export interface ImageRecord \{([\s\S]*?)\n\}/)
  assert.ok(block, 'index.d.ts declares ImageRecord')
  const fields = [...block[1].matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]).sort()
  const dir = mkdtempSync(join(tmpdir(), 'picsmith-types-'))
  try {
    const lib = Library.open({ storage: 'memory://', catalog: `sqlite://${dir}/catalog.db`, cache: 'off' })
    const record = await lib.upload(readFileSync(join(repoDir, 'tests', 'fixtures', 'gray-320.jpg')), { fileName: 'a.jpg' })
    assert.deepEqual(fields, Object.keys(record).sort())
    const usage = await lib.usage()
    assert.deepEqual(Object.keys(usage.storage).sort(), ['max', 'max_readable', 'remaining', 'remaining_readable', 'used', 'used_readable'])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

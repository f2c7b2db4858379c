// Every case of tests/vectors/*.json through the public Node API, as tests/vectors/README.md
// specifies; the Rust and Python suites run the same cases.

import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'

import { Pipeline, features, process as transform } from '../index.js'
import { MIME, corpusFile, hasSignature, repoDir } from './helpers.mjs'

const vectorsDir = join(repoDir, 'tests', 'vectors')
const files = readdirSync(vectorsDir)
  .filter((name) => name.endsWith('.json'))
  .sort()

test('the vector files are found', () => {
  assert.ok(files.length > 0, `no *.json in ${vectorsDir}`)
})

/** The input bytes of a case, `undefined` for a parse-only case, `null` when skipped. */
function loadInput(t, spec) {
  if (spec === null || spec === undefined) return undefined
  if (spec.startsWith('corpus:')) return corpusFile(t, spec.slice('corpus:'.length))
  if (spec.startsWith('fixture:')) return readFileSync(join(repoDir, 'tests', 'fixtures', spec.slice('fixture:'.length)))
  throw new Error(`input '${spec}' must start with corpus: or fixture:`)
}

async function outcome(c, input) {
  const strict = c.strict ?? false
  try {
    if (input === undefined) {
      const pipeline = Pipeline.fromQuery(c.query ?? '', strict)
      return { warnings: pipeline.warnings }
    }
    const assets = c.assets === undefined ? undefined : join(repoDir, 'tests', c.assets)
    return { image: await transform(input, c.query ?? '', { accept: c.accept, strict, assets }) }
  } catch (error) {
    return { error }
  }
}

for (const file of files) {
  const { cases } = JSON.parse(readFileSync(join(vectorsDir, file), 'utf8'))
  describe(file, () => {
    for (const c of cases) {
      test(c.name, async (t) => {
        const input = loadInput(t, c.input)
        if (input === null) return
        const { image, warnings, error } = await outcome(c, input)
        // A build with an optional feature may expect another outcome (`expect_with`).
        const feature = features().find((f) => c.expect_with?.[f] !== undefined)
        const expect = feature ? c.expect_with[feature] : c.expect

        if (expect.error !== undefined) {
          assert.ok(error, `expected error ${expect.error}, got success`)
          assert.ok(error instanceof Error, 'errors are Error instances')
          assert.equal(error.code, expect.error, `error ${error.code}: ${error.message}`)
          if (expect.parameter !== undefined) assert.equal(error.parameter, expect.parameter)
          assert.equal(typeof error.httpStatus, 'number')
          return
        }
        if (error) assert.fail(`unexpected error ${error.code}: ${error.message}`)

        if (expect.warnings !== undefined) {
          const got = (image ? image.warnings : warnings).map((w) => w.parameter)
          assert.deepEqual(got, expect.warnings)
        }
        if (!image) return
        for (const [key, actual] of [
          ['width', image.width],
          ['height', image.height],
          ['format', image.format],
          ['vary_accept', image.varyAccept],
        ]) {
          if (expect[key] !== undefined) assert.equal(actual, expect[key], key)
        }
        assert.equal(image.mime, MIME[image.format])
        assert.ok(Buffer.isBuffer(image.data) && image.data.length > 0, 'data is a non-empty Buffer')
        assert.ok(hasSignature(image.data, image.format), `data is not ${image.format}`)
      })
    }
  })
}

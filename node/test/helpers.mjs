// Paths and inputs shared by the test files.

import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { deflateSync } from 'node:zlib'

export const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** `$PICSMITH_CORPUS`, else `../shared/corpus` beside the checkout (tests/vectors/README.md). */
export const corpusDir = process.env.PICSMITH_CORPUS
  ? resolve(process.env.PICSMITH_CORPUS)
  : join(repoDir, '..', 'shared', 'corpus')

/** The bytes of a corpus file, or `null` after marking the test skipped with the reason. */
export function corpusFile(t, name) {
  const path = join(corpusDir, name)
  if (!existsSync(path)) {
    t.skip(`corpus file ${path} is absent (set PICSMITH_CORPUS)`)
    return null
  }
  return readFileSync(path)
}

export const MIME = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  mp4: 'video/mp4',
}

/** Whether `data` starts with the signature of `format`, so a wrong label cannot pass. */
export function hasSignature(data, format) {
  const starts = (...bytes) => bytes.every((b, i) => data[i] === b)
  switch (format) {
    case 'jpeg':
      return starts(0xff, 0xd8, 0xff)
    case 'png':
      return starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)
    case 'webp':
      return data.subarray(0, 4).toString('latin1') === 'RIFF' && data.subarray(8, 12).toString('latin1') === 'WEBP'
    case 'avif':
      return data.subarray(4, 12).toString('latin1') === 'ftypavif'
    case 'mp4':
      return data.subarray(4, 12).toString('latin1') === 'ftypisom'
    case 'gif':
      return data.subarray(0, 6).toString('latin1').startsWith('GIF8')
    default:
      return false
  }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(bytes) {
  let c = 0xffffffff
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type, body) {
  const head = Buffer.alloc(4)
  head.writeUInt32BE(body.length)
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), body])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(typed))
  return Buffer.concat([head, typed, crc])
}

/**
 * A valid RGB PNG of the given size with a gradient, so the API tests need no corpus.
 */
export function makePng(width, height) {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // colour type RGB
  const raw = Buffer.alloc(height * (1 + width * 3))
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 3)
    for (let x = 0; x < width; x++) {
      const p = row + 1 + x * 3
      raw[p] = (x * 255) / Math.max(1, width - 1)
      raw[p + 1] = (y * 255) / Math.max(1, height - 1)
      raw[p + 2] = 128
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

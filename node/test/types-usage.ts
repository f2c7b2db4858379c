// Compiled (not run) by types.test.mjs with `tsc --strict --noEmit`: the declarations of
// index.d.ts and handler.d.ts describe the API as a TypeScript user calls it.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'

import { Library, type ImageRecord, type LibrarySettings, process as transform } from '../index.js'
import { createHandler } from '../handler.js'

export async function tour(): Promise<string[]> {
  const settings: LibrarySettings = { storage: 'memory://', catalog: 'sqlite:///tmp/types.db', dynamicOrigins: ['all'] }
  const lib = Library.open(settings)
  const record: ImageRecord = await lib.upload(readFileSync('cat.jpg'), { fileName: 'cat.jpg', tags: ['cat'], expiration: 'P3D' })
  const width: number = record.width
  const taken: string | null = record.originalName
  const page = await lib.list({ folder: '/', limit: 10 })
  const usage = await lib.usage()
  const readable: string = usage.storage.used_readable
  const { image, cacheHit } = await lib.render(record.path, 'width=200&format=webp')
  const bytes: Buffer = (await transform(image.data, 'width=100')).data
  createServer(createHandler({ library: lib })).close()
  // @ts-expect-error: a setting the library does not know
  Library.open({ storge: 'memory://' })
  // @ts-expect-error: tags are a list
  await lib.upload(bytes, { tags: 'cat' })
  return [String(width), String(taken), String(page.total), readable, String(cacheHit)]
}

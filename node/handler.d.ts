// Types of handler.js, written by hand (index.d.ts is the one napi-rs generates).

import type { IncomingMessage, ServerResponse } from 'node:http'

import type { Library, LibrarySettings } from './index'

/** Options of `createHandler`: exactly one of `library` and `settings`. */
export interface HandlerOptions {
  /** The store to serve from. */
  library?: Library
  /** Settings to open a `Library` with (`Library.open(settings)`), instead of `library`. */
  settings?: LibrarySettings
  /** `Cache-Control` of transformed images. Default `'public, max-age=31536000, immutable'`. */
  cacheControl?: string
  /**
   * The secret of `signPath` URLs: with it, a request carrying `signature` or `expires` is
   * verified (403 `forbidden` when it fails) and may render private images. Default: none.
   */
  signingSecret?: string | Buffer
  /** Serve only URLs signed with `signingSecret` (403 `forbidden` otherwise). Default false. */
  requireSignedUrls?: boolean
  /**
   * The transform parameters requests may use, by canonical name (`width`, not `w`); aliases
   * and base64 forms count as their parameter. Anything else is 403 `forbidden`. Default: all.
   */
  allowedParameters?: string[]
}

/**
 * A `node:http` request listener that is also Express middleware: methods other than `GET`
 * and `HEAD` go to `next()` when it is given, else answer 405.
 */
export type Handler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void

/**
 * A handler that answers `GET`/`HEAD /<path or id>?<transform>` with a stored image,
 * transformed, as the reference server's Imagizer dialect does: `ETag` and `If-None-Match`,
 * `Cache-Control`, `Vary: Accept`, `X-Picsmith-Cache`, `X-Picsmith-Warnings`, and errors as
 * `{"error": {"code", "message", "parameter"}}` with the engine's status.
 *
 * ```js
 * const { createHandler } = require('picsmith/handler')
 * http.createServer(createHandler({ library: Library.open() })).listen(8080)
 * ```
 */
export declare function createHandler(options: HandlerOptions): Handler

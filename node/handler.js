// A request handler for node:http and Express that serves the Imagizer transform language
// (`GET /<path or id>?<query>`) from a picsmith store, as the Python reference server's
// Imagizer dialect does: same headers, same error body, same status for each error.

'use strict'

const { createHash } = require('node:crypto')

const { Library, checkAllowedParameters, verifySignedPath } = require('./index.js')

const DEFAULT_CACHE_CONTROL = 'public, max-age=31536000, immutable'
const WARNINGS_HEADER = 'X-Picsmith-Warnings'
const CACHE_HEADER = 'X-Picsmith-Cache'
// Query parameters of a signed URL; verifySignedPath removes them.
const SIGNING_PARAMETERS = ['signature', 'expires']

/**
 * A strong ETag: the same bytes, and only they, get the same tag. The first 32 hex digits of
 * the SHA-256, as the Python server computes it, so both servers tag an image alike.
 */
function etagOf(data) {
  return `"${createHash('sha256').update(data).digest('hex').slice(0, 32)}"`
}

/** Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for it). */
function etagMatches(ifNoneMatch, etag) {
  if (!ifNoneMatch) return false
  if (ifNoneMatch.trim() === '*') return true
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
}

/**
 * Warning messages quote query keys verbatim. Escaping every UTF-16 unit outside printable
 * ASCII keeps a crafted key from splitting the header, and Node from throwing on it.
 */
function headerText(text) {
  return text.replace(/[^ -~]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** An error the handler decides itself (the method, a path that cannot be decoded). */
function requestError(httpStatus, code, message, parameter) {
  return Object.assign(new Error(message), { httpStatus, code, parameter })
}

/** Imagizer's error envelope, with the error's own status. */
function sendError(res, error) {
  const known = Number.isInteger(error.httpStatus) && typeof error.code === 'string'
  if (!known) {
    // Not a picsmith error: a bug in the handler or the binding. Its details stay in the log.
    console.error('picsmith handler: unexpected error', error)
  }
  const status = known ? error.httpStatus : 500
  const body = JSON.stringify({
    error: {
      code: known ? error.code : 'internal',
      message: known ? error.message : 'internal error: please report it',
      parameter: known ? (error.parameter ?? null) : null,
    },
  })
  const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }
  if (status === 405) headers.Allow = 'GET, HEAD'
  res.writeHead(status, headers)
  res.end(body)
}

/** The percent-decoded path of a request target (`/pets/cat.jpg?w=1` → `/pets/cat.jpg`). */
function decodedPath(rawPath) {
  if (!rawPath.startsWith('/')) {
    throw requestError(400, 'invalid_parameter', 'the request target must be a path starting with /', 'path')
  }
  try {
    return decodeURIComponent(rawPath)
  } catch {
    throw requestError(400, 'invalid_parameter', 'the path has malformed percent-encoding', 'path')
  }
}

/**
 * A handler for `http.createServer` and Express that answers `GET` and `HEAD
 * /<path or id>?<transform>` with a stored image, transformed through the derived cache.
 *
 * Answers carry `Content-Type`, `Content-Length`, a strong `ETag` (`If-None-Match` gives 304),
 * `Cache-Control`, `Vary: Accept` when `format=auto` chose the format from `Accept`,
 * `X-Picsmith-Cache: hit|miss` and `X-Picsmith-Warnings`. Errors answer
 * `{"error": {"code", "message", "parameter"}}` with the status of the engine's error.
 * Other methods go to `next()` when there is one (Express), else answer 405.
 *
 * Options: `library` (a `Library`), or `settings` to open one with `Library.open`;
 * `cacheControl` (default `public, max-age=31536000, immutable`); `signingSecret` to serve
 * URLs made by `signPath`, private images included (their answers are `Cache-Control:
 * private`); `requireSignedUrls` to serve nothing else; `allowedParameters` (canonical names)
 * so that a public deployment cannot be made to burn CPU.
 *
 * ```js
 * const http = require('node:http')
 * const { Library } = require('picsmith')
 * const { createHandler } = require('picsmith/handler')
 *
 * const library = Library.open({ storage: 'file:///srv/images', catalog: 'sqlite:///srv/images/catalog.db' })
 * http.createServer(createHandler({ library })).listen(8080)
 * // Express: app.use('/images', createHandler({ library }))
 * ```
 */
function createHandler(options = {}) {
  const {
    library,
    settings,
    cacheControl = DEFAULT_CACHE_CONTROL,
    signingSecret,
    requireSignedUrls = false,
    allowedParameters,
  } = options
  if ((library === undefined) === (settings === undefined)) {
    throw new TypeError('createHandler needs exactly one of `library` and `settings`')
  }
  if (requireSignedUrls && !signingSecret) {
    throw new TypeError('`requireSignedUrls` needs a `signingSecret`')
  }
  const store = settings === undefined ? library : Library.open(settings)
  if (typeof store?.render !== 'function') {
    throw new TypeError('`library` must be a picsmith Library')
  }

  /** The transform query and whether the URL was signed, after checking the signature. */
  function verified(req, query) {
    const params = new URLSearchParams(query)
    const signedRequest = SIGNING_PARAMETERS.some((name) => params.has(name))
    if (!signingSecret || !signedRequest) {
      if (requireSignedUrls) {
        throw requestError(403, 'forbidden', 'this server serves signed URLs only', 'signature')
      }
      return { query, signed: false }
    }
    // The signature covers the path as the client sent it: under an Express mount point
    // `req.url` has lost the mount's prefix, which `req.originalUrl` keeps.
    // verifySignedPath throws picsmith's `forbidden` error when it is wrong or expired.
    const pathAndQuery = verifySignedPath(signingSecret, req.originalUrl ?? req.url)
    const mark = pathAndQuery.indexOf('?')
    return { query: mark < 0 ? '' : pathAndQuery.slice(mark + 1), signed: true }
  }

  async function answer(req, res) {
    const target = req.url ?? '/'
    const mark = target.indexOf('?')
    const rawPath = mark < 0 ? target : target.slice(0, mark)
    const rawQuery = mark < 0 ? '' : target.slice(mark + 1)
    const reference = decodedPath(rawPath)
    const { query, signed } = verified(req, rawQuery)
    // Refused before any image work; aliases and base64 forms count as their parameter.
    if (allowedParameters != null) checkAllowedParameters(query, allowedParameters)
    const { image, cacheHit } = await store.render(reference, query, req.headers.accept, signed)

    const headers = {
      ETag: etagOf(image.data),
      'Cache-Control': signed ? 'private' : cacheControl,
      [CACHE_HEADER]: cacheHit ? 'hit' : 'miss',
    }
    if (image.varyAccept) headers.Vary = 'Accept'
    if (etagMatches(req.headers['if-none-match'], headers.ETag)) {
      res.writeHead(304, headers)
      res.end()
      return
    }
    if (image.warnings.length > 0) {
      headers[WARNINGS_HEADER] = headerText(image.warnings.map((w) => w.message).join('; '))
    }
    headers['Content-Type'] = image.mime
    headers['Content-Length'] = image.data.length
    res.writeHead(200, headers)
    res.end(req.method === 'HEAD' ? undefined : image.data)
  }

  return function picsmithHandler(req, res, next) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (typeof next === 'function') {
        next()
        return
      }
      sendError(res, requestError(405, 'method_not_allowed', `${req.method} is not allowed here; use GET or HEAD`))
      return
    }
    answer(req, res).catch((error) => sendError(res, error))
  }
}

module.exports = { createHandler }

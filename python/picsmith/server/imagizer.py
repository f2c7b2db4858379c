"""Imagizer: transforms (``GET /<path>?<query>``), uploads to a path, and the storage API.

- ``GET``/``HEAD /<path or id>?<query>`` renders a stored image through the derived cache
  (:meth:`picsmith.Library.render`); ``meta=true`` answers the engine's JSON. Answers carry a
  strong ``ETag`` (``If-None-Match`` gives 304), ``Cache-Control``, ``Vary: Accept`` when
  ``format=auto`` chose the format, ``X-Picsmith-Cache: hit|miss`` and the warnings header.
- ``POST /<path>`` (multipart ``file``; ``cache_processed=true`` plus transform parameters
  stores the processed image; ``cache_queries`` pre-renders variants) stores at that path.
- ``POST /api/v1/images`` (multipart ``file``) answers ``{"url", "width", "height"}``.
- ``DELETE /<image path>`` deletes an image.

Writes need ``Authorization: Bearer <API key>``. Errors answer
``{"error": {"code", "message", "parameter"}}`` with the error's status.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import picsmith

from .common import (
    FORBIDDEN,
    INVALID_PARAMETER,
    ApiError,
    Problem,
    bearer_token,
    endpoint,
    file_of,
    flag,
    note,
    public_url,
    query_pairs,
    read_form,
    services_of,
    text_of,
    uploads_refused,
)

WARNINGS_HEADER = "X-Picsmith-Warnings"
CACHE_HEADER = "X-Picsmith-Cache"
# Query parameters of a signed URL; verify_signed_path removes them.
SIGNING_PARAMETERS = ("signature", "expires")
# Form fields of a path upload that are not transform parameters.
UPLOAD_FIELDS = {"file", "cache_processed", "cache_queries"}


def render_problem(problem: Problem) -> Response:
    """Imagizer's error envelope."""
    body = {"error": {"code": problem.code, "message": problem.message,
                      "parameter": problem.parameter}}
    return JSONResponse(body, status_code=problem.status)


imagizer_endpoint = endpoint(render_problem, "imagizer")


def _header_text(text: str) -> str:
    # Warning messages quote query keys verbatim; escaping everything outside printable ASCII
    # keeps a crafted key from splitting the header or failing the latin-1 encoding.
    return "".join(c if " " <= c <= "~" else json.dumps(c)[1:-1] for c in text)


def etag_of(data: bytes) -> str:
    """A strong ETag: the same bytes, and only they, get the same tag."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, as RFC 9110 asks for it)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))
    return etag in candidates


async def _verified(request: Request) -> tuple[str, bool]:
    """The transform query and whether the URL was signed, after checking the signature."""
    services = services_of(request)
    config = services.config
    query = request.url.query
    signed_request = any(key in SIGNING_PARAMETERS for key, _ in query_pairs(query))
    if config.signing_secret and signed_request:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        path_and_query = raw_path.decode("latin-1") + "?" + query
        verified = picsmith.verify_signed_path(config.signing_secret, path_and_query)
        return verified.partition("?")[2], True
    if config.require_signed_urls:
        raise ApiError(FORBIDDEN, "this server serves signed URLs only", "signature")
    return query, False


@imagizer_endpoint
async def transform(request: Request) -> Response:
    """``GET /<path or id>?<query>``: a stored image, transformed."""
    services = services_of(request)
    query, signed = await _verified(request)
    allowed = services.config.allowed_parameters
    if allowed is not None:
        # Refused before any image work; aliases and base64 forms count as their parameter.
        picsmith.check_allowed_parameters(query, allowed)
    reference = "/" + request.path_params["path"]
    image, cache_hit = await services.call(
        services.library.render, reference, query,
        accept=request.headers.get("accept"), signed=signed,
    )
    note(request, cache="hit" if cache_hit else "miss")
    headers = {
        "ETag": etag_of(image.data),
        "Cache-Control": "private" if signed else services.config.cache_control,
        CACHE_HEADER: "hit" if cache_hit else "miss",
    }
    if image.vary_accept:
        headers["Vary"] = "Accept"
    if image.warnings:
        headers[WARNINGS_HEADER] = _header_text("; ".join(w.message for w in image.warnings))
    if etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
        headers.pop(WARNINGS_HEADER, None)
        return Response(status_code=304, headers=headers)
    return Response(image.data, media_type=image.mime, headers=headers)


def _cache_queries(values: list[str]) -> list[str]:
    """``cache_queries`` as a list: repeated fields, each a query or a JSON array of them."""
    queries: list[str] = []
    for value in values:
        value = value.strip()
        if value.startswith("["):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as err:
                raise ApiError(INVALID_PARAMETER, f"cache_queries is not a JSON array: {err}",
                               "cache_queries") from None
            if not isinstance(parsed, list) or not all(isinstance(q, str) for q in parsed):
                raise ApiError(INVALID_PARAMETER, "cache_queries must be an array of query strings",
                               "cache_queries")
            queries += parsed
        elif value:
            queries.append(value)
    return [q.lstrip("?") for q in queries]


def _answer(request: Request, record: dict) -> JSONResponse:
    return JSONResponse(
        {"url": public_url(request, record["path"]), "width": record["width"],
         "height": record["height"]}
    )


@imagizer_endpoint
async def upload_to_path(request: Request) -> Response:
    """``POST /<path>``: stores the ``file`` part at that path (replacing what is there)."""
    uploads_refused(request)
    services = services_of(request)
    account = await services.account_for(bearer_token(request))
    form = await read_form(request)
    file = await file_of(form.get("file"), "file")
    transform = None
    if flag(text_of(form.get("cache_processed")), "cache_processed"):
        fields = [(k, v) for k, v in form.multi_items()
                  if k not in UPLOAD_FIELDS and isinstance(v, str)]
        transform = urlencode(query_pairs(request.url.query) + fields)
    prerender = _cache_queries([v for v in form.getlist("cache_queries") if isinstance(v, str)])
    record = await services.call(
        services.library.upload, file, path="/" + request.path_params["path"],
        transform=transform or None, prerender=prerender or None, account=account,
    )
    note(request, image=record["id"])
    return _answer(request, record)


@imagizer_endpoint
async def upload_to_storage(request: Request) -> Response:
    """``POST /api/v1/images``: stores the ``file`` part under a unique name."""
    uploads_refused(request)
    services = services_of(request)
    account = await services.account_for(bearer_token(request))
    form = await read_form(request)
    part = form.get("file")
    file = await file_of(part, "file")
    file_name = getattr(part, "filename", None) or "image"
    record = await services.call(
        services.library.upload, file, file_name=file_name, account=account
    )
    note(request, image=record["id"])
    return _answer(request, record)


@imagizer_endpoint
async def delete(request: Request) -> Response:
    """``DELETE /<image path>``: deletes the image stored there (204)."""
    uploads_refused(request)
    services = services_of(request)
    account = await services.account_for(bearer_token(request))
    record = await services.call(services.library.get_by_path, "/" + request.path_params["path"])
    await services.owned([record["id"]], account)
    await services.call(services.library.delete, [record["id"]])
    note(request, image=record["id"])
    return Response(status_code=204)


def storage_routes() -> list[Route]:
    """The storage API, listed before the catch-all path routes."""
    return [Route("/api/v1/images", upload_to_storage, methods=["POST"])]


_BY_METHOD = {"GET": transform, "HEAD": transform, "POST": upload_to_path, "DELETE": delete}


async def by_method(request: Request) -> Response:
    """``/<path>``: a transform, a path upload or a delete, by the request's method."""
    return await _BY_METHOD[request.method](request)


def path_routes() -> list[Route]:
    """``/<path>`` for transforms, path uploads and deletes: the last route of the app. One
    route, so that a 405 lists every method the path accepts."""
    return [Route("/{path:path}", by_method, methods=list(_BY_METHOD))]

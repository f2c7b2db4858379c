"""Chevereto API v1.1: ``POST`` or ``GET /api/1/upload``.

The key comes in the ``X-API-Key`` header, or as ``key`` in the query, a multipart field or a
urlencoded body. ``source`` is a binary part, base64 text or an http(s) URL. Also ``title``,
``description``, ``tags`` (comma-separated), ``album_id``, ``category_id``, ``width`` (resize
before storing), ``expiration`` (ISO 8601 duration: ``PT5M``, ``P3D``), ``nsfw`` (0/1) and
``format``: ``json`` (the default, Chevereto's ``{"status_code", "success", "image",
"status_txt"}``), ``txt`` (the bare image URL) or ``redirect`` (303 to the viewer path, which
here is the image itself).

Errors answer ``{"status_code", "error": {"message", "code", "context", "parameter"},
"status_txt"}``: ``code`` is the HTTP status, ``context`` the stable error code.
"""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from .common import (
    INVALID_PARAMETER,
    ApiError,
    Problem,
    endpoint,
    file_of,
    flag,
    note,
    public_url,
    read_form,
    services_of,
    split_list,
    text_of,
    uploads_refused,
)

THUMB_QUERY = "width=160&height=160&crop=fit"
MEDIUM_QUERY = "width=500"
FORMATS = ("json", "txt", "redirect")


def render_problem(problem: Problem) -> Response:
    """Chevereto's error envelope."""
    body = {
        "status_code": problem.status,
        "error": {"message": problem.message, "code": problem.status, "context": problem.code,
                  "parameter": problem.parameter},
        "status_txt": HTTPStatus(problem.status).phrase,
    }
    return JSONResponse(body, status_code=problem.status)


chevereto_endpoint = endpoint(render_problem, "chevereto")


def _date(rfc3339: str | None) -> str | None:
    if rfc3339 is None:
        return None
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")


def _readable(size: int) -> str:
    """A size as people read it: ``18 KB``, ``2.9 MB``."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            break
        value /= 1024
    text = f"{value:.1f}".removesuffix(".0") if value < 10 and unit != "B" else f"{value:.0f}"
    return f"{text} {unit}"


def _image(request: Request, record: dict[str, Any]) -> dict[str, Any]:
    """A record as Chevereto's ``image`` object (fields it has no meaning for are left out)."""
    filename = record["name"]
    name, dot, extension = filename.rpartition(".")
    if not dot:
        name, extension = filename, record["format"]
    url = public_url(request, record["path"])
    title = record["title"] or name
    date = _date(record["createdAt"])

    def variant(query: str, suffix: str) -> dict[str, Any]:
        return {"filename": f"{name}.{suffix}.{extension}", "name": f"{name}.{suffix}",
                "mime": record["mime"], "extension": extension,
                "url": public_url(request, record["path"], query)}

    medium = variant(MEDIUM_QUERY, "md")
    return {
        "name": name,
        "extension": extension,
        "size": record["size"],
        "width": record["width"],
        "height": record["height"],
        "date": date,
        "date_gmt": date,
        "title": title,
        "tags": record["tags"],
        "description": record["description"],
        "nsfw": int(bool(record["nsfw"])),
        "checksum": record["md5"],
        "original_filename": record["originalName"],
        "category_id": record["categoryId"],
        "album_id": record["albumId"],
        "expiration_date_gmt": _date(record["expiresAt"]),
        "type": "image",
        "tags_string": ",".join(record["tags"]),
        "id_encoded": record["id"],
        "filename": filename,
        "mime": record["mime"],
        "url": url,
        "ratio": record["width"] / record["height"],
        "size_formatted": _readable(record["size"]),
        "image": {"filename": filename, "name": name, "mime": record["mime"],
                  "extension": extension, "url": url, "size": record["size"]},
        "thumb": variant(THUMB_QUERY, "th"),
        "medium": medium,
        "url_viewer": url,
        "path_viewer": record["path"],
        "url_short": public_url(request, "/" + record["id"]),
        "display_url": medium["url"],
        "display_width": min(record["width"], 500),
        "display_height": round(record["height"] * min(record["width"], 500) / record["width"]),
        "display_title": title,
    }


def _field(form: FormData, request: Request, name: str) -> str | None:
    """A parameter from the form, else the query."""
    return text_of(form.get(name)) or request.query_params.get(name) or None


@chevereto_endpoint
async def upload(request: Request) -> Response:
    """``POST``/``GET /api/1/upload``: stores ``source`` and answers it in ``format``."""
    uploads_refused(request)
    services = services_of(request)
    key = request.headers.get("x-api-key") or request.query_params.get("key")
    # A key in the header or query is checked before the body is read.
    account = await services.account_for(key, scheme="X-API-Key") if key else None
    form = await read_form(request)
    if account is None:
        account = await services.account_for(text_of(form.get("key")), scheme="X-API-Key")
    answer_format = (_field(form, request, "format") or "json").lower()
    if answer_format not in FORMATS:
        raise ApiError(INVALID_PARAMETER, f"'format' must be one of {', '.join(FORMATS)}",
                       "format")
    source = form.get("source") or request.query_params.get("source")
    file = await file_of(source, "source")
    width = _field(form, request, "width")
    record = await services.call(
        services.library.upload,
        file,
        file_name=getattr(source, "filename", None) or None,
        title=_field(form, request, "title"),
        description=_field(form, request, "description"),
        tags=split_list(_field(form, request, "tags")),
        album_id=_field(form, request, "album_id"),
        category_id=_field(form, request, "category_id"),
        nsfw=flag(_field(form, request, "nsfw"), "nsfw"),
        expiration=_field(form, request, "expiration"),
        transform=urlencode({"width": width}) if width else None,
        account=account,
    )
    note(request, image=record["id"])
    image = _image(request, record)
    if answer_format == "txt":
        return PlainTextResponse(image["url"])
    if answer_format == "redirect":
        return RedirectResponse(image["path_viewer"], status_code=303)
    return JSONResponse({
        "status_code": 200,
        "success": {"message": "image uploaded", "code": 200},
        "image": image,
        "status_txt": "OK",
    })


def routes() -> list[Route]:
    """The Chevereto upload route."""
    return [Route("/api/1/upload", upload, methods=["GET", "POST"])]

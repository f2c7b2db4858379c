"""ImageKit: ``POST /api/v1/files/upload`` (multipart).

``file`` is a binary part, base64 text or an http(s) URL; ``fileName`` is required; also
``useUniqueFileName``, ``tags`` (comma-separated), ``folder``, ``isPrivateFile``,
``customCoordinates`` and ``responseFields`` (``metadata`` adds the image's metadata).
Authentication is HTTP Basic with the API key as the user name and any password, as the
ImageKit SDKs send it. Private files are served only through signed URLs.

Errors answer ``{"message", "help", "reason"}`` (``reason`` is the stable error code) with the
error's status.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import picsmith

from .common import (
    INVALID_PARAMETER,
    ApiError,
    Problem,
    basic_auth_user,
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

# The thumbnail ImageKit's media library shows, as a transform of the stored image.
THUMBNAIL_QUERY = "width=200"


def render_problem(problem: Problem) -> Response:
    """ImageKit's error body."""
    where = f" (parameter {problem.parameter})" if problem.parameter else ""
    body = {
        "message": problem.message,
        "help": f"error code {problem.code}{where}",
        "reason": problem.code,
    }
    return JSONResponse(body, status_code=problem.status)


imagekit_endpoint = endpoint(render_problem, "imagekit")


def _metadata(meta: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """ImageKit's ``metadata`` object from the engine's metadata and the record."""
    return {
        "height": meta["height"],
        "width": meta["width"],
        "size": meta["fileSize"],
        "format": meta["format"],
        "hasColorProfile": meta["iccDescription"] is not None,
        "hasTransparency": meta["hasAlpha"],
        "colorSpace": meta["colorSpace"],
        "exif": meta["exif"],
        "pHash": record["phash"],
    }


@imagekit_endpoint
async def upload(request: Request) -> Response:
    """``POST /api/v1/files/upload``: stores ``file`` and answers its details."""
    uploads_refused(request)
    services = services_of(request)
    account = await services.account_for(basic_auth_user(request), scheme="Basic")
    form = await read_form(request)
    file = await file_of(form.get("file"), "file")
    file_name = text_of(form.get("fileName"))
    if not file_name:
        raise ApiError(INVALID_PARAMETER, "the field 'fileName' is required", "fileName")
    tags = text_of(form.get("tags"))
    if tags is not None and (len(tags) > 500 or "%" in tags):
        raise ApiError(INVALID_PARAMETER, "'tags' may hold at most 500 characters, without '%'",
                       "tags")
    record = await services.call(
        services.library.upload,
        file,
        file_name=file_name,
        folder=text_of(form.get("folder")),
        use_unique_file_name=flag(text_of(form.get("useUniqueFileName")), "useUniqueFileName"),
        tags=split_list(tags),
        is_private=flag(text_of(form.get("isPrivateFile")), "isPrivateFile"),
        custom_coordinates=text_of(form.get("customCoordinates")),
        account=account,
    )
    note(request, image=record["id"])
    answer: dict[str, Any] = {
        "fileId": record["id"],
        "name": record["name"],
        "url": public_url(request, record["path"]),
        "thumbnailUrl": public_url(request, record["path"], THUMBNAIL_QUERY),
        "height": record["height"],
        "width": record["width"],
        "size": record["size"],
        "filePath": record["path"],
        "tags": record["tags"],
        "isPrivateFile": record["isPrivate"],
        "customCoordinates": record["customCoordinates"],
        "fileType": "image",
    }
    if "metadata" in (split_list(text_of(form.get("responseFields"))) or []):
        data = await services.call(services.library.read, record["id"])
        meta = await services.call(picsmith.metadata, data)
        answer["metadata"] = _metadata(meta, record)
    return JSONResponse(answer)


def routes() -> list[Route]:
    """The ImageKit upload route."""
    return [Route("/api/v1/files/upload", upload, methods=["POST"])]

"""ImageResizer.io API v1: create, get, delete and tag images; account usage.

- ``GET /v1/images?key=&url=`` stores the image at ``url``; ``POST /v1/images?key=`` stores
  the ``application/octet-stream`` body. Both take ``tags`` (comma-separated).
- ``GET /v1/images/{id}`` answers an image's metadata.
- ``GET /v1/images/{ids}/delete``, ``/add_tags?tags=``, ``/remove_tags?tags=`` take up to 20
  comma-separated ids (a list answers a list, one id answers one object).
- ``GET /v1/account`` answers the key's usage.

The key comes as ``key`` in the query (or ``Authorization: Bearer``). Flags: ``with_exif``,
``verbose`` (format, MIME type, URL, times), ``with_mini_preview`` (a base64 JPEG of about 500
bytes), ``with_account`` (the account's usage). Every answer, errors included, is
``{"success": bool, "response": ...}``; an error's response is ``{"code", "message",
"parameter"}``.
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
    Services,
    bearer_token,
    endpoint,
    flag,
    note,
    public_url,
    read_body,
    services_of,
    split_list,
    uploads_refused,
)


def render_problem(problem: Problem) -> Response:
    """ImageResizer's envelope around an error."""
    body = {"success": False, "response": {"code": problem.code, "message": problem.message,
                                           "parameter": problem.parameter}}
    return JSONResponse(body, status_code=problem.status)


imageresizer_endpoint = endpoint(render_problem, "imageresizer")


def _success(response: Any) -> JSONResponse:
    return JSONResponse({"success": True, "response": response})


async def _account(request: Request) -> tuple[Services, str]:
    uploads_refused(request)
    services = services_of(request)
    key = request.query_params.get("key") or bearer_token(request)
    return services, await services.account_for(key)


def _ids(request: Request) -> list[str]:
    # Services.owned refuses an empty list and more than 20.
    return split_list(request.path_params["ids"]) or []


def _brief(record: dict[str, Any]) -> dict[str, Any]:
    """An image as the API describes it."""
    return {
        "id": record["id"],
        "width": record["width"],
        "height": record["height"],
        "filesize": record["size"],
        "tags": record["tags"],
    }


async def _image(request: Request, services: Services, record: dict[str, Any],
                 account: str) -> dict[str, Any]:
    """An image with what the flags of a create or get ask for."""
    query = request.query_params
    image = _brief(record)
    if flag(query.get("verbose"), "verbose"):
        image.update(
            format=record["format"],
            mime=record["mime"],
            url=public_url(request, record["path"]),
            path=record["path"],
            created=record["createdAt"],
            updated=record["updatedAt"],
        )
    with_exif = flag(query.get("with_exif"), "with_exif")
    with_preview = flag(query.get("with_mini_preview"), "with_mini_preview")
    if with_exif or with_preview:
        data = await services.call(services.library.read, record["id"])
        meta = await services.call(picsmith.metadata, data, mini_preview=bool(with_preview))
        if with_exif:
            image["exif"] = meta["exif"]
        if with_preview:
            image["mini_preview"] = meta["miniPreview"]
    if flag(query.get("with_account"), "with_account"):
        image["account"] = await services.call(services.library.usage, account)
    return image


def _one_or_many(ids: list[str], images: list[dict[str, Any]]) -> Any:
    return images[0] if len(ids) == 1 else images


@imageresizer_endpoint
async def create(request: Request) -> Response:
    """``GET /v1/images?url=`` or ``POST /v1/images`` (octet-stream body): stores an image."""
    services, account = await _account(request)
    if request.method == "POST":
        source: bytes | str = await read_body(request)
        if not source:
            raise ApiError(INVALID_PARAMETER, "the request body must hold the image", "body")
    else:
        source = request.query_params.get("url", "")
        if not source:
            raise ApiError(INVALID_PARAMETER, "the 'url' parameter is required", "url")
        if not source.lower().startswith(("http://", "https://")):
            raise ApiError(INVALID_PARAMETER, "'url' must be an http or https URL", "url")
    record = await services.call(
        services.library.upload, source,
        file_name=_file_name(source), tags=split_list(request.query_params.get("tags")),
        account=account,
    )
    note(request, image=record["id"])
    return _success(await _image(request, services, record, account))


def _file_name(source: bytes | str) -> str | None:
    # A URL's last segment names the image; a body has no name (the engine picks one).
    if isinstance(source, str):
        last = source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return last or None
    return None


@imageresizer_endpoint
async def get(request: Request) -> Response:
    """``GET /v1/images/{id}``: an image's metadata."""
    services, account = await _account(request)
    ids = _ids(request)
    records = await services.owned(ids, account)
    images = [await _image(request, services, record, account) for record in records]
    return _success(_one_or_many(ids, images))


@imageresizer_endpoint
async def delete(request: Request) -> Response:
    """``GET /v1/images/{ids}/delete``: deletes up to 20 images, all or none."""
    services, account = await _account(request)
    ids = _ids(request)
    await services.owned(ids, account)
    deleted = await services.call(services.library.delete, ids)
    return _success(_one_or_many(ids, [_brief(record) for record in deleted]))


async def _retag(request: Request, add: bool) -> Response:
    services, account = await _account(request)
    ids = _ids(request)
    tags = split_list(request.query_params.get("tags"))
    if not tags:
        raise ApiError(INVALID_PARAMETER, "the 'tags' parameter is required", "tags")
    await services.owned(ids, account)
    change = services.library.add_tags if add else services.library.remove_tags
    records = await services.call(change, ids, tags)
    return _success(_one_or_many(ids, [_brief(record) for record in records]))


@imageresizer_endpoint
async def add_tags(request: Request) -> Response:
    """``GET /v1/images/{ids}/add_tags?tags=``: adds tags (at most 20 an image)."""
    return await _retag(request, add=True)


@imageresizer_endpoint
async def remove_tags(request: Request) -> Response:
    """``GET /v1/images/{ids}/remove_tags?tags=``: removes tags."""
    return await _retag(request, add=False)


@imageresizer_endpoint
async def account(request: Request) -> Response:
    """``GET /v1/account``: number of images and storage of the key's account."""
    services, account_name = await _account(request)
    return _success(await services.call(services.library.usage, account_name))


def routes() -> list[Route]:
    """The ImageResizer v1 routes."""
    return [
        Route("/v1/images", create, methods=["GET", "POST"]),
        Route("/v1/account", account, methods=["GET"]),
        Route("/v1/images/{ids}/delete", delete, methods=["GET"]),
        Route("/v1/images/{ids}/add_tags", add_tags, methods=["GET"]),
        Route("/v1/images/{ids}/remove_tags", remove_tags, methods=["GET"]),
        Route("/v1/images/{ids}", get, methods=["GET"]),
    ]

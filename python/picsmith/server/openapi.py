"""The OpenAPI 3.1 document served at ``/openapi.json``.

Operations are listed once in :data:`OPERATIONS`; their summaries are the handlers' docstrings
and the transform parameters come from the engine's registry (``picsmith.parameters()``), so
the document follows the code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import picsmith

from . import chevereto, imagekit, imageresizer, imagizer


@dataclass(frozen=True)
class Operation:
    """One method on one path, as the document describes it."""

    method: str
    path: str
    handler: Callable[..., Any]
    tag: str
    security: str | None
    query: tuple[str, ...] = ()
    body: str | None = None
    # The form fields of a multipart body.
    fields: tuple[str, ...] = ()


IMAGE = "multipart/form-data"
# Form fields that carry image bytes (ImageKit's `file` and Chevereto's `source` may also be
# base64 or a URL, which a string schema allows).
BINARY_FIELDS = frozenset({"file", "source"})
REQUIRED_FIELDS = frozenset({"file", "fileName", "source"})
CHEVERETO_FIELDS = ("source", "key", "title", "description", "tags", "album_id", "category_id",
                    "width", "expiration", "nsfw", "format")
OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/{path}", imagizer.transform, "Imagizer", None, ("*transform",)),
    Operation("post", "/{path}", imagizer.upload_to_path, "Imagizer", "bearer", (), IMAGE,
              ("file", "cache_processed", "cache_queries")),
    Operation("delete", "/{path}", imagizer.delete, "Imagizer", "bearer"),
    Operation("post", "/api/v1/images", imagizer.upload_to_storage, "Imagizer", "bearer", (),
              IMAGE, ("file",)),
    Operation("get", "/v1/images", imageresizer.create, "ImageResizer", "key",
              ("key", "url", "tags", "with_exif", "verbose", "with_mini_preview", "with_account")),
    Operation("post", "/v1/images", imageresizer.create, "ImageResizer", "key",
              ("key", "tags", "with_exif", "verbose", "with_mini_preview", "with_account"),
              "application/octet-stream"),
    Operation("get", "/v1/images/{ids}", imageresizer.get, "ImageResizer", "key",
              ("key", "with_exif", "verbose", "with_mini_preview", "with_account")),
    Operation("get", "/v1/images/{ids}/delete", imageresizer.delete, "ImageResizer", "key",
              ("key",)),
    Operation("get", "/v1/images/{ids}/add_tags", imageresizer.add_tags, "ImageResizer", "key",
              ("key", "tags")),
    Operation("get", "/v1/images/{ids}/remove_tags", imageresizer.remove_tags, "ImageResizer",
              "key", ("key", "tags")),
    Operation("get", "/v1/account", imageresizer.account, "ImageResizer", "key", ("key",)),
    Operation("post", "/api/v1/files/upload", imagekit.upload, "ImageKit", "basic", (), IMAGE,
              ("file", "fileName", "useUniqueFileName", "tags", "folder", "isPrivateFile",
               "customCoordinates", "responseFields")),
    Operation("post", "/api/1/upload", chevereto.upload, "Chevereto", "apiKey", (), IMAGE,
              CHEVERETO_FIELDS),
    Operation("get", "/api/1/upload", chevereto.upload, "Chevereto", "apiKey", CHEVERETO_FIELDS),
)


def _transform_parameters() -> list[dict[str, Any]]:
    return [
        {
            "name": p["name"],
            "in": "query",
            "required": False,
            "description": f"{p['doc']} ({p['accepted']})"
            + (f"; aliases {', '.join(p['aliases'])}" if p["aliases"] else ""),
            "schema": {"type": "string"},
        }
        for p in picsmith.parameters()
    ]


def _body_schema(op: Operation) -> dict[str, Any]:
    if not op.fields:
        return {"schema": {"type": "string", "format": "binary"}}
    properties = {
        name: {"type": "string", "format": "binary"} if name in BINARY_FIELDS
        else {"type": "string"}
        for name in op.fields
    }
    required = [name for name in op.fields if name in REQUIRED_FIELDS]
    return {"schema": {"type": "object", "properties": properties, "required": required}}


def document() -> dict[str, Any]:
    """The OpenAPI document of every route."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in ("path", "ids") if "{" + name + "}" in op.path
        ]
        for name in op.query:
            if name == "*transform":
                parameters += _transform_parameters()
            else:
                parameters.append({"name": name, "in": "query", "required": False,
                                   "schema": {"type": "string"}})
        operation: dict[str, Any] = {
            "tags": [op.tag],
            "summary": (op.handler.__doc__ or "").strip().splitlines()[0],
            "operationId": f"{op.tag.lower()}_{op.handler.__name__}_{op.method}",
            "parameters": parameters,
            "responses": {"200": {"description": "success"},
                          "default": {"description": "an error in the dialect's envelope"}},
        }
        if op.security:
            operation["security"] = [{op.security: []}]
        if op.body:
            operation["requestBody"] = {"required": True, "content": {op.body: _body_schema(op)}}
        paths.setdefault(op.path, {})[op.method] = operation
    paths["/health"] = {"get": {"summary": "Liveness and catalog check",
                                "responses": {"200": {"description": "ok"},
                                              "503": {"description": "storage unavailable"}}}}
    paths["/metrics"] = {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "text exposition"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "picsmith server", "version": picsmith.__version__},
        "paths": paths,
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "basic": {"type": "http", "scheme": "basic",
                      "description": "the API key as user name, any password"},
            "key": {"type": "apiKey", "in": "query", "name": "key"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }},
    }

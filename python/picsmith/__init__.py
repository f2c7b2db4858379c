"""picsmith: a fast, safe image engine.

One query string in the Imagizer transform language describes the work; picsmith decodes
(shrinking JPEGs while decoding), applies the EXIF orientation, resizes with Lanczos3 and
encodes JPEG, PNG, WebP, AVIF or GIF. The work runs in Rust with the GIL released, so
threads scale.

Example::

    import picsmith

    with open("photo.jpg", "rb") as f:
        image = picsmith.process(f.read(), "width=400&format=webp")
    print(image.width, image.height, image.mime)   # 400 267 image/webp
    with open("photo-400.webp", "wb") as f:
        f.write(image.data)

Errors are subclasses of :class:`PicsmithError` with a stable ``code``, the ``http_status``
a server should answer with, the ``parameter`` concerned (or None) and a ``message``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from . import _picsmith
from ._picsmith import (
    Forbidden,
    Image,
    InternalError,
    InvalidImage,
    InvalidParameter,
    LimitExceeded,
    Limits,
    NotFound,
    PicsmithError,
    Pipeline,
    RecognitionModels,
    StorageUnavailable,
    Unsupported,
    UnsupportedFormat,
    UpstreamError,
)
from ._picsmith import (
    Warning as Warning,
)

from .library import Library

__version__: str = _picsmith.__version__

# `Warning` stays reachable as `picsmith.Warning` but out of `__all__`, so that
# `from picsmith import *` does not shadow the builtin of the same name.
__all__ = [
    "Forbidden",
    "Image",
    "InternalError",
    "InvalidImage",
    "InvalidParameter",
    "LimitExceeded",
    "Library",
    "Limits",
    "NotFound",
    "PicsmithError",
    "Pipeline",
    "RecognitionModels",
    "StorageUnavailable",
    "Unsupported",
    "UnsupportedFormat",
    "UpstreamError",
    "__version__",
    "check_allowed_parameters",
    "features",
    "metadata",
    "parameters",
    "process",
    "sign_path",
    "verify_signed_path",
    "schema_json",
]


def process(
    data: bytes,
    query: str = "",
    *,
    accept: str | None = None,
    limits: Limits | None = None,
    strict: bool = False,
    assets: str | os.PathLike[str] | None = None,
    models: RecognitionModels | None = None,
) -> Image:
    """Transform one encoded image as ``query`` describes.

    :param data: the encoded input (JPEG, PNG, WebP or GIF; HEIC, AVIF, JPEG XL and TIFF when
        :func:`features` lists ``"vips"``); the format is detected from the bytes, never from
        a file name.
    :param query: an Imagizer query string such as ``"width=400&format=webp"`` (a leading
        ``?`` is allowed).
    :param accept: the request's ``Accept`` header, used by ``format=auto``; when it decides
        the format, ``Image.vary_accept`` is true and a response must say ``Vary: Accept``.
    :param limits: resource limits, checked before the work they guard; default ``Limits()``.
    :param strict: make unknown or repeated parameters :class:`InvalidParameter` errors
        instead of warnings.
    :param assets: the directory ``mark`` and layer ``url`` locations are read from
        (``mark=/logo.png`` is ``<assets>/logo.png``; ``..`` and links leaving it are refused).
        Without it, layer images are skipped with a warning, or fail when required.
    :param models: the model files of ``recognition=nsfw|labels``; unset paths fall back to
        ``$PICSMITH_NSFW_MODEL``, ``$PICSMITH_LABELS_MODEL`` and ``$PICSMITH_LABELS_NAMES``.
        Without a model, recognition raises :class:`Unsupported`.
    :raises PicsmithError: a subclass naming what went wrong.

    Example::

        image = picsmith.process(data, "w=200&format=auto", accept="image/webp,*/*")
        assert image.format == "webp" and image.vary_accept
    """
    return _picsmith.process(
        data, query, accept=accept, limits=limits, strict=strict, assets=assets, models=models
    )


def metadata(
    data: bytes,
    *,
    colors: bool = False,
    hashes: bool = False,
    mini_preview: bool = False,
    faces: bool = False,
    limits: Limits | None = None,
) -> dict[str, Any]:
    """What an encoded image is, read from its headers without decoding a pixel.

    The keys: ``fileSize``, ``width`` and ``height`` (as displayed, EXIF orientation
    applied), ``format``, ``mimeType``, ``hasAlpha``, ``colorSpace`` (srgb, display-p3,
    adobe-rgb, prophoto-rgb, rgb, cmyk or b-w), ``iccDescription``, ``orientation``, ``exif``
    (tag name to value, formatted as Imagizer's ``meta=true`` shows them), ``jpeg``
    (``colorspace``, ``samplingFactor``) and the pixel fields below (None or empty unless asked).

    :param colors: add ``dominantColor`` (``#RRGGBB``) and ``palette`` (up to five
        ``{"color", "share"}``, largest first).
    :param hashes: add ``blurhash``, ``thumbhash`` (base64) and ``dhash`` (16 hex digits; a
        Hamming distance under about 10 between two hashes suggests a duplicate).
    :param mini_preview: add ``miniPreview``, a base64 JPEG of about 500 bytes.
    :param faces: add ``faces``, frontal faces best first, each ``{"x", "y", "width",
        "height", "score"}`` in displayed pixels.
    :param limits: resource limits, as for :func:`process`.
    :raises PicsmithError: when the data is not an image picsmith reads.

    Example::

        meta = picsmith.metadata(data, colors=True)
        meta["width"], meta["exif"].get("Model"), meta["dominantColor"]
    """
    return json.loads(
        _picsmith.metadata_json(
            data,
            colors=colors,
            hashes=hashes,
            mini_preview=mini_preview,
            faces=faces,
            limits=limits,
        )
    )


def parameters() -> list[dict[str, Any]]:
    """Every parameter of the transform language, from the core's registry.

    Each entry has ``name``, ``aliases``, ``kind`` (bool, int, float, choice, color, crop,
    quality, json or text), ``accepted`` (what values it takes, in words), ``default`` (as
    written in a query, or None), ``doc``, ``implemented`` and ``extension`` (not part of
    the Imagizer language).

    Example::

        implemented = [p["name"] for p in picsmith.parameters() if p["implemented"]]
    """
    return _picsmith.parameters()


def features() -> list[str]:
    """The optional features compiled into this build: ``"vips"`` when HEIF/HEIC, AVIF,
    JPEG XL and TIFF input and JPEG XL output go through libvips (without it those inputs
    raise :class:`UnsupportedFormat`).

    Example::

        if "vips" in picsmith.features():
            image = picsmith.process(heic_bytes, "width=400&format=webp")
    """
    return _picsmith.features()


def schema_json() -> str:
    """A JSON Schema (draft 2020-12) of the query parameters, as a JSON string.

    Example::

        schema = json.loads(picsmith.schema_json())
        schema["properties"]["width"]["maximum"]   # 16384
    """
    return _picsmith.schema_json()


def sign_path(secret: str | bytes, path_and_query: str, expires_at: int | None = None) -> str:
    """``path_and_query`` with ``expires`` (Unix seconds, when given) and an HMAC-SHA256
    ``signature`` appended, for private images and signed transform URLs.

    Example::

        url = picsmith.sign_path(secret, "/cat.jpg?width=300", expires_at=int(time.time()) + 3600)
        # "/cat.jpg?width=300&expires=1767225600&signature=Jx2…"
    """
    return _picsmith.sign_path(_secret_bytes(secret), path_and_query, expires_at)


def check_allowed_parameters(query: str, allowed: Iterable[str]) -> None:
    """Checks a transform query against the parameters a deployment allows, so that a public
    server cannot be made to burn CPU. An alias (``w``) or a base64 form (``width64``) counts
    as its parameter.

    :raises Forbidden: naming the first key of ``query`` that ``allowed`` does not permit.

    Example::

        picsmith.check_allowed_parameters("w=300&format=webp", ["width", "format"])
    """
    _picsmith.check_allowed_parameters(query, list(allowed))


def verify_signed_path(secret: str | bytes, path_and_query: str, now: int | None = None) -> str:
    """The path and query of a :func:`sign_path` URL without ``expires`` and ``signature``.

    :raises Forbidden: when the signature is missing, wrong or expired at ``now`` (Unix
        seconds; the current time when omitted).

    Example::

        query = picsmith.verify_signed_path(secret, request_path_and_query)
    """
    if now is None:
        import time

        now = int(time.time())
    return _picsmith.verify_signed_path(_secret_bytes(secret), path_and_query, now)


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else bytes(secret)

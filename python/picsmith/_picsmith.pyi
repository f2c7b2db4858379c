"""Type stubs of the compiled extension module ``picsmith._picsmith``."""

import os
from pathlib import Path
from typing import Any, final

__version__: str

@final
class Limits:
    """Resource limits, checked before the work they guard. Unset arguments take
    picsmith's defaults (64 MiB input, 100 megapixel source, 16384 pixels a side)."""

    def __init__(
        self,
        *,
        max_input_bytes: int | None = None,
        max_source_pixels: int | None = None,
        max_output_side: int | None = None,
        max_animation_frames: int | None = None,
        max_animation_pixels: int | None = None,
    ) -> None: ...
    @property
    def max_input_bytes(self) -> int: ...
    @property
    def max_source_pixels(self) -> int: ...
    @property
    def max_output_side(self) -> int: ...
    @property
    def max_animation_frames(self) -> int: ...
    @property
    def max_animation_pixels(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...

@final
class RecognitionModels:
    """The model files of ``recognition=nsfw|labels``. An unset path falls back to its
    environment variable (``PICSMITH_NSFW_MODEL``, ``PICSMITH_LABELS_MODEL``,
    ``PICSMITH_LABELS_NAMES``); the names file defaults to the labels model's path with the
    extension ``.txt``."""

    def __init__(
        self,
        *,
        nsfw: str | os.PathLike[str] | None = None,
        labels: str | os.PathLike[str] | None = None,
        labels_names: str | os.PathLike[str] | None = None,
    ) -> None: ...
    @property
    def nsfw(self) -> Path | None:
        """Open NSFW (``open-nsfw.onnx``; ``make models`` fetches it)."""
    @property
    def labels(self) -> Path | None:
        """The ONNX image classifier of ``recognition=labels``."""
    @property
    def labels_names(self) -> Path | None:
        """The labels model's class names, one per line in output order."""
    def __eq__(self, other: object) -> bool: ...

@final
class Warning:
    """Something the caller should know but that did not stop the work."""

    def __init__(self, parameter: str, message: str) -> None: ...
    @property
    def parameter(self) -> str:
        """The parameter as written in the query, or its canonical name."""
    @property
    def message(self) -> str: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Image:
    """An encoded image and what is needed to serve it."""

    @property
    def data(self) -> bytes: ...
    @property
    def format(self) -> str:
        """Short name: "jpeg", "png", "webp", "avif", "gif", "jxl", "mp4" or "json"."""
    @property
    def mime(self) -> str: ...
    @property
    def extension(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def warnings(self) -> list[Warning]: ...
    @property
    def vary_accept(self) -> bool:
        """The format was chosen from the Accept header: a response must say Vary: Accept."""
    @property
    def quality(self) -> int | None:
        """The lossy encoder's quality (quality=auto: the one chosen); None for PNG and GIF."""
    def __bytes__(self) -> bytes: ...
    def __len__(self) -> int: ...

@final
class Pipeline:
    """A transform parsed once and reusable for many images, from many threads."""

    @staticmethod
    def from_query(query: str, *, strict: bool = False) -> Pipeline: ...
    @property
    def warnings(self) -> list[Warning]: ...
    def run(
        self,
        data: bytes,
        *,
        accept: str | None = None,
        limits: Limits | None = None,
        assets: str | os.PathLike[str] | None = None,
        models: RecognitionModels | None = None,
    ) -> Image: ...

def process(
    data: bytes,
    query: str = "",
    *,
    accept: str | None = None,
    limits: Limits | None = None,
    strict: bool = False,
    assets: str | os.PathLike[str] | None = None,
    models: RecognitionModels | None = None,
) -> Image: ...
def metadata_json(
    data: bytes,
    *,
    colors: bool = False,
    hashes: bool = False,
    mini_preview: bool = False,
    faces: bool = False,
    limits: Limits | None = None,
) -> str: ...
def parameters() -> list[dict[str, Any]]: ...
def schema_json() -> str: ...
def features() -> list[str]: ...
def sign_path(secret: bytes, path_and_query: str, expires_at: int | None = None) -> str: ...
def verify_signed_path(secret: bytes, path_and_query: str, now: int) -> str: ...
def check_allowed_parameters(query: str, allowed: list[str]) -> None: ...

class PicsmithError(Exception):
    """Base class of every picsmith error."""

    code: str
    """Stable snake_case code, e.g. "invalid_parameter"."""
    http_status: int
    """The HTTP status a server answers with."""
    parameter: str | None
    """Canonical name of the parameter the error concerns, if any."""
    message: str

class InvalidParameter(PicsmithError, ValueError):
    """code "invalid_parameter", HTTP 400."""

class LimitExceeded(PicsmithError):
    """code "limit_exceeded", HTTP 413."""

class UnsupportedFormat(PicsmithError):
    """code "unsupported_format", HTTP 415."""

class InvalidImage(PicsmithError):
    """code "invalid_image", HTTP 422."""

class Unsupported(PicsmithError):
    """code "unsupported", HTTP 501."""

class InternalError(PicsmithError):
    """code "internal", HTTP 500."""

class NotFound(PicsmithError):
    """code "not_found", HTTP 404."""

class Forbidden(PicsmithError):
    """code "forbidden", HTTP 403."""

class UpstreamError(PicsmithError):
    """code "upstream_error", HTTP 502."""

class StorageUnavailable(PicsmithError):
    """code "storage_unavailable", HTTP 503."""

class _Library:
    """Native half of picsmith.Library: options and results cross as JSON."""

    def __init__(self, settings_json: str | None = None, limits: Limits | None = None) -> None: ...
    def upload_json(self, data: bytes | None, text: str | None, options_json: str | None = None) -> str: ...
    def get_json(self, id: str) -> str: ...
    def get_by_path_json(self, path: str) -> str: ...
    def read(self, reference: str) -> bytes: ...
    def render(
        self, reference: str, query: str, accept: str | None = None, signed: bool = False
    ) -> tuple[Image, bool]: ...
    def delete_json(self, ids: list[str]) -> str: ...
    def add_tags_json(self, ids: list[str], tags: list[str]) -> str: ...
    def remove_tags_json(self, ids: list[str], tags: list[str]) -> str: ...
    def list_json(self, query_json: str | None = None) -> str: ...
    def usage_json(self, account: str | None = None) -> str: ...
    def sweep_expired(self) -> list[str]: ...
    def gc_json(self, grace_seconds: float) -> str: ...
    def verify(self) -> list[str]: ...
    def fetch(self, url: str) -> bytes: ...
    def create_key(self, account: str, label: str) -> str: ...
    def check_key(self, key: str) -> str | None: ...
    def revoke_key(self, key: str) -> bool: ...

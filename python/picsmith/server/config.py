"""The server's settings: one table, read from a TOML file and then the environment.

Every setting is declared once in :data:`SETTINGS` (name, type, default, one line of doc).
Its key in the TOML file is its name; its environment variable is ``PICSMITH_`` + the name in
capitals. Later sources win: defaults, then the file, then the environment, then the
command line (``--host``, ``--port``, ``--data``). The README's settings table is rendered
from the same list (:func:`settings_table`), and a test keeps the two equal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import picsmith

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]


class ConfigError(ValueError):
    """A setting with a wrong type, an unknown key, or a file that cannot be read."""


@dataclass(frozen=True)
class Setting:
    """One setting: its name (TOML key), type, default and what it does."""

    name: str
    kind: type
    default: Any
    doc: str

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return "PICSMITH_" + self.name.upper()


# The embedded default: a local data folder with SQLite, served on 127.0.0.1:8080.
SETTINGS: tuple[Setting, ...] = (
    Setting("host", str, "127.0.0.1", "address to listen on"),
    Setting("port", int, 8080,
            "port of the transform server (and of uploads unless `upload_port`)"),
    Setting(
        "data",
        str,
        "./picsmith-data",
        "data folder of the embedded default: `file://DATA`, `sqlite://DATA/catalog.db`, "
        "`DATA/cache`, and `DATA/originals/` for files placed by hand",
    ),
    Setting("storage", str, None, "blob store URL (`file://DIR`, `s3://BUCKET?endpoint=...`); "
            "overrides `data`"),
    Setting("catalog", str, None, "catalog URL (`sqlite://FILE`, `postgres://USER@HOST:PORT/DB`); "
            "overrides `data`"),
    Setting("cache", str, None, "folder of the derived-image cache, or `off` "
            "(default `DATA/cache`)"),
    Setting("cache_max_bytes", int, None, "size of the derived-image cache (engine default 1 GiB)"),
    Setting("quota_bytes", int, None, "storage per account (engine default 10 GiB)"),
    Setting("allowed_hosts", list, None, "hosts URL uploads and origins may fetch from "
            "(`*.example.com`); default any public host"),
    Setting("private_hosts", list, None, "hosts that may resolve to private addresses "
            "(an intranet origin)"),
    Setting("allow_private_addresses", bool, False,
            "let URL uploads reach loopback and private addresses"),
    Setting("origin", str, None, "default origin: base URL of the paths the library does not hold"),
    Setting("dynamic_origins", list, None, "origin parameters requests may use (`source_url`, "
            "`origin`, `host_header`, `resolve`, `bucket`, `region`, or `all`); default none"),
    Setting("allowed_buckets", list, None, "buckets `bucket=` may read"),
    Setting("bucket_endpoint", str, None, "S3-compatible endpoint of `bucket=` reads "
            "(default AWS)"),
    Setting("bucket_region", str, None, "region of `bucket=` reads when the query names none"),
    Setting("max_body_bytes", int, 100 * 1024 * 1024,
            "largest request body; refused with 413 as soon as it is crossed"),
    Setting("max_input_bytes", int, None, "largest image the engine reads (engine default 64 MiB)"),
    Setting("max_source_pixels", int, None, "largest source image in pixels "
            "(engine default 100 megapixels)"),
    Setting("max_output_side", int, None, "longest output side (engine default 16384)"),
    Setting("request_timeout", float, 60.0, "seconds a request may take before it is answered "
            "with 504 `timeout`"),
    Setting("uploads", bool, True, "serve the upload and storage APIs at all"),
    Setting("upload_port", int, None, "serve the upload and storage APIs on this port only "
            "(Imagizer uses 17007), not on `port`"),
    Setting("api_keys", list, [], "keys accepted besides those in the catalog "
            "(`picsmith keys create`), for the account `default`"),
    Setting("signing_secret", str, None, "secret of signed transform URLs "
            "(`expires` and `signature` query parameters)"),
    Setting("require_signed_urls", bool, False, "serve transforms only through signed URLs"),
    Setting("allowed_parameters", list, None, "transform parameters a request may use "
            "(names or aliases); default all"),
    Setting("cors_origins", list, [],
            "origins allowed to call the server from a browser (`*` for any)"),
    Setting("public_url", str, None, "base of the URLs the upload APIs answer "
            "(`https://img.example.com`); default the request's own scheme and host"),
    Setting("cache_control", str, "public, max-age=31536000, immutable",
            "Cache-Control of transformed images (signed URLs get `private`)"),
    Setting("access_log", bool, True,
            "write one JSON line per request to the `picsmith.access` logger"),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}

# Settings handed to picsmith.Library as they are (None leaves the engine's default).
LIBRARY_SETTINGS = (
    "cache_max_bytes", "quota_bytes", "allowed_hosts", "private_hosts", "origin",
    "dynamic_origins", "allowed_buckets", "bucket_endpoint", "bucket_region",
)


@dataclass(frozen=True)
class ServerConfig:
    """The resolved settings of one server; see :data:`SETTINGS` for each field."""

    host: str = "127.0.0.1"
    port: int = 8080
    data: str = "./picsmith-data"
    storage: str | None = None
    catalog: str | None = None
    cache: str | None = None
    cache_max_bytes: int | None = None
    quota_bytes: int | None = None
    allowed_hosts: list[str] | None = None
    private_hosts: list[str] | None = None
    allow_private_addresses: bool = False
    origin: str | None = None
    dynamic_origins: list[str] | None = None
    allowed_buckets: list[str] | None = None
    bucket_endpoint: str | None = None
    bucket_region: str | None = None
    max_body_bytes: int = 100 * 1024 * 1024
    max_input_bytes: int | None = None
    max_source_pixels: int | None = None
    max_output_side: int | None = None
    request_timeout: float = 60.0
    uploads: bool = True
    upload_port: int | None = None
    api_keys: list[str] = field(default_factory=list)
    signing_secret: str | None = None
    require_signed_urls: bool = False
    allowed_parameters: list[str] | None = None
    cors_origins: list[str] = field(default_factory=list)
    public_url: str | None = None
    cache_control: str = "public, max-age=31536000, immutable"
    access_log: bool = True

    def __post_init__(self) -> None:
        if self.require_signed_urls and not self.signing_secret:
            raise ConfigError("require_signed_urls needs a signing_secret")
        if self.upload_port is not None and self.upload_port == self.port:
            raise ConfigError("upload_port must differ from port (leave it unset to serve "
                              "uploads on port)")
        if self.max_body_bytes <= 0 or self.request_timeout <= 0:
            raise ConfigError("max_body_bytes and request_timeout must be positive")

    def with_overrides(self, **given: Any) -> ServerConfig:
        """A copy with the given settings replaced; None values are left as they are."""
        return replace(self, **{k: v for k, v in given.items() if v is not None})

    @property
    def embedded_default(self) -> bool:
        """True when storage and catalog both come from the local data folder."""
        return self.storage is None and self.catalog is None

    def library_settings(self) -> dict[str, Any]:
        """Keyword arguments of :class:`picsmith.Library` for this configuration."""
        data = Path(self.data)
        passed_through = {name: getattr(self, name) for name in LIBRARY_SETTINGS}
        return {
            **passed_through,
            "storage": self.storage or f"file://{data.resolve()}",
            "catalog": self.catalog or f"sqlite://{(data / 'catalog.db').resolve()}",
            "cache": self.cache or str((data / "cache").resolve()),
            "allow_private_addresses": self.allow_private_addresses or None,
            "limits": self.limits(),
        }

    def limits(self) -> picsmith.Limits:
        """The engine limits these settings ask for (unset ones keep the engine's defaults)."""
        return picsmith.Limits(
            max_input_bytes=self.max_input_bytes,
            max_source_pixels=self.max_source_pixels,
            max_output_side=self.max_output_side,
        )


def _convert(setting: Setting, value: Any, source: str) -> Any:
    """``value`` as the setting's type; strings (from the environment) are parsed."""
    where = f"{setting.name} (from {source})"
    if setting.kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off", ""):
            return False
    elif setting.kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                pass
    elif setting.kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif setting.kind is list:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
    elif setting.kind is str and isinstance(value, str):
        return value
    raise ConfigError(f"{where}: expected {setting.kind.__name__}, got {value!r}")


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServerConfig:
    """The settings from the TOML file at ``path`` (if any), then the environment.

    :raises ConfigError: an unknown key, a value of the wrong type, an unreadable file.
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as file:
                document = tomllib.load(file)
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ConfigError(f"{path}: {err}") from err
        for key, value in document.items():
            if key not in _BY_NAME:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[key] = _convert(_BY_NAME[key], value, str(path))
    environ = os.environ if environ is None else environ
    for setting in SETTINGS:
        if setting.env in environ:
            values[setting.name] = _convert(setting, environ[setting.env], setting.env)
    return ServerConfig(**values)


def settings_table() -> str:
    """The settings as a Markdown table (setting, environment variable, default, meaning)."""
    rows = ["| setting | environment | default | meaning |", "| --- | --- | --- | --- |"]
    for setting in SETTINGS:
        if setting.default is None:
            default = "—"
        elif setting.kind is bool:
            default = f"`{str(setting.default).lower()}`"
        elif setting.kind is list:
            default = "`[]`" if not setting.default else f"`{setting.default}`"
        else:
            default = f"`{setting.default}`"
        rows.append(f"| `{setting.name}` | `{setting.env}` | {default} | {setting.doc} |")
    return "\n".join(rows) + "\n"

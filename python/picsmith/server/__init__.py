"""The picsmith server: one HTTP server speaking the APIs of four image services.

- **Imagizer**: ``GET /<path or id>?<transform>`` (and ``HEAD``), ``POST /<path>`` uploads,
  ``POST /api/v1/images`` and ``DELETE /<image path>`` with ``Authorization: Bearer <key>``.
- **ImageResizer.io v1**: ``/v1/images`` (create from a URL or a body), ``/v1/images/{ids}``,
  ``.../delete``, ``.../add_tags``, ``.../remove_tags``, ``/v1/account``; ``key`` in the query.
- **ImageKit**: ``POST /api/v1/files/upload``; HTTP Basic with the key as user name.
- **Chevereto**: ``POST``/``GET /api/1/upload``; ``X-API-Key`` or ``key``.
- ``/health``, ``/metrics`` (Prometheus), ``/openapi.json``.

Images, records and keys live in a :class:`picsmith.Library`; the server only translates HTTP
to Library calls and the Library's errors to each API's error envelope. Settings come from a
TOML file and ``PICSMITH_*`` environment variables (:mod:`picsmith.server.config`); the
embedded default keeps everything under ``./picsmith-data`` (SQLite catalog) and serves
127.0.0.1:8080.

Run it with ``picsmith serve`` or ``python -m picsmith.server``::

    picsmith serve --port 8080 --config picsmith.toml
    curl -o cat.webp 'http://127.0.0.1:8080/cat.jpg?width=400&format=webp'
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from .app import create_app, open_library, serve
from .config import ConfigError, ServerConfig, load_config
from .imagizer import CACHE_HEADER, WARNINGS_HEADER

DEFAULT_HOST = ServerConfig.host
DEFAULT_PORT = ServerConfig.port
DEFAULT_DATA = ServerConfig.data
DATA_ENV = "PICSMITH_DATA"


def data_folder(data: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``data`` if given, else ``$PICSMITH_DATA``, else ``./picsmith-data``."""
    return Path(data if data is not None else os.environ.get(DATA_ENV) or DEFAULT_DATA)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``picsmith serve`` (and of ``picsmith keys``: ``--config``, ``--data``)."""
    parser.add_argument("--config", default=None, help="TOML settings file (see the README)")
    parser.add_argument(
        "--data", default=None,
        help=f"data folder of the embedded default (default ${DATA_ENV}, else {DEFAULT_DATA})",
    )


def add_listen_arguments(parser: argparse.ArgumentParser) -> None:
    """``--host`` and ``--port``."""
    parser.add_argument("--host", default=None, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=None, help=f"port (default {DEFAULT_PORT})")


def config_from_arguments(args: argparse.Namespace) -> ServerConfig:
    """The settings: the ``--config`` file, then the environment, then the command line."""
    return load_config(args.config).with_overrides(
        host=getattr(args, "host", None), port=getattr(args, "port", None), data=args.data
    )


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m picsmith.server [--host H] [--port P] [--config FILE] [--data DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m picsmith.server", description=__doc__.splitlines()[0]
    )
    add_listen_arguments(parser)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_arguments(args)
    except ConfigError as err:
        parser.error(str(err))
    serve(config)


__all__: list[str] = [
    "CACHE_HEADER",
    "WARNINGS_HEADER",
    "ConfigError",
    "ServerConfig",
    "create_app",
    "data_folder",
    "load_config",
    "main",
    "open_library",
    "serve",
]

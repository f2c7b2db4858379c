"""A minimal reference HTTP server: ``GET /<path>?<query>`` transforms an original.

Originals live in ``<data>/originals`` (``<data>`` is ``--data``, else ``$PICSMITH_DATA``,
else ``./picsmith-data``; the folder is created when missing). The query is the picsmith
transform, the ``Accept`` header feeds ``format=auto``, and the work runs in a thread pool
with the GIL released, so requests are served in parallel. Watermark and layer locations
(``mark=/logo.png``) name other originals. ``recognition=nsfw|labels`` reads its models from
``$PICSMITH_NSFW_MODEL``, ``$PICSMITH_LABELS_MODEL`` and ``$PICSMITH_LABELS_NAMES`` (``make
serve`` fetches the NSFW model and sets the first).

Errors answer with the status picsmith assigns to them and a JSON body
``{"error": {"code": ..., "message": ..., "parameter": ...}}``; the server itself only adds
404 (``not_found``, no such original) and 405 (``method_not_allowed``).

Run it with ``picsmith serve`` or ``python -m picsmith.server``::

    python -m picsmith.server --port 8080 --data ./picsmith-data
    curl -o cat.webp 'http://127.0.0.1:8080/cat.jpg?width=400&format=webp'
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import picsmith

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DATA = "./picsmith-data"
DATA_ENV = "PICSMITH_DATA"
WARNINGS_HEADER = "X-Picsmith-Warnings"

# Reason codes for the two statuses the server decides itself; every other error status
# and code comes from picsmith.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def data_folder(data: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``data`` if given, else ``$PICSMITH_DATA``, else ``./picsmith-data``."""
    return Path(data if data is not None else os.environ.get(DATA_ENV) or DEFAULT_DATA)


def error_response(
    status: int,
    code: str,
    message: str,
    parameter: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "parameter": parameter}}
    return JSONResponse(body, status_code=status, headers=headers)


def _header_text(text: str) -> str:
    # Warning messages quote query keys verbatim; escaping everything outside printable ASCII
    # keeps a crafted key from splitting the header or failing the latin-1 encoding.
    return "".join(c if " " <= c <= "~" else json.dumps(c)[1:-1] for c in text)


def _locate(root: Path, relative: str) -> Path | None:
    """The original at ``relative`` under ``root``, or None when missing or outside ``root``.

    Resolving first means ``..`` segments, absolute paths and symlinks pointing out of the
    folder are all judged by where they really lead.
    """
    if not relative or "\x00" in relative:
        return None
    try:
        candidate = (root / relative).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def create_app(
    data: str | os.PathLike[str] | None = None,
    *,
    limits: picsmith.Limits | None = None,
    models: picsmith.RecognitionModels | None = None,
) -> Starlette:
    """The ASGI application serving ``<data>/originals``, creating that folder if needed.

    ``models`` are the files of ``recognition=nsfw|labels``; without them picsmith reads
    ``$PICSMITH_NSFW_MODEL``, ``$PICSMITH_LABELS_MODEL`` and ``$PICSMITH_LABELS_NAMES``."""
    originals = data_folder(data) / "originals"
    originals.mkdir(parents=True, exist_ok=True)
    root = originals.resolve()

    def render(path: Path, query: str, accept: str | None) -> picsmith.Image:
        # The originals double as the watermark and layer images: mark=/logo.png is the
        # stored original /logo.png.
        return picsmith.process(
            path.read_bytes(), query, accept=accept, limits=limits, assets=root, models=models
        )

    async def transform(request: Request) -> Response:
        relative = request.path_params["path"]
        path = _locate(root, relative)
        if path is None:
            return error_response(404, "not_found", f"no original at /{relative}")
        try:
            image = await run_in_threadpool(
                render, path, request.url.query, request.headers.get("accept")
            )
        except picsmith.PicsmithError as err:
            return error_response(err.http_status, err.code, err.message, err.parameter)
        except FileNotFoundError:
            # Removed between the lookup and the read.
            return error_response(404, "not_found", f"no original at /{relative}")
        headers = {}
        if image.vary_accept:
            headers["Vary"] = "Accept"
        if image.warnings:
            headers[WARNINGS_HEADER] = _header_text("; ".join(w.message for w in image.warnings))
        return Response(image.data, media_type=image.mime, headers=headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, exc.detail, headers=exc.headers)

    app = Starlette(
        routes=[Route("/{path:path}", transform, methods=["GET", "HEAD"])],
        exception_handlers={HTTPException: http_error},
    )
    app.state.originals = root
    return app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--data",
        default=None,
        help=f"data folder holding originals/ (default ${DATA_ENV}, else {DEFAULT_DATA})",
    )


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, data: str | None = None) -> None:
    """Runs the server on uvicorn until interrupted."""
    import uvicorn

    app = create_app(data)
    print(
        f"picsmith {picsmith.__version__}: serving {app.state.originals} on http://{host}:{port}/"
    )
    uvicorn.run(app, host=host, port=port)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m picsmith.server", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.data)


__all__: list[str] = ["create_app", "data_folder", "main", "serve"]

if __name__ == "__main__":
    main()

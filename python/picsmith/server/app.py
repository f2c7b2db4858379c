"""The Starlette application and the uvicorn runner."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

import picsmith

from . import chevereto, imagekit, imageresizer, imagizer, openapi
from .common import Problem, Services
from .config import ServerConfig, load_config
from .observe import Metrics, Observe

log = logging.getLogger("picsmith.server")


def open_library(config: ServerConfig, limits: picsmith.Limits | None = None) -> picsmith.Library:
    """The Library the configuration describes (``limits`` replaces the configured ones).

    With the embedded default, the data folder and its ``originals/`` (where files placed by
    hand are served from) are created.
    """
    settings = config.library_settings()
    if limits is not None:
        settings["limits"] = limits
    if config.storage is None:
        (Path(config.data) / "originals").mkdir(parents=True, exist_ok=True)
    return picsmith.Library(**settings)


async def health(request: Request) -> Response:
    """``GET /health``: 200 when the catalog answers, 503 when it does not."""
    services: Services = request.app.state.services
    try:
        await services.call(services.library.list, limit=1)
    except picsmith.PicsmithError as err:
        return JSONResponse({"status": "unavailable", "error": err.message}, status_code=503)
    return JSONResponse({"status": "ok", "version": picsmith.__version__})


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus text exposition."""
    text = request.app.state.metrics.exposition()
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


async def openapi_json(request: Request) -> Response:
    """``GET /openapi.json``."""
    return JSONResponse(request.app.state.openapi)


async def http_error(request: Request, exc: Exception) -> Response:
    """Errors Starlette raises before a handler runs (405): Imagizer's envelope."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    response = imagizer.render_problem(Problem(exc.status_code, code, exc.detail))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def create_app(
    data: str | os.PathLike[str] | None = None,
    *,
    limits: picsmith.Limits | None = None,
    config: ServerConfig | None = None,
    library: picsmith.Library | None = None,
    metrics_registry: Metrics | None = None,
    listener: str = "main",
) -> Starlette:
    """The ASGI application of every dialect.

    :param data: the data folder of the embedded default (overrides the configuration).
    :param config: the settings; default :func:`load_config` (the environment).
    :param library: a Library to share (two listeners of one server share one).
    :param listener: ``"main"`` or ``"uploads"``: the second is the ``upload_port`` listener;
        the upload and storage APIs answer only where the configuration puts them.
    """
    config = config or load_config()
    if data is not None:
        config = config.with_overrides(data=os.fspath(data))
    if library is None:
        library = open_library(config, limits)
    metrics_registry = metrics_registry or Metrics()
    services = Services(config=config, library=library)

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        *imagizer.storage_routes(),
        *imageresizer.routes(),
        *imagekit.routes(),
        *chevereto.routes(),
        *imagizer.path_routes(),
    ]
    middleware = [
        Middleware(Observe, metrics=metrics_registry, max_body_bytes=config.max_body_bytes,
                   access_log_enabled=config.access_log),
    ]
    if config.cors_origins:
        middleware.append(Middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "If-None-Match"],
            expose_headers=["ETag", imagizer.WARNINGS_HEADER, imagizer.CACHE_HEADER],
        ))
    # Images are excluded by Starlette's defaults; JSON and text are compressed.
    middleware.append(Middleware(GZipMiddleware, minimum_size=500))

    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={HTTPException: http_error})
    app.state.services = services
    app.state.metrics = metrics_registry
    app.state.openapi = openapi.document()
    app.state.serves_uploads = config.uploads and (
        listener == "uploads" if config.upload_port else listener == "main"
    )
    app.state.originals = (Path(config.data) / "originals").resolve()
    return app


def serve(config: ServerConfig) -> None:
    """Runs the server on uvicorn until interrupted (two listeners with ``upload_port``)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    first_start = config.embedded_default and not (Path(config.data) / "catalog.db").exists()
    library = open_library(config)
    if first_start:
        # Only the key's hash is kept, so this is the one time it can be shown.
        key = library.create_key("default", "created on first start")
        print("picsmith: first start of the embedded default; a new API key (shown only now):")
        print(key, flush=True)
    shared = Metrics()
    listeners = [("main", config.port)]
    if config.uploads and config.upload_port:
        listeners.append(("uploads", config.upload_port))
    servers = []
    for listener, port in listeners:
        app = create_app(config=config, library=library, metrics_registry=shared,
                         listener=listener)
        servers.append(uvicorn.Server(uvicorn.Config(
            app, host=config.host, port=port, access_log=False, log_level="info",
        )))
        what = "transforms and uploads" if app.state.serves_uploads else "transforms"
        print(f"picsmith {picsmith.__version__}: {what} on http://{config.host}:{port}/",
              flush=True)
    asyncio.run(_serve_all(servers))


async def _serve_all(servers: list[uvicorn.Server]) -> None:
    # uvicorn's signal handler stops the server that installed it last; stopping one stops all.
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)

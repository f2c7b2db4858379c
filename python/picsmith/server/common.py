"""What every dialect shares: errors, the request body, API keys, engine calls, image answers.

Each dialect renders a :class:`Problem` in its own envelope, in one function; everything that
can go wrong in a request becomes a Problem here (:func:`problem_of`), so no dialect maps an
exception type of its own.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

import picsmith

from .config import ServerConfig

log = logging.getLogger("picsmith.server")

T = TypeVar("T")

# The few statuses the server decides itself, with their codes. Everything about images and
# storage keeps the status and code the engine gave it.
UNAUTHORIZED = (401, "unauthorized")
FORBIDDEN = (403, "forbidden")
INVALID_PARAMETER = (400, "invalid_parameter")
NOT_FOUND = (404, "not_found")
TOO_LARGE = (413, "limit_exceeded")
TIMEOUT = (504, "timeout")
INTERNAL = (500, "internal")


@dataclass(frozen=True)
class Problem:
    """An error as every dialect needs it: status, stable code, message, parameter."""

    status: int
    code: str
    message: str
    parameter: str | None = None
    headers: dict[str, str] | None = None


class ApiError(Exception):
    """An error the server itself decides (authentication, a missing field, the body size)."""

    def __init__(
        self,
        kind: tuple[int, str],
        message: str,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.problem = Problem(kind[0], kind[1], message, parameter, headers)


class BodyTooLarge(ApiError):
    """The request body crossed ``max_body_bytes`` (raised while it streams in)."""

    def __init__(self, limit: int) -> None:
        super().__init__(TOO_LARGE, f"the request body is larger than {limit} bytes")


def problem_of(error: BaseException) -> Problem:
    """The Problem an exception stands for; unexpected ones are logged and become 500."""
    if isinstance(error, picsmith.PicsmithError):
        return Problem(error.http_status, error.code, error.message, error.parameter)
    if isinstance(error, ApiError):
        return error.problem
    if isinstance(error, HTTPException):
        # Starlette's form parser: a malformed multipart body or one with too many parts.
        code = {405: "method_not_allowed", 413: "limit_exceeded"}.get(
            error.status_code, "invalid_parameter" if error.status_code == 400 else "http_error"
        )
        return Problem(error.status_code, code, str(error.detail), None, error.headers)
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return Problem(*TIMEOUT, "the request took longer than the server allows")
    log.exception("unexpected error", exc_info=error)
    return Problem(*INTERNAL, "internal error: please report it")


@dataclass
class Services:
    """What the handlers work with: the configuration and the one Library of the process."""

    config: ServerConfig
    library: picsmith.Library

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Runs an engine call (which releases the GIL) in the thread pool."""
        return await run_in_threadpool(function, *args, **kwargs)

    async def account_for(self, key: str | None, scheme: str = "Bearer") -> str:
        """The account an API key belongs to.

        :raises ApiError: 401 when no key was sent, 403 when it is not a valid key.
        """
        if not key:
            raise ApiError(
                UNAUTHORIZED,
                "an API key is required",
                headers={"WWW-Authenticate": f'{scheme} realm="picsmith"'},
            )
        # Configured keys are compared by digest, all of them, so the time taken says nothing
        # about how much of a key matched.
        digest = hashlib.sha256(key.encode()).digest()
        matched = False
        for configured in self.config.api_keys:
            matched |= hmac.compare_digest(digest, hashlib.sha256(configured.encode()).digest())
        if matched:
            return "default"
        account = await self.call(self.library.check_key, key)
        if account is None:
            raise ApiError(FORBIDDEN, "the API key is not valid")
        return account

    async def owned(self, ids: list[str], account: str) -> list[dict[str, Any]]:
        """The records of ``ids`` if all belong to ``account``; another account's image is
        reported as missing, so ids cannot be probed."""
        if not ids:
            raise ApiError(INVALID_PARAMETER, "no image id given", "ids")
        if len(ids) > 20:
            raise ApiError(INVALID_PARAMETER, f"{len(ids)} ids given; at most 20 at once", "ids")
        records = []
        for image_id in ids:
            record = await self.call(self.library.get, image_id)
            if record.get("account") not in (None, account):
                raise ApiError(NOT_FOUND, f"no image '{image_id}'")
            records.append(record)
        return records


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(
    render_problem: Callable[[Problem], Response], dialect: str
) -> Callable[[Handler], Handler]:
    """Wraps a handler: notes its dialect for the logs, bounds its time, and answers every
    error through the dialect's ``render_problem``."""

    def wrap(handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            note(request, dialect=dialect)
            services: Services = request.app.state.services
            try:
                _refuse_declared_oversize(request, services.config.max_body_bytes)
                return await asyncio.wait_for(handler(request), services.config.request_timeout)
            except Exception as error:  # every error gets the dialect's envelope
                problem = problem_of(error)
                note(request, error=problem.code)
                response = render_problem(problem)
                response.headers["Cache-Control"] = "no-store"
                for name, value in (problem.headers or {}).items():
                    response.headers[name] = value
                return response

        run.__name__ = handler.__name__
        run.__doc__ = handler.__doc__
        return run

    return wrap


def _refuse_declared_oversize(request: Request, limit: int) -> None:
    # A body announced larger than the limit is refused before any of it is read; one that
    # streams in without a length is stopped when it crosses the limit (observe.Observe).
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)


def note(request: Request, **fields: Any) -> None:
    """Adds fields to the request's access-log line and metrics (see observe.py)."""
    request.scope.setdefault("picsmith", {}).update(fields)


def services_of(request: Request) -> Services:
    """The Services of the app serving ``request``."""
    return request.app.state.services


# ---------------------------------------------------------------- request bodies


async def read_body(request: Request) -> bytes:
    """The whole body; the size limit is enforced while it streams (observe.Observe)."""
    return await request.body()


async def read_form(request: Request) -> FormData:
    """The multipart or urlencoded form; an empty form for other bodies.

    Text fields may be as large as the body limit (a base64 image is a text field).
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return FormData()
    limit = services_of(request).config.max_body_bytes
    return await request.form(max_files=4, max_fields=200, max_part_size=limit)


async def file_of(value: UploadFile | str | None, name: str) -> bytes | str:
    """An uploaded part as bytes, or a text field (base64 or a URL) as it is.

    :raises ApiError: 400 when the field is missing or empty.
    """
    if isinstance(value, UploadFile):
        data = await value.read()
        if data:
            return data
    elif isinstance(value, str) and value.strip():
        return value.strip()
    raise ApiError(INVALID_PARAMETER, f"the field '{name}' is required", name)


def text_of(value: UploadFile | str | None) -> str | None:
    """A text field, or None when absent, empty or sent as a file."""
    if isinstance(value, str) and value != "":
        return value
    return None


def flag(value: str | None, name: str) -> bool | None:
    """A boolean field: true/false, 1/0, yes/no; None when absent."""
    if value is None or value == "":
        return None
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ApiError(INVALID_PARAMETER, f"'{name}' must be true or false, not '{value}'", name)


def split_list(value: str | None) -> list[str] | None:
    """A comma-separated list; None when absent."""
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def basic_auth_user(request: Request) -> str | None:
    """The user name of an HTTP Basic ``Authorization`` header (the password is not read)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(UNAUTHORIZED, "the Authorization header is not valid Basic credentials",
                       headers={"WWW-Authenticate": 'Basic realm="picsmith"'}) from None
    return decoded.partition(":")[0]


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def public_url(request: Request, path: str, query: str = "") -> str:
    """The absolute URL of a stored image's path, under ``public_url`` or the request's host."""
    base = services_of(request).config.public_url
    if base is None:
        base = f"{request.url.scheme}://{request.url.netloc}"
    return base.rstrip("/") + path + (f"?{query}" if query else "")


def uploads_refused(request: Request) -> None:
    """Raises when this listener does not serve the upload and storage APIs."""
    if not request.app.state.serves_uploads:
        config = services_of(request).config
        where = (
            f"uploads are served on port {config.upload_port}"
            if config.uploads and config.upload_port
            else "uploads are disabled on this server"
        )
        raise ApiError(FORBIDDEN, where)


# ---------------------------------------------------------------- transform queries


def query_pairs(query: str) -> list[tuple[str, str]]:
    """The pairs of a query string, blanks kept."""
    return parse_qsl(query, keep_blank_values=True)

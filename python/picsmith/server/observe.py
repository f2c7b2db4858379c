"""Request bookkeeping: the body size limit, Prometheus metrics and the access log.

One ASGI middleware (:class:`Observe`) wraps every request. It counts the body as it streams
in and raises :class:`~picsmith.server.common.BodyTooLarge` from ``receive`` as soon as the
limit is crossed (or at once, when ``Content-Length`` already says so), so the handler answers
413 in its dialect's envelope and nothing unbounded is buffered. It then records the status,
the time taken and the bytes both ways, and writes one JSON line to the ``picsmith.access``
logger. Handlers add fields with :func:`~picsmith.server.common.note` (dialect, cache hit,
error code).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import defaultdict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .common import BodyTooLarge

access_log = logging.getLogger("picsmith.access")

# Query parameters whose values stay out of the logs: ImageResizer's and Chevereto's API key.
_SECRET_QUERY = re.compile(r"(?:^|(?<=&))(key)=[^&]*", re.IGNORECASE)

# Upper bounds of the latency histogram, in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Counters and histograms of one process, in Prometheus' text exposition format.

    Everything is updated from the event loop thread, so no lock is needed.
    """

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.latency_counts: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.bytes_in: dict[str, int] = defaultdict(int)
        self.bytes_out: dict[str, int] = defaultdict(int)
        self.cache: dict[str, int] = defaultdict(int)

    def record(
        self, dialect: str, method: str, status: int, seconds: float, bytes_in: int,
        bytes_out: int, cache: str | None,
    ) -> None:
        """Adds one finished request."""
        self.requests[(dialect, method, str(status))] += 1
        counts = self.latency_counts.setdefault(dialect, [0] * (len(LATENCY_BUCKETS) + 1))
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        counts[-1] += 1  # +Inf
        self.latency_sum[dialect] += seconds
        self.bytes_in[dialect] += bytes_in
        self.bytes_out[dialect] += bytes_out
        if cache is not None:
            self.cache[cache] += 1

    def exposition(self) -> str:
        """The metrics as Prometheus text (version 0.0.4)."""
        lines = [
            "# HELP picsmith_http_requests_total Requests answered, by dialect, method and status.",
            "# TYPE picsmith_http_requests_total counter",
        ]
        for (dialect, method, status), n in sorted(self.requests.items()):
            lines.append(
                f'picsmith_http_requests_total{{dialect="{dialect}",method="{method}",'
                f'status="{status}"}} {n}'
            )
        lines += [
            "# HELP picsmith_http_request_duration_seconds Time from request to response end.",
            "# TYPE picsmith_http_request_duration_seconds histogram",
        ]
        for dialect, counts in sorted(self.latency_counts.items()):
            for bound, n in zip(LATENCY_BUCKETS, counts):
                lines.append(
                    f'picsmith_http_request_duration_seconds_bucket{{dialect="{dialect}",'
                    f'le="{bound}"}} {n}'
                )
            lines.append(
                f'picsmith_http_request_duration_seconds_bucket{{dialect="{dialect}",le="+Inf"}}'
                f" {counts[-1]}"
            )
            lines.append(
                f'picsmith_http_request_duration_seconds_sum{{dialect="{dialect}"}} '
                f"{self.latency_sum[dialect]:.6f}"
            )
            lines.append(
                f'picsmith_http_request_duration_seconds_count{{dialect="{dialect}"}} {counts[-1]}'
            )
        for name, what, values in (
            ("picsmith_http_request_bytes_total", "Request body bytes received.", self.bytes_in),
            ("picsmith_http_response_bytes_total", "Response body bytes sent.", self.bytes_out),
        ):
            lines += [f"# HELP {name} {what}", f"# TYPE {name} counter"]
            lines += [f'{name}{{dialect="{d}"}} {n}' for d, n in sorted(values.items())]
        lines += [
            "# HELP picsmith_render_cache_total Transforms answered from the derived cache "
            "(hit) or rendered (miss).",
            "# TYPE picsmith_render_cache_total counter",
        ]
        for result in ("hit", "miss"):
            lines.append(f'picsmith_render_cache_total{{result="{result}"}} {self.cache[result]}')
        return "\n".join(lines) + "\n"


class Observe:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int,
                 access_log_enabled: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        fields: dict[str, Any] = scope.setdefault("picsmith", {})
        status = 500
        received = 0
        sent = 0
        limit = self.max_body_bytes
        declared = _content_length(scope)

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, limited_receive, counting_send)
        finally:
            seconds = time.perf_counter() - started
            dialect = fields.get("dialect", "other")
            self.metrics.record(
                dialect, scope["method"], status, seconds, received, sent, fields.get("cache")
            )
            if self.access_log_enabled and access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                line = {
                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "client": client[0] if client else None,
                    "method": scope["method"],
                    "path": scope.get("path"),
                    "query": redact(scope.get("query_string", b"").decode("latin-1")),
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                    "bytes_in": received,
                    "bytes_out": sent,
                    **fields,
                }
                access_log.info(json.dumps(line, separators=(",", ":")))


def redact(query: str) -> str:
    """The query with the values of API key parameters replaced by ``***``."""
    return _SECRET_QUERY.sub(r"\1=***", query)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

"""Shared locations: the repository's test vectors and the image corpus beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors"
FIXTURES = REPO / "tests" / "fixtures"
CORPUS = Path(os.environ.get("PICSMITH_CORPUS") or REPO.parent / "shared" / "corpus")


def corpus_file(name: str) -> Path:
    """The corpus file ``name``; skips the calling test when the corpus is not present."""
    if not CORPUS.is_dir():
        pytest.skip(f"image corpus not found at {CORPUS} (set PICSMITH_CORPUS to its folder)")
    path = CORPUS / name
    if not path.is_file():
        pytest.fail(f"corpus file {name} is missing from {CORPUS}")
    return path


def corpus_bytes(name: str) -> bytes:
    return corpus_file(name).read_bytes()


def input_bytes(spec: str) -> bytes:
    """The bytes of ``corpus:NAME`` (skipping without the corpus) or ``fixture:NAME``."""
    kind, _, name = spec.partition(":")
    if kind == "corpus":
        return corpus_bytes(name)
    if kind == "fixture":
        return (FIXTURES / name).read_bytes()
    raise AssertionError(f"unknown input kind in {spec!r}: expected corpus:NAME or fixture:NAME")


def _s3_postgres_settings(tmp_path: Path) -> dict[str, str]:
    """A fresh bucket on the test S3 server and a fresh PostgreSQL database."""
    import secrets
    import subprocess
    from urllib.parse import urlsplit

    endpoint = os.environ.get("PICSMITH_TEST_S3_ENDPOINT")
    root = os.environ.get("PICSMITH_TEST_S3_ROOT")
    postgres = os.environ.get("PICSMITH_TEST_POSTGRES")
    if not (endpoint and root and postgres):
        pytest.skip("s3+postgres: run under tests/servers/with-servers.sh, as make test does")
    name = "py" + secrets.token_hex(6)
    (Path(root) / name).mkdir()
    url = urlsplit(postgres)
    subprocess.run(
        ["createdb", "-h", url.hostname or "", "-p", str(url.port), "-U", "postgres", name],
        check=True,
    )
    return {
        "storage": f"s3://{name}?endpoint={endpoint}&region=us-east-1&path_style=true",
        "catalog": f"{postgres}/{name}",
        "cache": str(tmp_path / "cache"),
    }


@pytest.fixture(params=["local+sqlite", "s3+postgres"])
def library_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Settings of a fresh, empty picsmith.Library on each backend combination."""
    if request.param == "s3+postgres":
        return _s3_postgres_settings(tmp_path)
    data = tmp_path / "data"
    return {
        "storage": f"file://{data}",
        "catalog": f"sqlite://{data}/catalog.db",
        "cache": str(tmp_path / "cache"),
    }


@pytest.fixture(scope="module", params=["local+sqlite", "s3+postgres"])
def module_library_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Like ``library_settings``, shared by the tests of one module (one server per backend)."""
    tmp_path = tmp_path_factory.mktemp(request.param.replace("+", "-"))
    if request.param == "s3+postgres":
        return _s3_postgres_settings(tmp_path)
    data = tmp_path / "data"
    return {
        "storage": f"file://{data}",
        "catalog": f"sqlite://{data}/catalog.db",
        "cache": str(tmp_path / "cache"),
    }


class RunningServer:
    """A uvicorn server on 127.0.0.1 in a background thread, serving one ASGI app."""

    def __init__(self, app: object) -> None:
        import socket
        import threading

        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

"""The server's HTTP behaviour and configuration, over real HTTP (local files + SQLite):
health, metrics, OpenAPI, gzip, the streamed body limit, timeouts, signed URLs, the parameter
allow-list, the upload port, CORS, settings and the command line."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import FIXTURES, REPO, RunningServer

import picsmith
from picsmith.server import ConfigError, ServerConfig, create_app, load_config
from picsmith.server.config import SETTINGS, settings_table

JPEG = (FIXTURES / "gray-320.jpg").read_bytes()
KEY = "http-test-key-0123456789"
SECRET = "signing-secret-for-tests"
PYTHON_PATH = str(REPO / "python") + os.pathsep + os.environ.get("PYTHONPATH", "")


def local_config(tmp_path: Path, **settings: object) -> ServerConfig:
    return ServerConfig(data=str(tmp_path / "data"), api_keys=[KEY], **settings)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server with a signing secret, a 64 KiB body limit and a short timeout."""
    config = local_config(
        tmp_path_factory.mktemp("http"), signing_secret=SECRET, max_body_bytes=64 * 1024,
        request_timeout=1.0, cors_origins=["https://app.example"],
    )
    with RunningServer(create_app(config=config)) as running:
        yield running


def upload(url: str, data: bytes = JPEG, **fields: str) -> dict:
    response = httpx.post(
        f"{url}/api/v1/files/upload", auth=(KEY, ""),
        files={"file": ("a.jpg", data)}, data={"fileName": "a.jpg", **fields},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_health_openapi_and_gzip(server: RunningServer) -> None:
    health = httpx.get(f"{server.url}/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": picsmith.__version__}

    document = httpx.get(f"{server.url}/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert document.headers["content-encoding"] == "gzip"
    paths = document.json()["paths"]
    for path in ("/{path}", "/api/v1/images", "/v1/images", "/v1/images/{ids}/add_tags",
                 "/v1/account", "/api/v1/files/upload", "/api/1/upload"):
        assert path in paths
    names = {p["name"] for p in paths["/{path}"]["get"]["parameters"]}
    assert {"width", "crop", "format", "quality"} <= names
    raw = httpx.get(f"{server.url}/openapi.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert len(gzip.compress(raw.content)) < len(raw.content)


def test_metrics_count_requests_latency_bytes_and_cache_hits(server: RunningServer) -> None:
    path = upload(server.url)["filePath"]
    for _ in range(2):
        assert httpx.get(f"{server.url}{path}?width=33").status_code == 200
    text = httpx.get(f"{server.url}/metrics").text

    def value(pattern: str) -> float:
        match = re.search(pattern + r" (\S+)$", text, re.MULTILINE)
        assert match, pattern
        return float(match.group(1))

    requests = r'picsmith_http_requests_total\{dialect="%s",method="%s",status="200"\}'
    assert value(requests % ("imagizer", "GET")) >= 2
    assert value(requests % ("imagekit", "POST")) >= 1
    assert value(r'picsmith_render_cache_total\{result="hit"\}') >= 1
    assert value(r'picsmith_render_cache_total\{result="miss"\}') >= 1
    assert value(r'picsmith_http_request_duration_seconds_count\{dialect="imagizer"\}') >= 2
    buckets = r'picsmith_http_request_duration_seconds_bucket\{dialect="imagizer",le="%s"\}'
    assert value(buckets % r"\+Inf") >= 2
    assert value(buckets % "30.0") >= 2
    assert value(r'picsmith_http_request_bytes_total\{dialect="imagekit"\}') >= len(JPEG)
    assert value(r'picsmith_http_response_bytes_total\{dialect="imagizer"\}') > 0


def test_access_log_lines_are_json_without_keys(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="picsmith.access"):
        assert httpx.get(f"{server.url}/v1/account?key={KEY}&with=1").status_code == 200
        assert httpx.get(f"{server.url}/nothing.jpg?w=1").status_code == 404
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "picsmith.access"]
    account, missing = lines[-2:]
    assert (account["path"], account["status"], account["dialect"]) == (
        "/v1/account", 200, "imageresizer")
    assert account["query"] == "key=***&with=1" and KEY not in caplog.text
    assert account["ms"] > 0 and account["bytes_out"] > 0
    assert (missing["status"], missing["error"], missing["dialect"]) == (404, "not_found", "imagizer")


def raw_request(port: int, head: bytes, body: bytes = b"", wait: float = 5.0) -> bytes:
    """Sends a request by hand (headers that need not match the body) and reads the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as connection:
        connection.sendall(head + body)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer:
                    header, _, rest = answer.partition(b"\r\n\r\n")
                    length = re.search(rb"content-length: (\d+)", header, re.IGNORECASE)
                    if length and len(rest) >= int(length.group(1)):
                        break
        except (TimeoutError, ConnectionResetError):
            pass
    return answer


def test_body_limit_is_enforced_while_streaming(server: RunningServer) -> None:
    # Declared too large: refused at once, before a byte of the body is sent.
    started = time.monotonic()
    answer = raw_request(server.port, (
        b"POST /api/1/upload HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY.encode() +
        b"\r\nContent-Type: application/octet-stream\r\nContent-Length: 999999999\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"context":"limit_exceeded"' in answer
    assert time.monotonic() - started < 1

    # Chunked, with no length: refused as soon as the count crosses the limit.
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"\0" * 16384

    response = httpx.post(f"{server.url}/v1/images?key={KEY}", content=chunks())
    assert response.status_code == 413
    assert response.json()["response"]["code"] == "limit_exceeded"


def test_slow_request_times_out(server: RunningServer) -> None:
    answer = raw_request(server.port, (
        b"POST /v1/images?key=" + KEY.encode() + b" HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: 100\r\n\r\n"), b"only part of it")
    assert answer.startswith(b"HTTP/1.1 504"), answer[:200]
    assert b'"code":"timeout"' in answer


def test_signed_urls_serve_private_images(server: RunningServer) -> None:
    path = upload(server.url, isPrivateFile="true")["filePath"]
    assert httpx.get(f"{server.url}{path}?width=20").status_code == 403

    signed = picsmith.sign_path(SECRET, f"{path}?width=20", int(time.time()) + 60)
    response = httpx.get(server.url + signed)
    assert response.status_code == 200, response.text
    assert picsmith.process(response.content).width == 20
    assert response.headers["cache-control"] == "private"

    tampered = signed.replace("width=20", "width=21")
    assert httpx.get(server.url + tampered).json()["error"]["code"] == "forbidden"
    expired = picsmith.sign_path(SECRET, f"{path}?width=20", int(time.time()) - 10)
    assert httpx.get(server.url + expired).status_code == 403
    wrong_secret = picsmith.sign_path("another secret", f"{path}?width=20")
    assert httpx.get(server.url + wrong_secret).status_code == 403


def test_cors_preflight(server: RunningServer) -> None:
    response = httpx.options(f"{server.url}/api/v1/images", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    other = httpx.get(f"{server.url}/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_signed_urls_only_and_parameter_allow_list(tmp_path: Path) -> None:
    config = local_config(tmp_path, signing_secret=SECRET, require_signed_urls=True,
                          allowed_parameters=["width", "format"])
    with RunningServer(create_app(config=config)) as running:
        path = upload(running.url)["filePath"]
        unsigned = httpx.get(f"{running.url}{path}?width=10")
        assert unsigned.status_code == 403
        assert unsigned.json()["error"]["parameter"] == "signature"

        def get(query: str) -> httpx.Response:
            return httpx.get(running.url + picsmith.sign_path(SECRET, f"{path}?{query}"))

        assert get("w=10&format=png").status_code == 200, "aliases count as their parameter"
        width64 = base64.b64encode(b"12").decode()
        assert picsmith.process(get(f"width64={width64}").content).width == 12
        refused = get("width=10&blur=50")
        assert refused.status_code == 403
        assert refused.json()["error"] == {
            "code": "forbidden", "parameter": "blur",
            "message": "the parameter 'blur' is not allowed on this server"}


def test_uploads_on_their_own_port_or_off(tmp_path: Path) -> None:
    config = local_config(tmp_path, upload_port=17007)
    library = picsmith.Library(**config.library_settings())
    main_app = create_app(config=config, library=library)
    upload_app = create_app(config=config, library=library, listener="uploads")
    with RunningServer(main_app) as main, RunningServer(upload_app) as uploads:
        refused = httpx.post(f"{main.url}/api/1/upload", headers={"X-API-Key": KEY},
                             files={"source": ("a.jpg", JPEG)})
        assert refused.status_code == 403
        assert "port 17007" in refused.json()["error"]["message"]
        path = upload(uploads.url)["filePath"]
        assert httpx.get(f"{main.url}{path}?width=10").status_code == 200

    off = create_app(config=local_config(tmp_path, uploads=False), library=library)
    with RunningServer(off) as running:
        refused = httpx.get(f"{running.url}/v1/account?key={KEY}")
        assert refused.status_code == 403 and refused.json()["success"] is False
        assert "disabled" in refused.json()["response"]["message"]


def test_uploads_from_a_url(tmp_path: Path) -> None:
    """ImageResizer, ImageKit and Chevereto fetch a URL; here an intranet one, allowed."""
    png = picsmith.process(JPEG, "width=24&format=png").data

    class Origin(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args: object) -> None:
            pass

    origin = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    source = f"http://127.0.0.1:{origin.server_address[1]}/pictures/dog.png"
    config = local_config(tmp_path, allow_private_addresses=True)
    try:
        with RunningServer(create_app(config=config)) as running:
            resizer = httpx.get(f"{running.url}/v1/images", params={"key": KEY, "url": source})
            assert resizer.json()["response"]["width"] == 24, resizer.text
            kit = httpx.post(f"{running.url}/api/v1/files/upload", auth=(KEY, ""),
                             data={"file": source, "fileName": "dog.png"})
            assert kit.json()["size"] == len(png), kit.text
            chevereto = httpx.post(f"{running.url}/api/1/upload", headers={"X-API-Key": KEY},
                                   data={"source": source})
            assert chevereto.json()["image"]["width"] == 24, chevereto.text
    finally:
        origin.shutdown()


def test_settings_from_file_then_environment(tmp_path: Path) -> None:
    file = tmp_path / "picsmith.toml"
    file.write_text(
        'port = 9000\nstorage = "memory://"\nallowed_parameters = ["width"]\n'
        'max_body_bytes = 1_000\nrequire_signed_urls = true\nrequest_timeout = 2\n'
    )
    config = load_config(file, environ={"PICSMITH_PORT": "9100", "PICSMITH_API_KEYS": "a, b",
                                        "PICSMITH_REQUIRE_SIGNED_URLS": "false"})
    assert (config.port, config.storage) == (9100, "memory://")
    assert config.allowed_parameters == ["width"]
    assert (config.max_body_bytes, config.api_keys) == (1000, ["a", "b"])
    assert config.require_signed_urls is False and config.request_timeout == 2.0

    file.write_text('prot = 9000\n')
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_config(file, environ={})
    file.write_text('port = "high"\n')
    with pytest.raises(ConfigError, match="port"):
        load_config(file, environ={})
    with pytest.raises(ConfigError, match="PICSMITH_UPLOADS"):
        load_config(None, environ={"PICSMITH_UPLOADS": "sometimes"})
    with pytest.raises(ConfigError, match="signing_secret"):
        load_config(None, environ={"PICSMITH_REQUIRE_SIGNED_URLS": "true"})
    with pytest.raises(ConfigError, match="upload_port"):
        load_config(None, environ={"PICSMITH_UPLOAD_PORT": "8080"})


def test_settings_table_matches_config_and_readme() -> None:
    defaults = ServerConfig()
    assert [s.name for s in SETTINGS] == list(defaults.__dataclass_fields__)
    for setting in SETTINGS:
        assert getattr(defaults, setting.name) == setting.default, setting.name
    assert settings_table() in (REPO / "README.md").read_text(), (
        "README's server settings table is stale: paste picsmith.server.config.settings_table()"
    )


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "picsmith.cli", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": PYTHON_PATH}, timeout=60, check=False,
    )


def test_keys_create_prints_a_key_the_server_accepts_until_revoked(tmp_path: Path) -> None:
    created = run_cli("keys", "create", "--data", "store", "--account", "team", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert len(key) >= 20 and " " not in key
    config = ServerConfig(data=str(tmp_path / "store"))
    with RunningServer(create_app(config=config)) as running:
        account = httpx.get(f"{running.url}/v1/account?key={key}")
        assert account.status_code == 200 and account.json()["success"] is True
        assert httpx.get(f"{running.url}/v1/account?key={key}x").status_code == 403
        revoked = run_cli("keys", "revoke", key, "--data", "store", cwd=tmp_path)
        assert revoked.returncode == 0, revoked.stderr
        assert httpx.get(f"{running.url}/v1/account?key={key}").status_code == 403
    again = run_cli("keys", "revoke", key, "--data", "store", cwd=tmp_path)
    assert again.returncode == 1 and "no such key" in again.stderr


def test_first_start_of_the_embedded_default_prints_a_key(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "picsmith.server", "--port", str(port)], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PICSMITH_")},
             "PYTHONPATH": PYTHON_PATH},
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        assert "first start" in lines[0], lines
        key = lines[1].strip()
        assert f"127.0.0.1:{port}" in lines[2]
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1/account?key={key}")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.05)
        assert response.status_code == 200 and response.json()["response"]["num_images"] == 0
        assert (tmp_path / "picsmith-data" / "originals").is_dir()
    finally:
        process.terminate()
        process.wait(timeout=10)

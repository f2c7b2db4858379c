"""Schemathesis against the server's own OpenAPI document, over real HTTP (local files + SQLite).

Every documented operation gets a bounded number of generated requests, valid and invalid, signed
in with a valid key the way its security scheme says, so the generated data reaches the
handlers. None may answer with a 5xx, except the documented `501 unsupported` of a parameter the
engine declares but leaves to the upload endpoints (`cache_*` on a render).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")
from conftest import FIXTURES, RunningServer  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

import picsmith  # noqa: E402
from picsmith.server import ServerConfig, create_app, openapi  # noqa: E402

KEY = "schemathesis-key-0123456789"
EXAMPLES_PER_CASE = 20
SCHEMA = schemathesis.openapi.from_dict(openapi.document())
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}
AUTH_HEADERS = {
    "bearer": {"Authorization": f"Bearer {KEY}"},
    "basic": {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()},
    "apiKey": {"X-API-Key": KEY},
}


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("schemathesis") / "data"
    (data / "originals").mkdir(parents=True)
    (data / "originals" / "photo.jpg").write_bytes((FIXTURES / "gray-320.jpg").read_bytes())
    config = ServerConfig(data=str(data), api_keys=[KEY], max_body_bytes=256 * 1024,
                          request_timeout=20.0)
    with RunningServer(create_app(config=config)) as running:
        yield running.url


def _credentials(operation: object) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query parameters that carry the key as the operation's scheme asks."""
    schemes = [name for entry in operation.definition.raw.get("security", []) for name in entry]
    if "key" in schemes:
        return {}, {"key": KEY}
    headers: dict[str, str] = {}
    for name in schemes:
        headers.update(AUTH_HEADERS[name])
    return headers, {}


def _is_declared_unsupported(response: object) -> bool:
    """A typed 501 naming one of the parameters the engine declares but does not implement."""
    if response.status_code != 501:
        return False
    error = response.json().get("error", {})
    unimplemented = {p["name"] for p in picsmith.parameters() if not p["implemented"]}
    return error.get("code") == "unsupported" and error.get("parameter") in unimplemented


def _has_inputs(operation: object) -> bool:
    raw = operation.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody"))


# Invalid requests exist only for operations that take input (/health and /metrics take none).
CASES = [(label, GenerationMode.POSITIVE) for label in sorted(OPERATIONS)] + [
    (label, GenerationMode.NEGATIVE) for label in sorted(OPERATIONS)
    if _has_inputs(OPERATIONS[label])
]


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{l}-{m.value}" for l, m in CASES])
def test_generated_requests_never_get_a_server_error(
    server_url: str, label: str, mode: GenerationMode
) -> None:
    operation = OPERATIONS[label]
    headers, query = _credentials(operation)

    @settings(max_examples=EXAMPLES_PER_CASE, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(mode))
    def run(case: object) -> None:
        if query:
            case.query = {**(case.query or {}), **query}
        response = case.call(base_url=server_url, headers=headers, timeout=30)
        assert response.status_code < 500 or _is_declared_unsupported(response), (
            f"{case.method} {case.formatted_path} {case.query}: "
            f"{response.status_code} {response.text}"
        )

    run()


def test_the_document_describes_every_upload_field() -> None:
    body = openapi.document()["paths"]["/api/v1/files/upload"]["post"]["requestBody"]
    fields = body["content"]["multipart/form-data"]["schema"]
    assert fields["required"] == ["file", "fileName"]
    assert {"useUniqueFileName", "folder", "isPrivateFile", "responseFields"} <= set(
        fields["properties"])

"""The server's transforms of files placed by hand, exercised through its real ASGI app."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, corpus_file
from httpx import Response
from starlette.testclient import TestClient

import picsmith
from picsmith.server import WARNINGS_HEADER, create_app


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    originals = tmp_path / "data" / "originals"
    originals.mkdir(parents=True)
    shutil.copy(corpus_file("large-2725x2225.jpg"), originals / "photo.jpg")
    (originals / "nested").mkdir()
    shutil.copy(corpus_file("bird-rgba-576x384.png"), originals / "nested" / "bird.png")
    shutil.copy(corpus_file("corrupt-header.jpg"), originals / "corrupt.jpg")
    shutil.copy(corpus_file("icc-adobergb-16bit.tiff"), originals / "scan.tiff")
    # A valid image just outside the served folder: traversal must not reach it.
    shutil.copy(corpus_file("orient1-landscape.jpg"), tmp_path / "data" / "secret.jpg")
    return tmp_path / "data"


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(data_dir)) as test_client:
        yield test_client


def assert_error(response: Response, status: int, code: str, parameter: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["parameter"] == parameter
    assert isinstance(error["message"], str) and error["message"]


def test_resize_to_webp(client: TestClient) -> None:
    response = client.get("/photo.jpg?width=400&format=webp")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    assert "vary" not in response.headers
    assert WARNINGS_HEADER.lower() not in response.headers
    image = picsmith.process(response.content)
    assert (image.format, image.width) == ("webp", 400)
    assert int(response.headers["content-length"]) == len(response.content)


def assert_same_picture(a: bytes, b: bytes) -> None:
    """Upright and colour-correct: close perceptual hashes and dominant colours."""
    ma, mb = (picsmith.metadata(x, colors=True, hashes=True) for x in (a, b))
    hash_distance = bin(int(ma["dhash"], 16) ^ int(mb["dhash"], 16)).count("1")
    assert hash_distance <= 8, f"dHash {ma['dhash']} vs {mb['dhash']}"
    rgb = [[int(m["dominantColor"][i:i + 2], 16) for i in (1, 3, 5)] for m in (ma, mb)]
    assert max(abs(x - y) for x, y in zip(*rgb)) <= 24, f"dominant colours {rgb}"


# Each long-tail original and what its transform must match: the output size, or the JPEG whose
# picture it holds (the same parameters on the JPEG give the same picture).
LONG_TAIL = {"scan.tiff": (200, 133), "wide.avif": (200, 39), "landscape.heic": "landscape.jpg",
             "landscape.jxl": "landscape.jpg"}


def _place_long_tail_original(name: str, originals: Path) -> None:
    """Puts ``name`` among the originals: the corpus TIFF or AVIF, or a HEIC (made with the
    `vips` command) or JPEG XL (made by picsmith) of a corpus JPEG."""
    jpeg = corpus_file("orient1-landscape.jpg")
    shutil.copy(jpeg, originals / "landscape.jpg")
    target = originals / name
    if name == "wide.avif":
        shutil.copy(corpus_file("avif-pitm-4096x800.avif"), target)
    elif name == "landscape.heic":
        subprocess.run(["vips", "copy", str(jpeg), f"{target}[Q=70]"], check=True)
    elif name == "landscape.jxl":
        target.write_bytes(picsmith.process(jpeg.read_bytes(), "format=jxl&quality=90").data)


@pytest.mark.parametrize("name", sorted(LONG_TAIL))
def test_long_tail_formats_transform_like_a_jpeg_or_are_415_without_libvips(
    client: TestClient, data_dir: Path, name: str
) -> None:
    query = "width=200&format=webp"
    if "vips" not in picsmith.features():
        if name in ("landscape.heic", "landscape.jxl"):
            pytest.skip(f"{name} is made with libvips, which this build does not link")
        _place_long_tail_original(name, data_dir / "originals")
        response = client.get(f"/{name}?{query}")
        assert_error(response, 415, "unsupported_format")
        assert "vips" in response.json()["error"]["message"]
        return
    _place_long_tail_original(name, data_dir / "originals")
    response = client.get(f"/{name}?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp"
    image = picsmith.process(response.content)
    expected = LONG_TAIL[name]
    if isinstance(expected, str):
        reference = picsmith.process(client.get(f"/{expected}?{query}").content)
        assert_same_picture(image.data, reference.data)
        expected = (reference.width, reference.height)
    assert (image.format, image.width, image.height) == ("webp", *expected)


def test_meta_true_answers_json(client: TestClient) -> None:
    response = client.get("/photo.jpg?meta=true")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert (doc["width"], doc["height"], doc["fileType"]) == (2725, 2225, "jpeg")
    assert doc["dominateColor"].startswith("#") and doc["faces"] == []


def test_nested_path_and_default_format(client: TestClient) -> None:
    response = client.get("/nested/bird.png?h=96")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert picsmith.process(response.content).height == 96


def test_format_auto_follows_accept_and_varies(client: TestClient) -> None:
    response = client.get(
        "/photo.jpg?w=200&format=auto", headers={"Accept": "image/webp,*/*;q=0.8"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["vary"] == "Accept"
    response = client.get("/photo.jpg?w=200&format=auto", headers={"Accept": "*/*"})
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["vary"] == "Accept"


def test_warnings_header(client: TestClient) -> None:
    response = client.get("/photo.jpg?w=100&cachebuster=7&format=gif&lossless=true")
    assert response.status_code == 200
    assert response.headers[WARNINGS_HEADER] == (
        "unknown parameter 'cachebuster' ignored; lossless applies to WebP and JPEG XL output; ignored for gif"
    )


def test_warning_with_control_characters_cannot_split_headers(client: TestClient) -> None:
    response = client.get("/photo.jpg?w=10&evil%0d%0aSet-Cookie:%20x=%E2%82%AC=1")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert response.headers[WARNINGS_HEADER] == (
        "unknown parameter 'evil\\r\\nSet-Cookie: x' ignored"
    )


def test_head_has_headers_and_no_body(client: TestClient) -> None:
    response = client.head("/photo.jpg?w=100&format=png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert int(response.headers["content-length"]) > 0
    assert response.content == b""


def test_bad_parameter_is_400_json(client: TestClient) -> None:
    assert_error(client.get("/photo.jpg?width=abc"), 400, "invalid_parameter", "width")


def test_unimplemented_parameter_is_501(client: TestClient) -> None:
    response = client.get("/photo.jpg?cache_processed=true")
    assert_error(response, 501, "unsupported", "cache_processed")


def test_recognition_nsfw_without_its_model_is_501(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PICSMITH_NSFW_MODEL", raising=False)
    response = client.get("/photo.jpg?recognition=nsfw")
    assert_error(response, 501, "unsupported", "recognition")
    assert "make models" in response.json()["error"]["message"]


def test_recognition_nsfw_answers_json(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `make models` fetches the model and exports its path; the engine reads the variable.
    model = Path(os.environ.get("PICSMITH_NSFW_MODEL") or REPO / "target/models/open-nsfw.onnx")
    if not model.is_file():
        pytest.skip(f"the NSFW model {model} is absent (run `make models`)")
    monkeypatch.setenv("PICSMITH_NSFW_MODEL", str(model))
    with TestClient(create_app(data_dir)) as client:
        response = client.get("/photo.jpg?recognition=nsfw")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    nudity = response.json()["nsfw"]["nudity"]
    assert sorted(nudity) == ["confidence", "value"]
    assert nudity["value"] is False and 50 <= nudity["confidence"] <= 100


def test_limit_is_413(data_dir: Path) -> None:
    with TestClient(create_app(data_dir, limits=picsmith.Limits(max_source_pixels=1000))) as client:
        assert_error(client.get("/photo.jpg?w=10"), 413, "limit_exceeded")


def test_missing_file_is_404(client: TestClient) -> None:
    assert_error(client.get("/nope.jpg"), 404, "not_found")
    assert_error(client.get("/"), 404, "not_found")
    assert_error(client.get("/nested"), 404, "not_found")


@pytest.mark.parametrize(
    "path",
    [
        "/..%2Fsecret.jpg",
        "/nested/..%2F..%2Fsecret.jpg",
        "/%2E%2E/secret.jpg",
        "/%2F..%2Fsecret.jpg",
    ],
)
def test_traversal_is_refused(client: TestClient, data_dir: Path, path: str) -> None:
    assert (data_dir / "secret.jpg").is_file()
    assert_error(client.get(path), 404, "not_found")


def test_absolute_path_is_refused(client: TestClient, data_dir: Path) -> None:
    target = str(data_dir / "secret.jpg").replace("/", "%2F")
    assert_error(client.get(f"/{target}"), 404, "not_found")


def test_symlink_out_of_the_folder_is_refused(client: TestClient, data_dir: Path) -> None:
    (data_dir / "originals" / "link.jpg").symlink_to(data_dir / "secret.jpg")
    assert_error(client.get("/link.jpg"), 404, "not_found")


def test_corrupt_original_is_422(client: TestClient) -> None:
    assert_error(client.get("/corrupt.jpg?w=100"), 422, "invalid_image")


def test_other_methods_are_405(client: TestClient) -> None:
    response = client.put("/photo.jpg", content=b"x")
    assert_error(response, 405, "method_not_allowed")
    allowed = set(response.headers["allow"].replace(" ", "").split(","))
    assert allowed == {"GET", "HEAD", "POST", "DELETE"}


def test_data_folder_is_created_and_env_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICSMITH_DATA", str(tmp_path / "from-env"))
    app = create_app()
    assert (tmp_path / "from-env" / "originals").is_dir()
    assert app.state.originals == (tmp_path / "from-env" / "originals").resolve()
    create_app(tmp_path / "explicit")
    assert (tmp_path / "explicit" / "originals").is_dir()

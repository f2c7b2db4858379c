"""Watermarks and layers from an assets directory through the Python API and the server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES

import picsmith

BASE = (FIXTURES / "gray-200x100.png").read_bytes()


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    shutil.copy(FIXTURES / "logo-64x32.png", tmp_path / "logo.png")
    return tmp_path


def test_a_watermark_from_the_assets_directory_changes_the_pixels(assets: Path) -> None:
    plain = picsmith.process(BASE, "format=png")
    marked = picsmith.process(BASE, "mark=/logo.png&format=png", assets=assets)
    assert marked.warnings == []
    assert (marked.width, marked.height) == (200, 100)
    assert marked.data != plain.data
    # str paths work as well as Path objects, and Pipeline.run takes the same option.
    again = picsmith.Pipeline.from_query("mark=/logo.png&format=png").run(BASE, assets=str(assets))
    assert again.data == marked.data


def test_without_assets_the_mark_is_skipped_with_a_warning() -> None:
    image = picsmith.process(BASE, "mark=/logo.png&format=png")
    assert [w.parameter for w in image.warnings] == ["mark"]
    assert image.data == picsmith.process(BASE, "format=png").data


def test_a_missing_required_mark_raises(assets: Path) -> None:
    with pytest.raises(picsmith.InvalidParameter) as info:
        picsmith.process(BASE, "mark=/missing.png&mark_required=true", assets=assets)
    assert info.value.parameter == "mark"
    assert info.value.http_status == 400
    with pytest.raises(picsmith.InvalidParameter):
        picsmith.process(BASE, "mark=/../logo.png&mark_required=true", assets=assets)
    with pytest.raises(picsmith.Unsupported):
        picsmith.process(BASE, "mark=/logo.png&mark_required=true")


def test_an_assets_path_that_is_not_a_directory_is_refused(assets: Path) -> None:
    with pytest.raises(picsmith.InvalidParameter):
        picsmith.process(BASE, "width=10", assets=assets / "nope")


def test_the_server_resolves_marks_among_its_originals(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from picsmith.server import create_app

    originals = tmp_path / "originals"
    originals.mkdir()
    (originals / "photo.png").write_bytes(BASE)
    shutil.copy(FIXTURES / "logo-64x32.png", originals / "logo.png")
    client = TestClient(create_app(tmp_path))
    plain = client.get("/photo.png?format=png")
    marked = client.get("/photo.png?format=png&mark=/logo.png&mark_pos=top|left")
    assert marked.status_code == 200
    assert "x-picsmith-warnings" not in marked.headers
    assert marked.content != plain.content
    missing = client.get("/photo.png?mark=/nope.png&mark_required=true")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "invalid_parameter"
    assert missing.json()["error"]["parameter"] == "mark"

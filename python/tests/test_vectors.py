"""Runs every case of every ``tests/vectors/*.json`` through the public Python API.

The format is described in ``tests/vectors/README.md``; the Rust and Node suites run the same
files and must give the same answers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import VECTORS, input_bytes

import picsmith


def _load_cases() -> list[Any]:
    params = []
    for file in sorted(VECTORS.glob("*.json")):
        cases = json.loads(file.read_text(encoding="utf-8"))["cases"]
        names = [case["name"] for case in cases]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        assert not duplicates, f"{file.name}: case names must be unique, repeated: {duplicates}"
        for case in cases:
            params.append(pytest.param(case, id=f"{file.stem}::{case['name']}"))
    if not params:
        params.append(
            pytest.param(
                None,
                id="no-vector-files",
                marks=pytest.mark.skip(reason=f"no *.json vector files in {VECTORS}"),
            )
        )
    return params


def _check_error(err: picsmith.PicsmithError, expect: dict[str, Any]) -> None:
    assert err.code == expect["error"], f"expected error {expect['error']}, got {err.code}: {err}"
    if "parameter" in expect:
        assert err.parameter == expect["parameter"]


@pytest.mark.parametrize("case", _load_cases())
def test_vector(case: dict[str, Any]) -> None:
    # A build with an optional feature may expect another outcome (`expect_with`).
    expect_with = case.get("expect_with", {})
    with_features = [expect_with[f] for f in picsmith.features() if f in expect_with]
    expect = with_features[0] if with_features else case["expect"]
    strict = case.get("strict", False)
    try:
        if case.get("input") is None:
            result: Any = picsmith.Pipeline.from_query(case["query"], strict=strict)
        else:
            data = input_bytes(case["input"])
            assets = VECTORS.parent / case["assets"] if "assets" in case else None
            result = picsmith.process(
                data, case["query"], accept=case.get("accept"), strict=strict, assets=assets
            )
    except picsmith.PicsmithError as err:
        if "error" not in expect:
            raise
        _check_error(err, expect)
        return
    assert "error" not in expect, f"expected error {expect['error']}, got a result"

    if "warnings" in expect:
        assert [w.parameter for w in result.warnings] == expect["warnings"]
    if isinstance(result, picsmith.Pipeline):
        unchecked = set(expect) & {"width", "height", "format", "vary_accept"}
        assert not unchecked, f"a case without input cannot check {sorted(unchecked)}"
        return
    for key in ("width", "height", "format", "vary_accept"):
        if key in expect:
            assert getattr(result, key) == expect[key], key
    # The bytes must really be an image of the announced format and size. This build encodes
    # AVIF and MP4 but does not decode them, so those are checked by their ISO-BMFF brand.
    if result.format in ("avif", "mp4"):
        brand = {"avif": b"avif", "mp4": b"isom"}[result.format]
        assert result.data[4:12] == b"ftyp" + brand
    else:
        reparsed = picsmith.process(result.data, "autorotate=false")
        assert (reparsed.format, reparsed.width, reparsed.height) == (
            result.format,
            result.width,
            result.height,
        )

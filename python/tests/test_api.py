"""The Python API: types, errors, limits, reuse, and the GIL being released during work."""

from __future__ import annotations

import base64
import io
import json
import pickle
import shutil
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO, corpus_bytes, corpus_file, input_bytes
from PIL import Image

import picsmith

ERROR_CLASSES = {
    "invalid_parameter": (picsmith.InvalidParameter, 400),
    "limit_exceeded": (picsmith.LimitExceeded, 413),
    "unsupported_format": (picsmith.UnsupportedFormat, 415),
    "invalid_image": (picsmith.InvalidImage, 422),
    "unsupported": (picsmith.Unsupported, 501),
    "internal": (picsmith.InternalError, 500),
}


def test_version_matches_the_package_metadata() -> None:
    from importlib.metadata import version

    assert picsmith.__version__ == version("picsmith")


@pytest.mark.parametrize("code", sorted(ERROR_CLASSES))
def test_error_classes_carry_their_code_and_status(code: str) -> None:
    cls, status = ERROR_CLASSES[code]
    assert issubclass(cls, picsmith.PicsmithError)
    assert issubclass(cls, Exception)
    assert (cls.code, cls.http_status) == (code, status)
    assert cls.__module__ == "picsmith"


def test_invalid_parameter_is_a_value_error_with_attributes() -> None:
    with pytest.raises(ValueError) as caught:
        picsmith.Pipeline.from_query("width=0")
    err = caught.value
    assert type(err) is picsmith.InvalidParameter
    assert err.code == "invalid_parameter"
    assert err.http_status == 400
    assert err.parameter == "width"
    assert "width" in err.message and str(err) == err.message
    # Only InvalidParameter is a ValueError.
    assert not issubclass(picsmith.LimitExceeded, ValueError)


def test_errors_without_a_parameter_say_none() -> None:
    with pytest.raises(picsmith.InvalidImage) as caught:
        picsmith.process(b"")
    assert caught.value.parameter is None
    assert caught.value.http_status == 422
    with pytest.raises(picsmith.UnsupportedFormat) as caught:
        picsmith.process(b"this is not an image")
    assert caught.value.code == "unsupported_format"


def test_unimplemented_parameter_is_unsupported() -> None:
    with pytest.raises(picsmith.Unsupported) as caught:
        picsmith.Pipeline.from_query("cache_processed=true")
    assert (caught.value.parameter, caught.value.http_status) == ("cache_processed", 501)


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """An 8-bit RGB PNG of one colour."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    rows = (b"\x00" + bytes(rgb) * width) * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_recognition_labels_with_a_configured_model() -> None:
    # tests/fixtures/labels-rgb.onnx classifies the average colour (built by the Rust suite).
    models = picsmith.RecognitionModels(labels=FIXTURES / "labels-rgb.onnx")
    assert models.labels_names is None and models.labels == FIXTURES / "labels-rgb.onnx"
    red = solid_png(40, 30, (230, 20, 20))
    image = picsmith.process(red, "recognition=labels", models=models)
    assert (image.format, image.mime) == ("json", "application/json")
    labels = json.loads(image.data)["labels"]
    assert [sorted(label) for label in labels] == [["Confidence", "Name"]] * 3
    assert labels[0]["Name"] == "red" and labels[0]["Confidence"] > 90
    pipeline = picsmith.Pipeline.from_query("recognition=labels")
    assert json.loads(pipeline.run(red, models=models).data)["labels"][0]["Name"] == "red"
    # A names file given explicitly, and one that does not match the model's outputs.
    names = picsmith.RecognitionModels(
        labels=FIXTURES / "labels-rgb.onnx", labels_names=FIXTURES / "SOURCES.md"
    )
    with pytest.raises(picsmith.Unsupported) as caught:
        picsmith.process(red, "recognition=labels", models=names)
    assert caught.value.parameter == "recognition" and "classes" in caught.value.message


def test_recognition_without_a_model_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PICSMITH_LABELS_MODEL", raising=False)
    photo = (FIXTURES / "photo-320.jpg").read_bytes()
    with pytest.raises(picsmith.Unsupported) as caught:
        picsmith.process(photo, "recognition=labels")
    assert caught.value.http_status == 501 and "PICSMITH_LABELS_MODEL" in caught.value.message


def test_errors_survive_pickling() -> None:
    with pytest.raises(picsmith.InvalidParameter) as caught:
        picsmith.Pipeline.from_query("h=-3")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is picsmith.InvalidParameter
    assert (copy.code, copy.parameter, copy.message) == (
        "invalid_parameter",
        "height",
        caught.value.message,
    )


def test_strict_mode_turns_unknown_parameters_into_errors() -> None:
    assert [w.parameter for w in picsmith.Pipeline.from_query("w=10&cb=3").warnings] == ["cb"]
    with pytest.raises(picsmith.InvalidParameter) as caught:
        picsmith.Pipeline.from_query("w=10&cb=3", strict=True)
    assert caught.value.parameter == "cb"


def test_process_result() -> None:
    data = corpus_bytes("orient6-landscape.jpg")
    image = picsmith.process(data, "width=300&cachebuster=1")
    assert (image.format, image.mime, image.extension) == ("jpeg", "image/jpeg", "jpg")
    assert image.width == 300 and image.height > 0
    assert (
        image.data[:3] == b"\xff\xd8\xff"
        and bytes(image) == image.data
        and len(image) == len(image.data)
    )
    assert image.warnings == [
        picsmith.Warning("cachebuster", "unknown parameter 'cachebuster' ignored")
    ]
    assert image.vary_accept is False


def test_the_quality_used_is_reported() -> None:
    photo = (REPO / "tests" / "fixtures" / "photo-320.jpg").read_bytes()
    assert picsmith.process(photo, "format=webp&quality=63").quality == 63
    chosen = picsmith.process(photo, "quality=auto&quality_min=50&quality_max=80").quality
    assert chosen is not None and 50 <= chosen <= 80
    assert picsmith.process(photo, "format=png").quality is None


@pytest.mark.parametrize(
    ("source", "query"),
    [
        ("fixture:photo-320.jpg", "format=png"),
        ("corpus:bird-rgba-576x384.png", "format=png"),
        ("corpus:paper-rgba-2048x1536.png", "width=1024&height=768"),
    ],
)
def test_png_is_as_small_as_pillows(source: str, query: str) -> None:
    """PNG is deflated at zlib level 6 with a filter chosen per row, as libpng and so Pillow
    do by default: the file is no larger than Pillow's of the same pixels (a fast mode's
    files were 8-25 % larger)."""
    ours = picsmith.process(input_bytes(source), query).data
    pillows = io.BytesIO()
    Image.open(io.BytesIO(ours)).save(pillows, "PNG")
    assert len(ours) <= 1.03 * len(pillows.getvalue()), (len(ours), len(pillows.getvalue()))


def test_metadata_reads_headers_and_asked_pixel_fields() -> None:
    photo = (REPO / "tests" / "fixtures" / "photo-320.jpg").read_bytes()
    meta = picsmith.metadata(photo)
    assert (meta["format"], meta["mimeType"], meta["hasAlpha"]) == ("jpeg", "image/jpeg", False)
    assert meta["fileSize"] == len(photo) and meta["width"] == 320
    assert meta["jpeg"]["samplingFactor"] and meta["dominantColor"] is None
    full = picsmith.metadata(photo, colors=True, hashes=True, mini_preview=True)
    assert full["dominantColor"].startswith("#") and 1 <= len(full["palette"]) <= 5
    assert len(full["dhash"]) == 16 and full["blurhash"] and full["thumbhash"]
    assert picsmith.process(base64.b64decode(full["miniPreview"])).format == "jpeg"
    with pytest.raises(picsmith.UnsupportedFormat):
        picsmith.metadata(b"plain text")
    with pytest.raises(picsmith.LimitExceeded):
        picsmith.metadata(photo, limits=picsmith.Limits(max_source_pixels=100))


def test_meta_true_answers_json() -> None:
    photo = (REPO / "tests" / "fixtures" / "photo-320.jpg").read_bytes()
    out = picsmith.process(photo, "meta=true&width=100")
    assert (out.format, out.mime) == ("json", "application/json")
    doc = json.loads(out.data)
    assert (doc["width"], doc["fileType"], doc["faces"]) == (100, "jpeg", [])
    assert list(doc)[:7] == [
        "fileSize", "width", "height", "fileType", "mimeType", "hasAlpha", "colorSpace"
    ]


def test_format_auto_negotiates_and_asks_for_vary() -> None:
    data = corpus_bytes("orient1-landscape.jpg")
    webp = picsmith.process(data, "w=64&format=auto", accept="image/avif;q=0,image/webp,*/*")
    assert (webp.format, webp.vary_accept) == ("webp", True)
    assert webp.data[:4] == b"RIFF" and webp.data[8:12] == b"WEBP"
    fallback = picsmith.process(data, "w=64&format=auto", accept="*/*")
    assert (fallback.format, fallback.vary_accept) == ("jpeg", True)


def test_pipeline_is_reusable_across_images_and_threads() -> None:
    pipeline = picsmith.Pipeline.from_query("height=50&format=png")
    inputs = [
        corpus_bytes(n) for n in ("orient1-landscape.jpg", "bird-rgba-576x384.png", "photo-4.webp")
    ]
    expected = [(img.width, img.height) for img in (pipeline.run(d) for d in inputs)]
    assert all(h == 50 for _, h in expected)
    results = {}

    def work(i: int) -> None:
        results[i] = pipeline.run(inputs[i % 3])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, image in results.items():
        assert image.format == "png"
        assert (image.width, image.height) == expected[i % 3]
    assert len(results) == 6


def test_limits_defaults_and_values() -> None:
    default = picsmith.Limits()
    assert (default.max_input_bytes, default.max_source_pixels, default.max_output_side) == (
        64 * 1024 * 1024,
        100_000_000,
        16384,
    )
    custom = picsmith.Limits(max_source_pixels=1000)
    assert custom.max_source_pixels == 1000 and custom.max_output_side == 16384
    assert custom == picsmith.Limits(max_source_pixels=1000) and custom != default
    with pytest.raises(TypeError):
        picsmith.Limits(1000)  # type: ignore[misc]
    with pytest.raises(OverflowError):
        picsmith.Limits(max_output_side=-1)


def test_limits_are_enforced() -> None:
    data = corpus_bytes("large-2725x2225.jpg")
    with pytest.raises(picsmith.LimitExceeded) as caught:
        picsmith.process(data, "width=100", limits=picsmith.Limits(max_source_pixels=1000))
    assert (caught.value.code, caught.value.http_status) == ("limit_exceeded", 413)
    with pytest.raises(picsmith.LimitExceeded):
        picsmith.process(data, limits=picsmith.Limits(max_input_bytes=len(data) - 1))
    with pytest.raises(picsmith.LimitExceeded):
        picsmith.Pipeline.from_query("quality=80").run(
            data, limits=picsmith.Limits(max_output_side=2000)
        )
    # The same limits with room to spare succeed.
    ok = picsmith.process(data, "width=100", limits=picsmith.Limits(max_input_bytes=len(data)))
    assert ok.width == 100


def test_input_must_be_bytes() -> None:
    with pytest.raises(TypeError):
        picsmith.process("not bytes", "w=1")  # type: ignore[arg-type]


def test_registry_and_schema() -> None:
    params = {p["name"]: p for p in picsmith.parameters()}
    width = params["width"]
    assert width["aliases"] == ["w"] and width["kind"] == "int" and width["implemented"] is True
    assert "16384" in width["accepted"]
    assert params["autorotate"]["default"] == "true"
    assert params["recognition"]["implemented"] is True
    assert params["cache_processed"]["implemented"] is False
    assert params["redeye"]["implemented"] is True
    schema = json.loads(picsmith.schema_json())
    assert set(schema["properties"]) == set(params)
    assert schema["properties"]["width"]["maximum"] == 16384


def test_gil_is_released_during_processing() -> None:
    """Two full-size re-encodes run on two threads while this thread keeps stamping the clock.

    A native call that held the GIL would leave a gap in the stamps at least as long as the
    call itself; with the GIL released the stamps keep coming, limited only by the OS
    scheduler, so every gap stays well below the duration of any single call.
    """
    data = corpus_bytes("large-2725x2225.jpg")
    pipeline = picsmith.Pipeline.from_query("quality=80")
    pipeline.run(data)  # warm up allocators and code pages
    calls = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(2):
            start = time.perf_counter()
            image = pipeline.run(data)
            end = time.perf_counter()
            assert (image.width, image.height) == (2725, 2225)
            with lock:
                calls.append((start, end))

    workers = [threading.Thread(target=work) for _ in range(2)]
    stamps = [time.perf_counter()]
    for w in workers:
        w.start()
    while any(w.is_alive() for w in workers):
        stamps.append(time.perf_counter())
    for w in workers:
        w.join()
    assert len(calls) == 4, "a worker failed"

    shortest = min(end - start for start, end in calls)
    window_start = min(start for start, _ in calls)
    window_end = max(end for _, end in calls)
    inside = [window_start] + [s for s in stamps if window_start < s < window_end] + [window_end]
    longest_gap = max(b - a for a, b in zip(inside, inside[1:]))
    assert longest_gap < shortest / 2, (
        f"this thread stalled for {longest_gap * 1000:.1f} ms while calls took "
        f"{shortest * 1000:.1f} ms or more: the GIL was held"
    )
    assert len(inside) > 1000


_LIBVIPS_LOADS_LATE = """
import sys, picsmith

def libvips_mapped():
    with open("/proc/self/maps") as maps:
        return "libvips.so" in maps.read()

photo = open(sys.argv[1], "rb").read()
picsmith.process(photo, "width=100&format=webp")
print(libvips_mapped())
picsmith.process(photo, "width=100&format=avif")
print(libvips_mapped())
picsmith.process(photo, "width=100&format=jxl")
print(libvips_mapped())
"""


@pytest.mark.skipif(
    "vips" not in picsmith.features() or not Path("/proc/self/maps").exists(),
    reason="needs the vips feature and /proc",
)
def test_libvips_is_loaded_only_when_an_image_needs_it() -> None:
    # A fresh interpreter: this one may have loaded libvips in an earlier test.
    photo = FIXTURES / "photo-320.jpg"
    ran = subprocess.run(
        [sys.executable, "-c", _LIBVIPS_LOADS_LATE, str(photo)],
        capture_output=True,
        text=True,
        check=True,
    )
    # AVIF is written by picsmith's own libavif; JPEG XL needs libvips.
    assert ran.stdout.split() == ["False", "False", "True"], ran.stderr


def _heic_from(jpeg_path: str, tmp_path: Path) -> bytes | None:
    """A HEIC made from a corpus photo with the `vips` command, or None without it."""
    if shutil.which("vips") is None:
        return None
    out = tmp_path / "photo.heic"
    subprocess.run(["vips", "copy", jpeg_path, f"{out}[Q=70]"], check=True)
    return out.read_bytes()


def test_long_tail_formats_follow_the_vips_feature(tmp_path: Path) -> None:
    features = picsmith.features()
    assert isinstance(features, list) and all(isinstance(f, str) for f in features)
    jpeg_path = corpus_file("orient1-landscape.jpg")
    heic = _heic_from(str(jpeg_path), tmp_path)
    inputs = {
        "tiff": corpus_bytes("icc-adobergb-16bit.tiff"),
        "avif": corpus_bytes("avif-pitm-4096x800.avif"),
    }
    if heic is not None:
        inputs["heif"] = heic
    query = "width=200&format=webp"
    for name, data in inputs.items():
        if "vips" in features:
            image = picsmith.process(data, query)
            assert (image.format, image.width) == ("webp", 200), name
        else:
            with pytest.raises(picsmith.UnsupportedFormat) as caught:
                picsmith.process(data, query)
            assert caught.value.http_status == 415
            assert "vips" in caught.value.message, name
    if "vips" in features:
        jxl = picsmith.process(jpeg_path.read_bytes(), "width=300&format=jxl")
        assert (jxl.format, jxl.mime, jxl.width) == ("jxl", "image/jxl", 300)
        assert picsmith.process(jxl.data, "format=png").width == 300
        if heic is not None:
            # The same parameters as the JPEG give the same picture.
            a = picsmith.process(heic, "width=64&format=png")
            b = picsmith.process(jpeg_path.read_bytes(), "width=64&format=png")
            assert (a.width, a.height) == (b.width, b.height)

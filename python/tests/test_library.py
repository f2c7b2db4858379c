"""picsmith.Library through the Python binding, on local+SQLite and on S3+PostgreSQL."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import FIXTURES

import picsmith

JPEG = (FIXTURES / "gray-320.jpg").read_bytes()


def variant(n: int) -> bytes:
    """A distinct small PNG per n."""
    return picsmith.process(JPEG, f"width={8 + n}&format=png").data


def test_upload_read_render_tag_list_usage_delete(library_settings: dict[str, str]) -> None:
    lib = picsmith.Library(**library_settings)
    record = lib.upload(
        JPEG, file_name="my photo.jpg", folder="/albums/2024", tags=["cat", "gray"], title="Grey"
    )
    assert record["folder"] == "/albums/2024/"
    assert record["name"].startswith("my_photo_") and record["name"].endswith(".jpg")
    assert record["path"] == "/albums/2024/" + record["name"]
    assert (record["mime"], record["size"], record["tags"]) == ("image/jpeg", len(JPEG), ["cat", "gray"])
    assert record["createdAt"].endswith("Z") and len(record["id"]) == 12
    assert lib.get(record["id"]) == record
    assert lib.get_by_path(record["path"]) == record
    assert lib.read(record["id"]) == JPEG

    image, hit = lib.render(record["path"], "width=100&format=webp")
    assert (image.width, image.format, hit) == (100, "webp", False)
    again, hit = lib.render(record["id"], "format=webp&w=100")
    assert hit and again.data == image.data

    tagged = lib.add_tags([record["id"]], ["pet"])
    assert tagged[0]["tags"] == ["cat", "gray", "pet"]
    assert lib.remove_tags(record["id"], ["gray"])[0]["tags"] == ["cat", "pet"]
    assert lib.list(tag="pet")["total"] == 1
    assert lib.list(folder="/albums/2024/")["images"][0]["id"] == record["id"]

    usage = lib.usage()
    assert usage["num_images"] == 1 and usage["storage"]["used"] == len(JPEG)
    assert usage["storage"]["max_readable"] == "10 GB"

    assert [r["id"] for r in lib.delete(record["id"])] == [record["id"]]
    with pytest.raises(picsmith.NotFound) as caught:
        lib.get(record["id"])
    assert caught.value.http_status == 404
    assert lib.verify() == [] and lib.gc(0)["removed_blobs"] == 0


def test_bad_input_is_refused_with_clear_errors(library_settings: dict[str, str]) -> None:
    lib = picsmith.Library(**library_settings, limits=picsmith.Limits(max_input_bytes=20_000))
    with pytest.raises(picsmith.UnsupportedFormat):
        lib.upload(b"plain text, not an image", file_name="x.jpg")
    with pytest.raises(picsmith.InvalidParameter) as caught:
        lib.upload("###", file_name="x.jpg")
    assert caught.value.parameter == "file"
    with pytest.raises(picsmith.InvalidParameter) as caught:
        lib.upload(JPEG, file_name="../../etc/passwd")
    assert caught.value.parameter == "fileName"
    with pytest.raises(picsmith.InvalidParameter) as caught:
        lib.upload(JPEG, folder="a/../../b")
    assert caught.value.parameter == "folder"
    with pytest.raises(picsmith.InvalidParameter) as caught:
        lib.upload(JPEG, tags=[f"t{i}" for i in range(21)])
    assert caught.value.parameter == "tags"
    with pytest.raises(picsmith.InvalidParameter) as caught:
        lib.upload(JPEG, expiration="tomorrow")
    assert caught.value.parameter == "options" and "ISO 8601" in caught.value.message
    with pytest.raises(picsmith.LimitExceeded):
        lib.upload(picsmith.process(JPEG, "format=png").data)
    with pytest.raises(picsmith.Forbidden):
        lib.upload("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(picsmith.InvalidParameter) as caught:
        lib.delete([f"id{i}" for i in range(21)])
    assert caught.value.parameter == "ids"
    with pytest.raises(picsmith.NotFound):
        lib.add_tags("nosuchimage1", ["x"])
    assert lib.usage()["num_images"] == 0
    assert lib.gc(0)["removed_blobs"] == 0, "nothing half-written"

    data_uri = "data:image/png;base64," + base64.b64encode(variant(1)).decode()
    assert lib.upload(data_uri, file_name="b.png")["format"] == "png"


def test_overwrite_and_imagizer_path_uploads(library_settings: dict[str, str]) -> None:
    lib = picsmith.Library(**library_settings)
    first = lib.upload(JPEG, path="/image.jpg", tags=["a"], transform="width=120")
    assert (first["path"], first["width"]) == ("/image.jpg", 120)
    second = lib.upload(variant(2), file_name="image.jpg", use_unique_file_name=False)
    assert second["id"] == first["id"] and second["tags"] == [] and second["format"] == "png"
    assert lib.list()["total"] == 1
    assert lib.gc(0)["removed_blobs"] == 0


def test_private_images_need_a_signature(library_settings: dict[str, str]) -> None:
    lib = picsmith.Library(**library_settings)
    record = lib.upload(JPEG, file_name="secret.jpg", is_private=True)
    with pytest.raises(picsmith.Forbidden):
        lib.render(record["path"], "width=10")
    image, _ = lib.render(record["path"], "width=10", signed=True)
    assert image.width == 10


def test_upload_from_url_needs_private_addresses_allowed(tmp_path) -> None:
    body = variant(3)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/x.png"
    settings = {"storage": "memory://", "catalog": f"sqlite://{tmp_path}/c.db", "cache": "off"}
    try:
        with pytest.raises(picsmith.Forbidden) as caught:
            picsmith.Library(**settings).upload(url)
        assert "not a public address" in caught.value.message
        lib = picsmith.Library(**settings, allow_private_addresses=True)
        assert lib.upload(url, file_name="x.png")["size"] == len(body)
    finally:
        server.shutdown()


def test_settings_are_checked(tmp_path) -> None:
    with pytest.raises(picsmith.InvalidParameter) as caught:
        picsmith.Library(storage="ftp://nowhere", catalog=f"sqlite://{tmp_path}/c.db")
    assert caught.value.parameter == "storage"
    with pytest.raises(picsmith.InvalidParameter) as caught:
        picsmith.Library(storage="memory://", catalog="mysql://x")
    assert caught.value.parameter == "catalog"


def test_api_keys_are_stored_hashed_and_shared_through_the_catalog(
    library_settings: dict[str, str],
) -> None:
    lib = picsmith.Library(**library_settings)
    key = lib.create_key("acme", "uploads from the CMS")
    assert key.startswith("psk_") and len(key) == 44
    assert lib.check_key(key) == "acme"
    # A second server on the same catalog knows the key at once.
    other = picsmith.Library(**library_settings)
    assert other.check_key(key) == "acme"
    assert lib.check_key(key[:-1]) is None and lib.check_key("") is None
    assert lib.revoke_key(key) is True
    assert other.check_key(key) is None
    assert lib.revoke_key(key) is False
    with pytest.raises(picsmith.InvalidParameter) as caught:
        lib.create_key("")
    assert caught.value.parameter == "account"


def test_signed_paths_round_trip_and_refuse_tampering() -> None:
    signed = picsmith.sign_path("s3cret", "/cat.jpg?width=300", expires_at=2000)
    assert signed.startswith("/cat.jpg?width=300&expires=2000&signature=")
    assert picsmith.verify_signed_path(b"s3cret", signed, now=1000) == "/cat.jpg?width=300"
    for bad, now in [
        (signed, 2001),
        (signed.replace("width=300", "width=3000"), 1000),
        ("/cat.jpg?width=300", 1000),
    ]:
        with pytest.raises(picsmith.Forbidden) as caught:
            picsmith.verify_signed_path("s3cret", bad, now=now)
        assert (caught.value.http_status, caught.value.parameter) == (403, "signature")
    with pytest.raises(picsmith.Forbidden):
        picsmith.verify_signed_path("other", signed, now=1000)
    with pytest.raises(picsmith.InvalidParameter):
        picsmith.sign_path("", "/cat.jpg")


def test_remote_origins_are_off_until_enabled_and_stay_guarded(tmp_path) -> None:
    settings = {
        "storage": f"file://{tmp_path}/data",
        "catalog": f"sqlite://{tmp_path}/data/catalog.db",
        "cache": "off",
    }
    closed = picsmith.Library(**settings)
    with pytest.raises(picsmith.Forbidden) as caught:
        closed.render("/", "source_url=http://example.com/a.jpg")
    assert caught.value.parameter == "source_url"

    class Origin(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            body = JPEG if self.path == "/photos/gray.jpg" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        public_only = picsmith.Library(**settings, dynamic_origins=["origin"])
        with pytest.raises(picsmith.Forbidden):
            public_only.render("/photos/gray.jpg", f"origin=127.0.0.1:{port}")
        intranet = picsmith.Library(
            **settings, dynamic_origins=["all"], private_hosts=["127.0.0.1"]
        )
        image, _ = intranet.render("/photos/gray.jpg", f"origin=127.0.0.1:{port}&width=40")
        assert image.width == 40
        proxy = picsmith.Library(**settings, origin=f"http://127.0.0.1:{port}", private_hosts=["127.0.0.1"])
        image, _ = proxy.render("/photos/gray.jpg", "width=30")
        assert image.width == 30
        with pytest.raises(picsmith.UpstreamError):
            proxy.render("/photos/missing.jpg", "width=30")
    finally:
        server.shutdown()
    with pytest.raises(picsmith.InvalidParameter) as caught:
        picsmith.Library(**settings, dynamic_origins=["everything"])
    assert caught.value.parameter == "dynamic_origins"

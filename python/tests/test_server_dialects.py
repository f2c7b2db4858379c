"""Every endpoint of the four dialects over real HTTP, on local+SQLite and on S3+PostgreSQL.

One uvicorn server per backend serves the whole module. Uploads authenticate with a key from
the configuration (account ``default``) or from the catalog (``Library.create_key``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from conftest import FIXTURES, RunningServer

import picsmith
from picsmith.server import ServerConfig, create_app

JPEG = (FIXTURES / "gray-320.jpg").read_bytes()  # 320 x 214
KEY = "test-key-0123456789"
BODY_LIMIT = 256 * 1024
NOT_AN_IMAGE = b"plain text, not an image"
TOO_LARGE = b"\0" * (BODY_LIMIT + 1)
PRIVATE_URL = "http://169.254.169.254/latest/meta-data/photo.jpg"


def small_png(n: int) -> bytes:
    """A distinct small PNG per n."""
    return picsmith.process(JPEG, f"width={8 + n}&format=png").data


@dataclass
class Server:
    url: str
    library: picsmith.Library
    http: httpx.Client


@pytest.fixture(scope="module")
def server(module_library_settings: dict[str, str]) -> Iterator[Server]:
    config = ServerConfig(
        **module_library_settings, api_keys=[KEY], max_body_bytes=BODY_LIMIT,
        public_url="https://img.example.com",
    )
    app = create_app(config=config)
    with RunningServer(app) as running, httpx.Client(base_url=running.url, timeout=30) as http:
        yield Server(running.url, app.state.services.library, http)


@pytest.fixture
def nothing_half_written(server: Server) -> Iterator[None]:
    """After a test of refusals: no record lacks its blob and no blob lacks its record."""
    yield
    assert server.library.verify() == []
    assert server.library.gc(0)["removed_blobs"] == 0, "a refused upload left a blob behind"


def image_at(server: Server, url: str, query: str = "") -> picsmith.Image:
    """The image a public URL of the server names, fetched from the test server."""
    path = url.removeprefix("https://img.example.com")
    response = server.http.get(path + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.text
    return picsmith.process(response.content)


# ---------------------------------------------------------------- Imagizer


def imagizer_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    return error


def test_imagizer_storage_api_upload_transform_delete(server: Server) -> None:
    bearer = {"Authorization": f"Bearer {KEY}"}
    response = server.http.post(
        "/api/v1/images", headers=bearer, files={"file": ("cat photo.jpg", JPEG, "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"url", "width", "height"}
    assert (answer["width"], answer["height"]) == (320, 214)
    assert answer["url"].startswith("https://img.example.com/cat_photo_")
    assert image_at(server, answer["url"], "width=100&format=webp").width == 100

    path = answer["url"].removeprefix("https://img.example.com")
    record = server.library.get_by_path(path)
    by_id = server.http.get(f"/{record['id']}?height=50")
    assert by_id.status_code == 200 and picsmith.process(by_id.content).height == 50

    assert server.http.delete(path, headers=bearer).status_code == 204
    imagizer_error(server.http.get(path), 404, "not_found")
    imagizer_error(server.http.delete(path, headers=bearer), 404, "not_found")


def test_imagizer_path_upload_with_cache_processed_and_cache_queries(server: Server) -> None:
    bearer = {"Authorization": f"Bearer {KEY}"}
    response = server.http.post(
        "/products/shoe.jpg",
        headers=bearer,
        files={"file": ("in.jpg", JPEG, "image/jpeg")},
        data={"cache_processed": "true", "width": "160",
              "cache_queries": json.dumps(["width=40", "height=30"])},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "url": "https://img.example.com/products/shoe.jpg", "width": 160, "height": 107,
    }
    # The stored original is the processed one, and the variants were rendered at upload.
    first = server.http.get("/products/shoe.jpg?width=40")
    assert first.headers["x-picsmith-cache"] == "hit"
    assert picsmith.process(first.content).width == 40
    assert server.http.get("/products/shoe.jpg?h=30").headers["x-picsmith-cache"] == "hit"
    assert picsmith.process(server.http.get("/products/shoe.jpg").content).width == 160

    # Uploading to the same path replaces the image; without cache_processed it is kept as is.
    again = server.http.post(
        "/products/shoe.jpg", headers=bearer, files={"file": ("x.png", small_png(1), "image/png")}
    )
    assert again.json()["width"] == 9
    assert server.http.get("/products/shoe.jpg").headers["content-type"] == "image/png"


def test_imagizer_http_caching_headers(server: Server) -> None:
    bearer = {"Authorization": f"Bearer {KEY}"}
    server.http.post("/caching.jpg", headers=bearer, files={"file": ("c.jpg", JPEG)})
    response = server.http.get("/caching.jpg?width=64&format=png")
    assert response.status_code == 200
    etag = response.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert response.headers["cache-control"].startswith("public")
    assert int(response.headers["content-length"]) == len(response.content)
    assert "content-encoding" not in response.headers, "images are not gzipped"

    cached = server.http.get("/caching.jpg?width=64&format=png",
                             headers={"If-None-Match": f'"other", {etag}'})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["etag"] == etag
    changed = server.http.get("/caching.jpg?width=65&format=png", headers={"If-None-Match": etag})
    assert changed.status_code == 200

    head = server.http.head("/caching.jpg?width=64&format=png")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == etag

    auto = server.http.get("/caching.jpg?w=30&format=auto", headers={"Accept": "image/webp"})
    assert auto.headers["content-type"] == "image/webp" and auto.headers["vary"] == "Accept"

    meta = server.http.get("/caching.jpg?meta=true")
    assert meta.headers["content-type"].startswith("application/json")
    assert (meta.json()["width"], meta.json()["height"]) == (320, 214)


@pytest.mark.usefixtures("nothing_half_written")
def test_imagizer_refusals(server: Server) -> None:
    files = {"file": ("a.jpg", JPEG, "image/jpeg")}
    missing = server.http.post("/api/v1/images", files=files)
    imagizer_error(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    imagizer_error(server.http.post("/api/v1/images", files=files,
                                    headers={"Authorization": "Bearer wrong"}), 403, "forbidden")
    imagizer_error(server.http.delete("/caching.jpg"), 401, "unauthorized")

    bearer = {"Authorization": f"Bearer {KEY}"}
    imagizer_error(server.http.post("/api/v1/images", headers=bearer,
                                    files={"file": ("a.jpg", NOT_AN_IMAGE)}),
                   415, "unsupported_format")
    imagizer_error(server.http.post("/api/v1/images", headers=bearer,
                                    files={"file": ("a.jpg", TOO_LARGE)}), 413, "limit_exceeded")
    error = imagizer_error(server.http.post("/x.jpg", headers=bearer, data={"width": "5"}),
                           400, "invalid_parameter")
    assert error["parameter"] == "file"
    error = imagizer_error(
        server.http.post("/x.jpg", headers=bearer, files=files,
                         data={"cache_processed": "true", "width": "abc"}),
        400, "invalid_parameter",
    )
    assert error["parameter"] == "width"
    imagizer_error(server.http.post("/a/%2E%2E/x.jpg", headers=bearer, files=files),
                   400, "invalid_parameter")
    imagizer_error(server.http.get("/nothing-here.jpg"), 404, "not_found")


# ---------------------------------------------------------------- ImageResizer


def resizer_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["response"]["code"] == code and body["response"]["message"]
    return body["response"]


def test_imageresizer_create_get_tag_account_delete(server: Server) -> None:
    created = []
    for n in range(2):
        response = server.http.post(
            f"/v1/images?key={KEY}&tags=animal,dog", content=small_png(n),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        image = body["response"]
        assert set(image) == {"id", "width", "height", "filesize", "tags"}
        assert (image["width"], image["filesize"], image["tags"]) == (
            8 + n, len(small_png(n)), ["animal", "dog"]
        )
        created.append(image["id"])

    one = server.http.get(f"/v1/images/{created[0]}", params={
        "key": KEY, "verbose": "true", "with_exif": "true", "with_mini_preview": "true",
        "with_account": "true",
    }).json()["response"]
    assert one["id"] == created[0] and one["format"] == "png" and one["mime"] == "image/png"
    assert one["created"].endswith("Z") and one["url"].startswith("https://img.example.com/")
    assert one["exif"] == {}
    assert picsmith.process(base64.b64decode(one["mini_preview"])).format == "jpeg"
    assert one["account"]["num_images"] >= 2

    ids = ",".join(created)
    tagged = server.http.get(f"/v1/images/{ids}/add_tags?key={KEY}&tags=pet,four_legs").json()
    assert tagged["success"] and [i["tags"] for i in tagged["response"]] == [
        ["animal", "dog", "pet", "four_legs"]] * 2
    untagged = server.http.get(f"/v1/images/{created[1]}/remove_tags",
                               params={"key": KEY, "tags": "dog,pet"}).json()
    assert untagged["response"]["tags"] == ["animal", "four_legs"]

    account = server.http.get(f"/v1/account?key={KEY}").json()
    assert account["success"] is True
    usage = account["response"]
    assert set(usage) == {"num_images", "storage"}
    assert set(usage["storage"]) == {"max", "max_readable", "used", "used_readable",
                                     "remaining", "remaining_readable"}
    before = usage["num_images"]

    deleted = server.http.get(f"/v1/images/{ids}/delete?key={KEY}").json()
    assert [i["id"] for i in deleted["response"]] == created
    resizer_error(server.http.get(f"/v1/images/{created[0]}?key={KEY}"), 404, "not_found")
    after = server.http.get(f"/v1/account?key={KEY}").json()["response"]["num_images"]
    assert after == before - 2


@pytest.mark.usefixtures("nothing_half_written")
def test_imageresizer_refusals(server: Server) -> None:
    jpeg = {"content": JPEG, "headers": {"Content-Type": "application/octet-stream"}}
    resizer_error(server.http.post("/v1/images", **jpeg), 401, "unauthorized")
    resizer_error(server.http.post("/v1/images?key=wrong", **jpeg), 403, "forbidden")
    resizer_error(server.http.get("/v1/account"), 401, "unauthorized")
    resizer_error(server.http.post(f"/v1/images?key={KEY}", content=NOT_AN_IMAGE),
                  415, "unsupported_format")
    resizer_error(server.http.post(f"/v1/images?key={KEY}", content=TOO_LARGE),
                  413, "limit_exceeded")
    resizer_error(server.http.post(f"/v1/images?key={KEY}", content=b""), 400, "invalid_parameter")
    assert resizer_error(server.http.get(f"/v1/images?key={KEY}"), 400,
                         "invalid_parameter")["parameter"] == "url"
    resizer_error(server.http.get("/v1/images", params={"key": KEY, "url": PRIVATE_URL}),
                  403, "forbidden")
    many = ",".join(f"id{i}" for i in range(21))
    for action in ("delete", "add_tags?tags=x", "remove_tags?tags=x"):
        separator = "&" if "?" in action else "?"
        error = resizer_error(
            server.http.get(f"/v1/images/{many}/{action}{separator}key={KEY}"),
            400, "invalid_parameter")
        assert error["parameter"] == "ids"
    resizer_error(server.http.get(f"/v1/images/nosuchimage1?key={KEY}"), 404, "not_found")
    resizer_error(server.http.get(f"/v1/images/nosuchimage1/delete?key={KEY}"), 404, "not_found")
    record = server.library.upload(small_png(5), file_name="keep.png", account="default")
    resizer_error(server.http.get(f"/v1/images/{record['id']},nosuchimage1/delete?key={KEY}"),
                  404, "not_found")
    assert server.library.get(record["id"])["id"] == record["id"], "nothing was deleted"
    resizer_error(server.http.get(f"/v1/images/{record['id']}/add_tags?key={KEY}"),
                  400, "invalid_parameter")
    too_many_tags = ",".join(f"t{i}" for i in range(21))
    resizer_error(server.http.get(f"/v1/images/{record['id']}/add_tags",
                                  params={"key": KEY, "tags": too_many_tags}),
                  400, "invalid_parameter")


def test_keys_from_the_catalog_act_for_their_account(server: Server) -> None:
    other = server.library.create_key("other", "dialect test")
    assert server.library.check_key(other) == "other"
    mine = server.http.post(f"/v1/images?key={KEY}", content=small_png(7)).json()["response"]
    theirs = server.http.post(f"/v1/images?key={other}", content=small_png(8)).json()
    assert theirs["success"] is True
    # Another account's image is missing, for reads and writes alike.
    resizer_error(server.http.get(f"/v1/images/{mine['id']}?key={other}"), 404, "not_found")
    resizer_error(server.http.get(f"/v1/images/{mine['id']}/delete?key={other}"),
                  404, "not_found")
    usage = server.http.get(f"/v1/account?key={other}").json()["response"]
    assert usage["num_images"] == 1
    assert server.library.get(theirs["response"]["id"])["account"] == "other"
    bearer = {"Authorization": f"Bearer {other}"}
    assert server.http.post("/api/v1/images", headers=bearer,
                            files={"file": ("k.jpg", JPEG)}).status_code == 200


# ---------------------------------------------------------------- ImageKit


def imagekit_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["reason"] == code and body["message"] and body["help"]
    return body


def test_imagekit_upload_binary_base64_and_overwrite(server: Server) -> None:
    auth = (KEY, "any-password")
    response = server.http.post(
        "/api/v1/files/upload", auth=auth,
        files={"file": ("shirt.jpg", JPEG, "image/jpeg")},
        data={"fileName": "round neck.jpg", "tags": "t-shirt,round-neck", "folder": "/products/",
              "customCoordinates": "10,10,100,100", "responseFields": "tags,metadata"},
    )
    assert response.status_code == 200, response.text
    file = response.json()
    assert set(file) == {"fileId", "name", "url", "thumbnailUrl", "height", "width", "size",
                         "filePath", "tags", "isPrivateFile", "customCoordinates", "fileType",
                         "metadata"}
    assert file["name"].startswith("round_neck_")
    assert file["filePath"] == "/products/" + file["name"]
    assert file["url"] == "https://img.example.com" + file["filePath"]
    assert (file["width"], file["height"], file["size"]) == (320, 214, len(JPEG))
    assert (file["tags"], file["customCoordinates"], file["isPrivateFile"]) == (
        ["t-shirt", "round-neck"], "10,10,100,100", False)
    assert file["fileType"] == "image"
    assert file["metadata"]["format"] == "jpeg" and file["metadata"]["width"] == 320
    assert image_at(server, file["thumbnailUrl"]).width == 200

    encoded = base64.b64encode(small_png(2)).decode()
    first = server.http.post("/api/v1/files/upload", auth=auth, data={
        "file": encoded, "fileName": "logo.png", "useUniqueFileName": "false", "tags": "a"})
    assert first.status_code == 200, first.text
    assert "metadata" not in first.json() and first.json()["name"] == "logo.png"
    second = server.http.post("/api/v1/files/upload", auth=auth, data={
        "file": "data:image/png;base64," + base64.b64encode(small_png(3)).decode(),
        "fileName": "logo.png", "useUniqueFileName": "false"})
    assert second.json()["fileId"] == first.json()["fileId"]
    assert (second.json()["width"], second.json()["tags"]) == (11, [])


def test_imagekit_private_file_is_not_served_unsigned(server: Server) -> None:
    response = server.http.post("/api/v1/files/upload", auth=(KEY, ""), data={
        "file": base64.b64encode(JPEG).decode(), "fileName": "secret.jpg",
        "isPrivateFile": "true"})
    assert response.json()["isPrivateFile"] is True
    imagizer_error(server.http.get(response.json()["filePath"] + "?width=10"), 403, "forbidden")


@pytest.mark.usefixtures("nothing_half_written")
def test_imagekit_refusals(server: Server) -> None:
    upload = {"data": {"fileName": "a.jpg"}, "files": {"file": ("a.jpg", JPEG)}}
    missing = server.http.post("/api/v1/files/upload", **upload)
    imagekit_error(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"].startswith("Basic")
    imagekit_error(server.http.post("/api/v1/files/upload", auth=("wrong", ""), **upload),
                   403, "forbidden")
    imagekit_error(server.http.post("/api/v1/files/upload", headers={"Authorization": "Basic !!"},
                                    **upload), 401, "unauthorized")
    auth = (KEY, "x")
    imagekit_error(server.http.post("/api/v1/files/upload", auth=auth,
                                    files={"file": ("a.jpg", JPEG)}), 400, "invalid_parameter")
    body = imagekit_error(server.http.post("/api/v1/files/upload", auth=auth, data={
        "file": "not base64 ###", "fileName": "a.jpg"}), 400, "invalid_parameter")
    assert "base64" in body["message"]
    imagekit_error(server.http.post("/api/v1/files/upload", auth=auth, data={
        "file": PRIVATE_URL, "fileName": "a.jpg"}), 403, "forbidden")
    imagekit_error(server.http.post("/api/v1/files/upload", auth=auth, data={"fileName": "a.jpg"},
                                    files={"file": ("a.jpg", NOT_AN_IMAGE)}),
                   415, "unsupported_format")
    imagekit_error(server.http.post("/api/v1/files/upload", auth=auth, data={"fileName": "a.jpg"},
                                    files={"file": ("a.jpg", TOO_LARGE)}), 413, "limit_exceeded")
    imagekit_error(server.http.post("/api/v1/files/upload", auth=auth, data={
        "fileName": "a.jpg", "tags": "100%"}, files={"file": ("a.jpg", JPEG)}),
        400, "invalid_parameter")
    imagekit_error(server.http.post("/api/v1/files/upload", auth=auth, data={
        "fileName": "a.jpg", "isPrivateFile": "maybe"}, files={"file": ("a.jpg", JPEG)}),
        400, "invalid_parameter")


# ---------------------------------------------------------------- Chevereto


def chevereto_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status_code"] == status and body["status_txt"]
    assert body["error"]["context"] == code and body["error"]["code"] == status
    return body["error"]


def test_chevereto_upload_json(server: Server) -> None:
    response = server.http.post(
        "/api/1/upload", headers={"X-API-Key": KEY},
        files={"source": ("Badgers music.jpg", JPEG, "image/jpeg")},
        data={"title": "Badgers", "description": "animated", "tags": "a,b", "album_id": "al1",
              "category_id": "7", "width": "100", "expiration": "PT5M", "nsfw": "1"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status_code"] == 200 and body["status_txt"] == "OK"
    assert body["success"] == {"message": "image uploaded", "code": 200}
    image = body["image"]
    assert (image["width"], image["height"]) == (100, 67)
    assert (image["title"], image["description"], image["tags"], image["tags_string"]) == (
        "Badgers", "animated", ["a", "b"], "a,b")
    assert (image["album_id"], image["category_id"], image["nsfw"]) == ("al1", "7", 1)
    assert image["original_filename"] == "Badgers music.jpg"
    assert image["extension"] == "jpg" and image["filename"] == image["name"] + ".jpg"
    assert image["expiration_date_gmt"] > image["date_gmt"]
    assert image["url"] == "https://img.example.com" + image["path_viewer"]
    assert image["image"]["url"] == image["url"] and image["mime"] == "image/jpeg"
    assert image_at(server, image["thumb"]["url"]).width == 160
    assert image_at(server, image["url_short"]).width == 100
    record = server.library.get(image["id_encoded"])
    assert record["expiresAt"] is not None and record["md5"] == image["checksum"]


def test_chevereto_key_and_source_in_every_place(server: Server) -> None:
    encoded = base64.b64encode(small_png(4)).decode()
    as_field = server.http.post("/api/1/upload", data={"key": KEY, "format": "txt"},
                                files={"source": ("s.png", small_png(4))})
    assert as_field.status_code == 200 and as_field.headers["content-type"].startswith("text/plain")
    assert as_field.text.startswith("https://img.example.com/")
    urlencoded = server.http.post("/api/1/upload", data={"key": KEY, "source": encoded})
    assert urlencoded.json()["image"]["width"] == 12
    in_query = server.http.get("/api/1/upload", params={"key": KEY, "source": encoded,
                                                          "format": "redirect"})
    assert in_query.status_code == 303
    assert in_query.headers["location"].startswith("/")
    assert server.http.get(in_query.headers["location"]).status_code == 200


@pytest.mark.usefixtures("nothing_half_written")
def test_chevereto_refusals(server: Server) -> None:
    files = {"source": ("a.jpg", JPEG)}
    chevereto_error(server.http.post("/api/1/upload", files=files), 401, "unauthorized")
    chevereto_error(server.http.post("/api/1/upload", files=files,
                                     headers={"X-API-Key": "wrong"}), 403, "forbidden")
    chevereto_error(server.http.post("/api/1/upload", data={"key": "wrong"}, files=files),
                    403, "forbidden")
    key = {"X-API-Key": KEY}
    error = chevereto_error(server.http.post("/api/1/upload", headers=key, files=files,
                                             data={"format": "xml"}), 400, "invalid_parameter")
    assert error["parameter"] == "format"
    chevereto_error(server.http.post("/api/1/upload", headers=key, files=files,
                                     data={"expiration": "tomorrow"}), 400, "invalid_parameter")
    chevereto_error(server.http.post("/api/1/upload", headers=key, files=files,
                                     data={"width": "0"}), 400, "invalid_parameter")
    chevereto_error(server.http.post("/api/1/upload", headers=key, data={"source": "@@@"}),
                    400, "invalid_parameter")
    chevereto_error(server.http.post("/api/1/upload", headers=key,
                                     files={"source": ("a.jpg", NOT_AN_IMAGE)}),
                    415, "unsupported_format")
    chevereto_error(server.http.post("/api/1/upload", headers=key,
                                     files={"source": ("a.jpg", TOO_LARGE)}),
                    413, "limit_exceeded")
    chevereto_error(server.http.get("/api/1/upload", headers=key, params={"source": PRIVATE_URL}),
                    403, "forbidden")
    chevereto_error(server.http.post("/api/1/upload", headers=key), 400, "invalid_parameter")

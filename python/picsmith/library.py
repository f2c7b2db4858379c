"""Stored images: originals, records, processed variants and remote sources.

:class:`Library` is the storage client of the engine, the same one the Node and C bindings
expose. Where it keeps things comes from its arguments, else the environment
(``PICSMITH_STORAGE``, ``PICSMITH_CATALOG``, ``PICSMITH_CACHE``, ...), else the embedded
default: files under ``./picsmith-data`` and SQLite at ``./picsmith-data/catalog.db``.
Records are dicts with camelCase keys (``id``, ``path``, ``folder``, ``name``, ``mime``,
``format``, ``size``, ``width``, ``height``, ``md5``, ``sha256``, ``phash``, ``tags``,
``title``, ``description``, ``albumId``, ``categoryId``, ``customCoordinates``, ``isPrivate``,
``nsfw``, ``account``, ``expiresAt``, ``createdAt``, ``updatedAt``; times in RFC 3339).

Example::

    lib = picsmith.Library(storage="s3://photos?endpoint=http://127.0.0.1:9000&path_style=true",
                           catalog="postgres://app@127.0.0.1:5432/photos")
    record = lib.upload(open("cat.jpg", "rb").read(), file_name="cat.jpg", tags=["cat"])
    thumb, cache_hit = lib.render(record["path"], "width=200&format=webp")
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from . import _picsmith
from ._picsmith import Image, Limits


def _options(**given: Any) -> str:
    # Unset options stay out, so the core's defaults apply; keys are the core's camelCase.
    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(part.title() for part in rest)

    return json.dumps({camel(k): v for k, v in given.items() if v is not None})


def _ids(ids: str | Iterable[str]) -> list[str]:
    return [ids] if isinstance(ids, str) else list(ids)


class Library:
    """Originals in a blob store, records in a catalog, variants in a local cache.

    :param storage: ``file://DIR``, ``memory://`` or
        ``s3://BUCKET?endpoint=URL&region=R&path_style=true`` (credentials from
        ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``).
    :param catalog: ``sqlite://FILE`` or ``postgres://USER@HOST:PORT/DB``.
    :param cache: folder of the derived-image cache, or ``"off"``.
    :param allow_private_addresses: let uploads from URL reach private addresses (intranets).
    :param allowed_hosts: only fetch from these hosts (``*.example.com`` allowed).
    :param private_hosts: hosts that may resolve to private addresses (an intranet origin)
        while every other host stays public-only.
    :param origin: the default origin: base URL of the paths the library does not hold.
    :param dynamic_origins: origin parameters queries may use (``source_url``, ``origin``,
        ``host_header``, ``resolve``, ``bucket``, ``region``, or ``"all"``); none by default.
    :param allowed_buckets: buckets ``bucket=`` may read.
    :param bucket_endpoint: S3-compatible endpoint for ``bucket=`` reads (AWS when absent).
    :param bucket_region: region when the query gives none (``us-east-1``).
    :raises PicsmithError: when a setting is invalid or a backend cannot be reached.
    """

    def __init__(
        self,
        *,
        storage: str | None = None,
        catalog: str | None = None,
        cache: str | None = None,
        cache_max_bytes: int | None = None,
        quota_bytes: int | None = None,
        allow_private_addresses: bool | None = None,
        allowed_hosts: Sequence[str] | None = None,
        private_hosts: Sequence[str] | None = None,
        origin: str | None = None,
        dynamic_origins: Sequence[str] | None = None,
        allowed_buckets: Sequence[str] | None = None,
        bucket_endpoint: str | None = None,
        bucket_region: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        settings = _options(
            storage=storage,
            catalog=catalog,
            cache=cache,
            cache_max_bytes=cache_max_bytes,
            quota_bytes=quota_bytes,
            allow_private_addresses=allow_private_addresses,
            allowed_hosts=list(allowed_hosts) if allowed_hosts is not None else None,
            private_hosts=list(private_hosts) if private_hosts is not None else None,
            origin=origin,
            dynamic_origins=list(dynamic_origins) if dynamic_origins is not None else None,
            allowed_buckets=list(allowed_buckets) if allowed_buckets is not None else None,
            bucket_endpoint=bucket_endpoint,
            bucket_region=bucket_region,
        )
        self._native = _picsmith._Library(settings, limits)

    def upload(
        self,
        file: bytes | str,
        *,
        file_name: str | None = None,
        folder: str | None = None,
        path: str | None = None,
        use_unique_file_name: bool | None = None,
        tags: Sequence[str] | None = None,
        title: str | None = None,
        description: str | None = None,
        album_id: str | None = None,
        category_id: str | None = None,
        custom_coordinates: str | None = None,
        is_private: bool | None = None,
        nsfw: bool | None = None,
        expiration: str | None = None,
        account: str | None = None,
        transform: str | None = None,
        prerender: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Stores an image and answers its record. Nothing is kept when it fails.

        :param file: the bytes, or a str holding an http(s) URL or base64 (a ``data:`` URI too).
        :param path: a full path instead of ``folder`` + ``file_name``; replaces what is there.
        :param use_unique_file_name: add a unique suffix (the default); False replaces an
            image at the same path, and its tags become exactly ``tags``.
        :param expiration: ISO 8601 duration after which the image is deleted (``PT5M``).
        :param transform: a query applied before storing (Imagizer's ``cache_processed``).
        :param prerender: queries rendered into the cache at once (``cache_queries``).
        """
        options = _options(
            file_name=file_name,
            folder=folder,
            path=path,
            use_unique_file_name=use_unique_file_name,
            tags=list(tags) if tags is not None else None,
            title=title,
            description=description,
            album_id=album_id,
            category_id=category_id,
            custom_coordinates=custom_coordinates,
            is_private=is_private,
            nsfw=nsfw,
            expiration=expiration,
            account=account,
            transform=transform,
            prerender=list(prerender) if prerender is not None else None,
        )
        if isinstance(file, str):
            return json.loads(self._native.upload_json(None, file, options))
        return json.loads(self._native.upload_json(bytes(file), None, options))

    def get(self, id: str) -> dict[str, Any]:
        """The record with this id; :class:`NotFound` when there is none."""
        return json.loads(self._native.get_json(id))

    def get_by_path(self, path: str) -> dict[str, Any]:
        """The record at this path (``/folder/name.jpg``)."""
        return json.loads(self._native.get_by_path_json(path))

    def read(self, reference: str) -> bytes:
        """The stored bytes of an image, by path or id."""
        return self._native.read(reference)

    def render(
        self, reference: str, query: str = "", *, accept: str | None = None, signed: bool = False
    ) -> tuple[Image, bool]:
        """Transforms a stored image (by path or id) through the derived cache.

        Answers the image and whether the cache had it. Private images need ``signed=True``,
        which the caller sets only after verifying a signed URL.
        """
        return self._native.render(reference, query, accept, signed)

    def delete(self, ids: str | Iterable[str]) -> list[dict[str, Any]]:
        """Deletes up to 20 images; an unknown id deletes nothing and raises NotFound."""
        return json.loads(self._native.delete_json(_ids(ids)))

    def add_tags(self, ids: str | Iterable[str], tags: Iterable[str]) -> list[dict[str, Any]]:
        """Adds tags to up to 20 images (at most 20 tags an image; all or nothing)."""
        return json.loads(self._native.add_tags_json(_ids(ids), list(tags)))

    def remove_tags(self, ids: str | Iterable[str], tags: Iterable[str]) -> list[dict[str, Any]]:
        """Removes tags from up to 20 images."""
        return json.loads(self._native.remove_tags_json(_ids(ids), list(tags)))

    def list(
        self,
        *,
        folder: str | None = None,
        tag: str | None = None,
        account: str | None = None,
        limit: int | None = None,
        skip: int | None = None,
    ) -> dict[str, Any]:
        """A page of records, newest first: ``{"images": [...], "total": n}``."""
        query = _options(folder=folder, tag=tag, account=account, limit=limit, skip=skip)
        return json.loads(self._native.list_json(query))

    def usage(self, account: str | None = None) -> dict[str, Any]:
        """``{"num_images", "storage": {"max", "max_readable", "used", ...}}``."""
        return json.loads(self._native.usage_json(account))

    def sweep_expired(self) -> list[str]:
        """Deletes the images whose expiration has passed; answers their ids."""
        return self._native.sweep_expired()

    def gc(self, grace_seconds: float = 3600.0) -> dict[str, int]:
        """Removes blobs no record points at, older than ``grace_seconds``."""
        return json.loads(self._native.gc_json(float(grace_seconds)))

    def verify(self) -> list[str]:
        """Ids whose blob is missing or has the wrong size (empty when consistent)."""
        return self._native.verify()

    def fetch(self, url: str) -> bytes:
        """A remote image under the library's address policy and input limit."""
        return self._native.fetch(url)

    def create_key(self, account: str = "default", label: str = "") -> str:
        """A new API key for ``account``, answered once; the catalog keeps only its hash, so
        every server sharing the catalog accepts it."""
        return self._native.create_key(account, label)

    def check_key(self, key: str) -> str | None:
        """The account of an API key, or None when there is no such key."""
        return self._native.check_key(key)

    def revoke_key(self, key: str) -> bool:
        """Revokes an API key; False when there was no such key."""
        return self._native.revoke_key(key)

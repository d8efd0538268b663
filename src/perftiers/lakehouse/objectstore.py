"""A tiny object store over PyArrow filesystems: a local folder or an S3-compatible bucket.

Used for `sync/telemetry/` records. Writes go to a temporary key and are then moved into place
on local disks, so readers never see half an object (S3 PUTs are atomic already). Reads of S3
are not: see `get_json`.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlparse

from pyarrow import fs

from perftiers.settings import S3Options, Settings


def s3_filesystem(options: S3Options) -> fs.S3FileSystem:
    """The filesystem for `options` (the one place they are read: object store and sync path)."""
    endpoint, scheme = options.endpoint, "https"
    if endpoint and "://" in endpoint:
        scheme, endpoint = endpoint.split("://", 1)
    secret = options.secret_access_key
    return fs.S3FileSystem(
        access_key=options.access_key_id,
        secret_key=secret.get_secret_value() if secret else None,
        region=options.region or None,
        endpoint_override=endpoint,
        scheme=scheme,
        force_virtual_addressing=not options.path_style,
    )


class ObjectStore:
    def __init__(self, filesystem: fs.FileSystem, root: str, local: bool, uri: str = ""):
        self.fs, self.root, self.local = filesystem, root.rstrip("/"), local
        self.uri = uri or root

    @classmethod
    def from_settings(cls, settings: Settings) -> "ObjectStore":
        uri = settings.object_store_uri
        parsed = urlparse(uri)
        if parsed.scheme in ("", "file"):
            root = parsed.path if parsed.scheme else uri
            filesystem = fs.LocalFileSystem()
            filesystem.create_dir(root, recursive=True)
            return cls(filesystem, root, local=True, uri=uri)
        if parsed.scheme in ("s3", "s3a"):
            filesystem = s3_filesystem(settings.object_store_options)
            return cls(filesystem, f"{parsed.netloc}{parsed.path}", local=False, uri=uri)
        raise ValueError(f"unsupported object store URI {uri!r}: use file:// or s3://")

    def _path(self, key: str) -> str:
        return f"{self.root}/{key.lstrip('/')}"

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        parent = path.rsplit("/", 1)[0]
        if self.local:
            self.fs.create_dir(parent, recursive=True)
            tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
            with self.fs.open_output_stream(tmp) as out:
                out.write(data)
            self.fs.move(tmp, path)
        else:
            with self.fs.open_output_stream(path) as out:
                out.write(data)

    def get(self, key: str) -> bytes | None:
        """The object's bytes; None when there is no such object."""
        try:
            with self.fs.open_input_stream(self._path(key)) as src:
                return src.read()
        except FileNotFoundError:
            return None

    def get_json(self, key: str, attempts: int = 5) -> Any | None:
        """The object parsed as JSON; None when there is no such object.

        PyArrow reads an S3 object as a HEAD (its size) and then ranged GETs, so a read that
        straddles a rewrite of the object (a run record going from running to succeeded) can
        come back cut to the old size, or fail. Each PUT is atomic, so reading again sees one
        whole version: a few quick re-reads, then the last error."""
        for attempt in range(attempts):
            try:
                raw = self.get(key)
                return None if raw is None else json.loads(raw)
            except (OSError, ValueError):
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return None

    def delete(self, key: str) -> bool:
        """Remove one object; False when it was not there."""
        try:
            self.fs.delete_file(self._path(key))
        except FileNotFoundError:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        """Keys directly under `prefix` (a folder), sorted ascending."""
        base = self._path(prefix).rstrip("/")
        try:
            infos = self.fs.get_file_info(fs.FileSelector(base, allow_not_found=True))
        except FileNotFoundError:
            return []
        root_len = len(self.root) + 1
        return sorted(
            i.path[root_len:] for i in infos if i.type == fs.FileType.File and not i.base_name.startswith(".tmp-")
        )

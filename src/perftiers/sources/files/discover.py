"""Finding the files of each table under the source folder (local or object store)."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
from pyarrow import fs as pafs

from perftiers.errors import BadRequest
from perftiers.lakehouse.objectstore import s3_filesystem
from perftiers.settings import S3Options
from perftiers.sources.files.model import ORDER_LINES, PRODUCTS, DataFile

_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _file_format(base: str) -> tuple[str, str | None] | None:
    low = base.lower()
    compression = None
    if low.endswith(".gz"):
        low, compression = low[:-3], "gzip"
    for ext, fmt in _EXTENSIONS.items():
        if low.endswith(ext):
            if fmt == "parquet" and compression:
                return None
            return fmt, compression
    return None


def discover(fs: pafs.FileSystem, root: str, display_path: str) -> tuple[list[DataFile], list[DataFile]]:
    """The product files and the order line files under `root`, each list sorted by name."""
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise BadRequest(f"sync path {display_path!r} does not exist")
    if info.type != pafs.FileType.Directory:
        raise BadRequest(f"sync path {display_path!r} is not a folder")
    top = fs.get_file_info(pafs.FileSelector(root, recursive=False))
    found: dict[str, list[DataFile]] = {}
    missing: list[str] = []
    for table in (PRODUCTS.name, ORDER_LINES.name):
        files: list[DataFile] = []
        for entry in top:
            base = entry.base_name
            if entry.type == pafs.FileType.File and base.lower().startswith(table) and not base.startswith((".", "_")):
                files += _file(root, entry)
        for entry in top:
            if entry.type == pafs.FileType.Directory and entry.base_name.lower() == table:
                inner = fs.get_file_info(pafs.FileSelector(entry.path, recursive=True))
                for sub in sorted(inner, key=lambda i: i.path):
                    rel = _relative(root, sub.path)
                    if sub.type == pafs.FileType.File and not any(p.startswith((".", "_")) for p in rel.split("/")):
                        files += _file(root, sub)
        files.sort(key=lambda f: f.name)
        for i, f in enumerate(files):
            f.index = i
            f.table_rank = 0 if table == PRODUCTS.name else 1
        if not files:
            missing.append(
                f"no {table} data: looked for {table}.csv, {table}.parquet or {table}.jsonl (also "
                f"{table}*.csv|.parquet|.pq|.jsonl|.ndjson, text formats optionally .gz, and a {table}/ "
                "folder of such files)"
            )
        found[table] = files
    if missing:
        raise BadRequest(f"{display_path!r} cannot be read: " + "; ".join(missing), details={"missing": missing})
    return found[PRODUCTS.name], found[ORDER_LINES.name]


def _relative(root: str, path: str) -> str:
    root = root.rstrip("/")
    return path[len(root) + 1 :] if path.startswith(root + "/") else path


def _file(root: str, info: pafs.FileInfo) -> list[DataFile]:
    fmt = _file_format(info.base_name)
    if fmt is None:
        return []
    return [DataFile(info.path, _relative(root, info.path), fmt[0], fmt[1], info.size, info.mtime)]


def filesystem_for(path: str) -> tuple[pafs.FileSystem, str]:
    parsed = urlparse(path)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and sys.platform == "win32"):
        local = parsed.path if parsed.scheme == "file" else path
        return pafs.LocalFileSystem(), str(Path(local).expanduser().resolve())
    try:
        filesystem, root = pafs.FileSystem.from_uri(path)
    except (pa.ArrowException, ValueError) as exc:
        raise BadRequest(f"cannot open sync path {path!r}: {exc}") from exc
    return filesystem, root.rstrip("/")


def s3_for(uri: str, options: S3Options) -> tuple[pafs.FileSystem, str]:
    parsed = urlparse(uri)
    return s3_filesystem(options), f"{parsed.netloc}{parsed.path}".rstrip("/")

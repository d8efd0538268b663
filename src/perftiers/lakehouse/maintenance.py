"""Table upkeep after a write: expire old snapshots, then delete the files no snapshot needs.

In:  a table just written by a sync, a refresh or a manual edit (all under the pipeline lock).
Out: snapshots that stopped being the table's current one more than `snapshot_retention_hours`
     ago expired (age counts from when a snapshot was replaced, not made, so a reader that looked
     the table up just before a commit can still load what it found); the current one is always
     kept. Then the table's files that no remaining snapshot references are deleted. PyIceberg
     0.12 has no orphan-file removal and `expire_snapshots` only edits metadata, so without this
     every overwrite would leave its data files behind for ever.

Which files may go (all must hold):
- it lies under the table's location, in `data/` (data files) or `metadata/` as `*.avro`
  (manifests and manifest lists); metadata.json files are left to the catalog
  (`write.metadata.delete-after-commit.enabled` with `previous-versions-max`);
- no remaining snapshot references it: not its manifest list, not one of its manifests, not a
  live (added or existing) entry of them;
- it is older than the retention window (with 0, any age): files of a write that has not
  committed yet are young, and perftiers' own writers never overlap (the pipeline lock).
Files left by a killed run are unreferenced and get deleted by a later run the same way.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from pyarrow import fs as pafs
from pyiceberg.table import Table

from perftiers import faults
from perftiers.lakehouse import catalog
from perftiers.settings import Settings

log = logging.getLogger(__name__)


def maintain(settings: Settings, ident: tuple[str, str]) -> dict[str, int]:
    """Expire old snapshots of the table and delete its unreferenced files; returns the counts."""
    table = catalog.load(settings, ident)
    expired = expire_snapshots(settings, ident, table)  # commits through `table`, which stays current
    deleted = delete_unreferenced_files(settings, ident, table=table) if expired else 0
    return {"expired_snapshots": expired, "deleted_files": deleted}


def expire_snapshots(settings: Settings, ident: tuple[str, str], table: Table | None = None) -> int:
    """Expire snapshots replaced more than the retention window ago; the current one stays."""
    table = table if table is not None else catalog.load(settings, ident)
    current = table.current_snapshot()
    if current is None:
        return 0
    replaced = _replaced_at(table)
    cutoff_ms = int((_now() - timedelta(hours=settings.snapshot_retention_hours)).timestamp() * 1000)
    old = [s.snapshot_id for s in table.snapshots()
           if s.snapshot_id != current.snapshot_id and max(s.timestamp_ms, replaced.get(s.snapshot_id, 0)) < cutoff_ms]
    if not old:
        return 0
    table.maintenance.expire_snapshots().by_ids(old).commit()
    return len(old)


def _replaced_at(table: Table) -> dict[int, int]:
    """When each snapshot stopped being the current one (ms since the epoch), from the snapshot log."""
    log = table.metadata.snapshot_log
    out: dict[int, int] = {}
    for entry, following in zip(log, log[1:]):
        out[entry.snapshot_id] = max(out.get(entry.snapshot_id, 0), following.timestamp_ms)
    return out


def referenced_files(table: Table) -> set[str]:
    """Paths (without scheme) of every manifest list, manifest and live data file of every snapshot."""
    io = table.io
    out: set[str] = set()
    for snapshot in table.snapshots():
        out.add(_path(snapshot.manifest_list))
        for manifest in snapshot.manifests(io):
            out.add(_path(manifest.manifest_path))
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                out.add(_path(entry.data_file.file_path))
    return out


def delete_unreferenced_files(settings: Settings, ident: tuple[str, str], *, table: Table | None = None,
                              min_age: timedelta | None = None) -> int:
    """Delete the table's unreferenced data files and manifests (see the module docstring)."""
    table = table if table is not None else catalog.load(settings, ident)
    if table.current_snapshot() is None:
        return 0
    filesystem = _filesystem(table)
    if filesystem is None:
        log.info("no orphan-file cleanup for %s: its file system cannot be listed", catalog.table_name(ident))
        return 0
    min_age = min_age if min_age is not None else timedelta(hours=settings.snapshot_retention_hours)
    cutoff = _now() - min_age
    root = _path(table.location()).rstrip("/")
    referenced = referenced_files(table)
    if _path(table.current_snapshot().manifest_list) not in referenced:  # never act on a bad listing
        return 0
    deleted = 0
    for info in _files(filesystem, root):
        relative = info.path[len(root) + 1:]
        if not (relative.startswith("data/") or (relative.startswith("metadata/") and relative.endswith(".avro"))):
            continue
        if info.path in referenced or info.mtime is None or _aware(info.mtime) > cutoff:
            continue
        try:
            filesystem.delete_file(info.path)
        except FileNotFoundError:
            continue
        deleted += 1
        faults.point("maintenance:deleted")
    if deleted:
        log.info("deleted %d unreferenced file(s) of %s", deleted, catalog.table_name(ident))
    return deleted


def _files(filesystem: pafs.FileSystem, root: str) -> list[pafs.FileInfo]:
    out: list[pafs.FileInfo] = []
    for folder in ("data", "metadata"):
        infos = filesystem.get_file_info(pafs.FileSelector(f"{root}/{folder}", recursive=True, allow_not_found=True))
        out += [i for i in infos if i.type == pafs.FileType.File]
    return out


def _filesystem(table: Table) -> pafs.FileSystem | None:
    fs_by_scheme: Any = getattr(table.io, "fs_by_scheme", None)  # PyArrowFileIO; fsspec's cannot list
    if fs_by_scheme is None:
        return None
    scheme, netloc, _ = table.io.parse_location(table.location())
    return fs_by_scheme(scheme, netloc)


def _path(location: str) -> str:
    """`file:///a/b` -> `/a/b`, `s3://bucket/a` -> `bucket/a` (as PyArrow file systems name them)."""
    from pyiceberg.io.pyarrow import PyArrowFileIO

    return PyArrowFileIO.parse_location(location)[2]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)

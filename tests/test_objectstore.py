"""The object store's reads of run records while they are being rewritten (S3: HEAD, then a ranged GET)."""

from __future__ import annotations

import io
import json

import pytest

from perftiers.lakehouse.objectstore import ObjectStore
from perftiers.lakehouse.telemetry import Telemetry

RUNNING = {"run_id": "20261203T135008356543Z-refresh-6f99ec", "status": "running"}
DONE = {**RUNNING, "status": "succeeded", "counts": {"products": 60, "rows_written": 4060}}


class RewrittenWhileRead:
    """An S3-like filesystem whose object is rewritten between a reader's HEAD and its GET, `races`
    times: such a read returns the new version cut to the old version's size (what PyArrow's S3
    input stream does), later reads the whole new version."""

    def __init__(self, old: bytes, new: bytes, races: int):
        self.old, self.new, self.races, self.reads = old, new, races, 0

    def open_input_stream(self, path: str) -> io.BytesIO:
        self.reads += 1
        if self.reads <= self.races:
            return io.BytesIO(self.new[: len(self.old)])
        return io.BytesIO(self.new)


def store_with(filesystem) -> ObjectStore:
    return ObjectStore(filesystem, "bucket/objects", local=False)


def test_a_run_record_read_across_its_rewrite_is_read_again_whole():
    fs = RewrittenWhileRead(json.dumps(RUNNING).encode(), json.dumps(DONE).encode(), races=2)
    assert Telemetry(store_with(fs)).get(RUNNING["run_id"]) == DONE
    assert fs.reads == 3


def test_a_record_that_stays_unreadable_is_an_error_not_a_missing_run():
    fs = RewrittenWhileRead(json.dumps(RUNNING).encode(), json.dumps(DONE).encode(), races=99)
    with pytest.raises(ValueError):
        store_with(fs).get_json("sync/telemetry/x.json", attempts=3)
    assert fs.reads == 3


def test_a_missing_object_is_none(tmp_path):
    store = ObjectStore.from_settings(type("S", (), {"object_store_uri": str(tmp_path)})())
    assert store.get_json("sync/telemetry/none.json") is None
    store.put("sync/telemetry/one.json", json.dumps(DONE).encode())
    assert Telemetry(store).list() == [DONE]

"""`sync.telemetry`: one JSON object per pipeline run (sync, refresh, backfill, tag push) under `sync/telemetry/`.

Run ids start with the UTC start time, so listing the prefix sorts runs by time. A record is
written when a run starts (status `running`) and rewritten when it ends.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from typing import Any, Literal, get_args

from perftiers.lakehouse.objectstore import ObjectStore

PREFIX = "sync/telemetry/"
RunKind = Literal["sync", "refresh", "backfill", "tags"]
"""Every kind of run the pipeline records (`pipeline.jobs`): the API's run model and `?kind=` filter
and the run ids use these names; a new job kind is added here first."""
KINDS: tuple[str, ...] = get_args(RunKind)
TRIGGERS = ("schedule", "manual", "cli")
STATUSES = ("running", "succeeded", "failed")


def new_run_id(kind: RunKind, started_at: datetime) -> str:
    return f"{started_at.astimezone(timezone.utc):%Y%m%dT%H%M%S%fZ}-{kind}-{secrets.token_hex(3)}"


def _key(run_id: str) -> str:
    return f"{PREFIX}{run_id}.json"


class Telemetry:
    def __init__(self, store: ObjectStore):
        self.store = store

    def write(self, record: dict[str, Any]) -> None:
        self.store.put(_key(record["run_id"]), json.dumps(record, default=str, sort_keys=True).encode())

    def get(self, run_id: str) -> dict[str, Any] | None:
        if "/" in run_id or ".." in run_id:
            return None
        return self.store.get_json(_key(run_id))

    def list(self, limit: int = 10, kind: RunKind | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        out: list[dict[str, Any]] = []
        for key in reversed(self.store.list(PREFIX)):
            if not key.endswith(".json"):
                continue
            if kind and f"-{kind}-" not in key:
                continue
            record = self.store.get_json(key)
            if record is not None:
                out.append(record)
            if len(out) >= limit:
                break
        return out


def utcnow() -> datetime:
    return datetime.now(timezone.utc)

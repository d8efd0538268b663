"""Typed dependency aliases for the routes: settings, engines, the caller, the snapshot read."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Annotated, Iterator

import duckdb
import sqlalchemy as sa
from fastapi import Depends, Request, Response

from perftiers.api.security import require
from perftiers.metadata import artifacts
from perftiers.metadata.db import engine_for
from perftiers.metadata.tokens import Principal
from perftiers.query.engine import QueryEngine
from perftiers.query.snapshot import Snapshot
from perftiers.rules import DEFAULT_SPEC, ClassificationSpec
from perftiers.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> QueryEngine:
    return request.app.state.engine


def get_db(settings: Annotated[Settings, Depends(get_settings)]) -> sa.Engine:
    return engine_for(settings.resolved_database_url)


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[QueryEngine, Depends(get_engine)]
MetaDbDep = Annotated[sa.Engine, Depends(get_db)]
ViewerDep = Annotated[Principal, Depends(require("viewer"))]
EditorDep = Annotated[Principal, Depends(require("editor"))]
AdminDep = Annotated[Principal, Depends(require("admin"))]


class SpecCache:
    """classification_spec versions never change once written: cache them per process."""

    def __init__(self) -> None:
        self._specs: dict[int, ClassificationSpec] = {}
        self._lock = threading.Lock()

    def get(self, db: sa.Engine, version: int) -> ClassificationSpec:
        with self._lock:
            spec = self._specs.get(version)
        if spec is None:
            try:
                spec = artifacts.spec_at(db, int(version))
            except LookupError:
                return DEFAULT_SPEC
            with self._lock:
                self._specs[version] = spec
        return spec


@dataclass
class Reader:
    """One request's view: a snapshot, its own DuckDB cursor, and spec lookup for reasons."""

    snapshot: Snapshot
    cur: duckdb.DuckDBPyConnection
    db: sa.Engine
    specs: SpecCache

    def spec_of(self, version: int) -> ClassificationSpec:
        return self.specs.get(self.db, version)


def get_reader(request: Request, response: Response, engine: EngineDep, db: MetaDbDep) -> Iterator[Reader]:
    with engine.reading() as (snapshot, cur):
        response.headers["X-Snapshot-Id"] = snapshot.snapshot_id
        response.headers["X-Raw-Snapshot-Id"] = snapshot.raw_snapshot_id
        yield Reader(snapshot, cur, db, request.app.state.specs)


ReaderDep = Annotated[Reader, Depends(get_reader)]

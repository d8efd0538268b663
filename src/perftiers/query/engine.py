"""The serving engine: DuckDB tables over the current Iceberg snapshots, swapped atomically.

One in-memory DuckDB database per process. Every request takes a `Snapshot` (a set of table
names) and its own cursor. A watcher compares the tables' current snapshot ids at most every
`check_interval` seconds (any process may commit); on a change it builds new tables under new
names, then swaps the reference. Requests already running keep the tables they took, which are
dropped when the last of them finishes, so a swap never interrupts or errors a request and a
request never sees a mix of two snapshots.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import duckdb

from perftiers import duck
from perftiers.errors import NotReady
from perftiers.query import snapshot as snap
from perftiers.settings import Settings

log = logging.getLogger(__name__)


class QueryEngine:
    def __init__(self, settings: Settings, *, check_interval: float = 1.0):
        self.settings = settings
        self.check_interval = check_interval
        self._con: duckdb.DuckDBPyConnection | None = None
        self._current: snap.Snapshot | None = None
        self._state = threading.Lock()
        self._loading = threading.Lock()
        self._table_users: dict[str, int] = {}
        self._generation = 0
        self._last_check = 0.0
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.last_error: str | None = None
        self.last_load_ms: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Load now (errors are kept for /readyz) and watch for new snapshots on a thread."""
        self._stop.clear()
        try:
            self.check(force=True)
        except Exception as exc:  # the watcher keeps trying; /readyz reports it
            log.warning("initial snapshot load failed: %s", exc)
        self._watcher = threading.Thread(target=self._watch, name="snapshot-watcher", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
            self._watcher = None
        # A load may be running on another thread (a finished job reloads at once): closing the
        # connection under it crashed DuckDB (SIGSEGV in CI). Wait for it; later checks see _stop.
        with self._loading:
            with self._state:
                con, self._con, self._current = self._con, None, None
            if con is not None:
                con.close()

    def _watch(self) -> None:
        last_logged = None
        while not self._stop.wait(self.check_interval):
            try:
                self.check()
                if last_logged is not None:
                    log.info("snapshot checks work again")
                last_logged = None
            except Exception as exc:  # keep serving the loaded snapshot; say so once per distinct error
                message = f"{type(exc).__name__}: {exc}"
                if message != last_logged:
                    log.warning("snapshot check failed (still serving the loaded snapshot): %s", message)
                last_logged = message

    @property
    def watching(self) -> bool:
        return self._watcher is not None and self._watcher.is_alive()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._state:
            if self._con is None:
                self._con = duck.connect(self.settings)
            return self._con.cursor()

    # -- loading and swapping ----------------------------------------------------------------

    def check(self, *, force: bool = False, wait: bool = True) -> bool:
        """Load new tables if any source snapshot changed; True when a swap happened.

        `force` skips the interval; `wait=False` returns at once if another thread is loading.
        """
        if not force and time.monotonic() - self._last_check < self.check_interval:
            return False
        if not self._loading.acquire(blocking=wait):
            return False
        try:
            if self._stop.is_set():
                return False
            self._last_check = time.monotonic()
            try:
                ids = snap.current_ids(self.settings)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                raise
            current = self._current
            if current is not None and current.ids == ids:
                self.last_error = None
                return False
            self._load(ids, current)
            self.last_error = None
            return True
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._loading.release()

    def _load(self, ids: snap.SourceIds, current: snap.Snapshot | None) -> None:
        t0 = time.perf_counter()
        self._generation += 1
        g = self._generation
        cur = self._cursor()
        created: list[str] = []
        try:
            if current is not None and current.ids.performance == ids.performance:
                performance, rows, version = current.performance, current.row_count, current.spec_version
            else:
                performance = f"performance_{g}"
                rows, version = snap.load_performance(cur, self.settings, performance, ids.performance)
                created.append(performance)
            if current is not None and current.ids.raw == ids.raw:
                raw = {"sales_days": current.sales_days, "order_days": current.order_days,
                       "products": current.products}
            else:
                raw = {"sales_days": f"sales_days_{g}", "order_days": f"order_days_{g}", "products": f"products_{g}"}
                created.extend(raw.values())
                snap.load_raw(cur, self.settings, raw, ids)
            if current is not None and current.ids.history == ids.history and current.ids.daily_sales == ids.daily_sales:
                history, daily = current.history, current.daily
            else:
                history, daily = snap.load_history(cur, self.settings, g, ids)
                created.extend((history, daily))
        except BaseException:
            for name in created:
                cur.execute(snap.drop_sql(name))
            raise
        finally:
            cur.close()
        new = snap.Snapshot(g, ids, performance, raw["sales_days"], raw["order_days"], raw["products"],
                            snap.now(), rows, version, history=history, daily=daily)
        with self._state:
            for name in new.tables:
                self._table_users[name] = self._table_users.get(name, 0) + 1
            old, self._current = self._current, new
            if old is not None:
                old.current = False
            doomed = self._retire(old) if old is not None and old.inflight == 0 else []
        self._drop(doomed)
        self.last_load_ms = (time.perf_counter() - t0) * 1000
        log.info("serving snapshot %s (raw %s, %d rows) loaded in %.0f ms",
                 new.snapshot_id, new.raw_snapshot_id, rows, self.last_load_ms)

    def _retire(self, old: snap.Snapshot) -> list[str]:
        """Called under `_state` when `old` is neither current nor in use: tables to drop."""
        doomed = []
        for name in old.tables:
            self._table_users[name] -= 1
            if self._table_users[name] == 0:
                del self._table_users[name]
                doomed.append(name)
        return doomed

    def _drop(self, names: list[str]) -> None:
        if not names:
            return
        with self._state:
            if self._con is None:
                return
            cur = self._con.cursor()
        try:
            for name in names:
                cur.execute(snap.drop_sql(name))
        finally:
            cur.close()

    # -- serving -------------------------------------------------------------------------------

    def _acquire(self) -> snap.Snapshot:
        if self._current is None:
            try:
                self.check(force=True)
            except Exception as exc:
                raise NotReady("The query engine could not load the current snapshot; try again shortly.",
                               details={"last_error": self.last_error}) from exc
        elif not self.watching:
            try:  # no watcher thread (in-process clients): check inline, never blocking on a load
                self.check(wait=False)
            except Exception as exc:
                log.warning("snapshot check failed: %s", exc)
        with self._state:
            current = self._current
            if current is None:
                raise NotReady("The query engine has not loaded a snapshot yet; try again shortly.",
                               details={"last_error": self.last_error})
            current.inflight += 1
            return current

    def _release(self, s: snap.Snapshot) -> None:
        with self._state:
            s.inflight -= 1
            doomed = self._retire(s) if s.inflight == 0 and not s.current else []
        self._drop(doomed)

    @contextmanager
    def reading(self) -> Iterator[tuple[snap.Snapshot, duckdb.DuckDBPyConnection]]:
        """A snapshot and a cursor of its own for one request (or one streamed export)."""
        s = self._acquire()
        try:
            cur = self._cursor()
            try:
                yield s, cur
            finally:
                cur.close()
        finally:
            self._release(s)

    def current(self) -> snap.Snapshot | None:
        return self._current

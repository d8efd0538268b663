"""Concurrency: one run at a time, and readers that never see an error or a torn answer.

- Two refreshes started together (two CLI processes; two API calls): exactly one runs, the other
  is told "already running" (CLI exit 2; API 409 `already_running`).
- 16 client threads read list / summary / facets from a real `perftiers serve` while refreshes
  (with changing thresholds and reference dates) commit new snapshots. Every answer is a 200 and
  names the snapshot it was served from (`X-Snapshot-Id`); answers from the same snapshot agree:
  one summary per snapshot, each tier count equal to the list total for that tier and to the facet
  count, list pages consistent with their totals, every listed row carrying the filtered flag.
  The fast test reads for a few seconds; the slow one for 60 s.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import pytest

from perftiers.pipeline import jobs
from tests.api.conftest import make_tokens
from tests.pipeline import close
from tests.reliability.helpers import cli_env, run_cli, settings_for
from tests.serve import start_server, stop_server

LIST = "/api/performance-metrics"
SUMMARY = "/api/performance-metrics/stats/summary"
FACETS = "/api/performance-metrics/facets"
REFRESH = "/api/performance-metrics/refresh"
THRESHOLDS = "/api/performance-metrics/settings/classification"
TIERS = {"top_riser": "top_risers", "winner": "winners", "banana": "bananas", "archive_candidate": "archive_candidates"}
END = date(2025, 6, 30)
FLAG_ORDER = ("top_riser", "winner", "banana", "archive_candidate")


def build_store(home: Path):
    settings = settings_for(home, demo_end_date=END.isoformat())
    jobs.sync(settings, trigger="cli")
    jobs.refresh(settings, trigger="cli", as_of=END)
    tokens = make_tokens(settings)
    close(settings)
    return settings, tokens


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store for the two-runs tests (they only add refreshes)."""
    home = tmp_path_factory.mktemp("two-runs") / "data"
    return home, build_store(home)[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("concurrency") / "data"
    settings, tokens = build_store(home)
    server = start_server(home)
    yield server, tokens
    stop_server(server)


# -- one run at a time -------------------------------------------------------------------------

def test_two_cli_refreshes_started_together_one_runs(store, tmp_path):
    """Both processes start at once; the one that takes the lock is held mid-run until the other
    has given up, so the outcome does not depend on start-up timing."""
    home, _ = store
    before = [r["run_id"] for r in jobs_records(home)]
    release = tmp_path / "release"
    env = cli_env({"demo_end_date": END.isoformat()}, PERFTIERS_TEST_PAUSE_AT="progress:reading raw tables:1",
                  PERFTIERS_TEST_PAUSE_UNTIL=str(release))
    args = ["refresh", "--as-of", END.isoformat()]
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(run_cli, home, args, env)
        second = pool.submit(run_cli, home, args, env)
        loser = None
        while loser is None:  # the loser exits at once; then let the winner finish
            loser = next((f for f in (first, second) if f.done()), None)
            time.sleep(0.05)
        release.touch()
        results = [first.result(), second.result()]
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 2], [r.output for r in results]
    refused = next(r for r in results if r.returncode == 2)
    assert "already running" in refused.output
    records = [r for r in jobs_records(home) if r["run_id"] not in before]
    assert [(r["kind"], r["status"]) for r in records] == [("refresh", "succeeded")]  # the loser left none


def jobs_records(home: Path) -> list[dict]:
    from perftiers.pipeline.runs import telemetry

    settings = settings_for(home)
    try:
        return telemetry(settings).list(limit=100)
    finally:
        close(settings)


def test_two_api_refreshes_started_together_one_gets_409(store, tmp_path):
    home, tokens = store
    release = tmp_path / "release"
    server = start_server(home, extra_env={"PERFTIERS_TEST_PAUSE_AT": "progress:reading raw tables:1",
                                           "PERFTIERS_TEST_PAUSE_UNTIL": str(release)})
    try:
        barrier = threading.Barrier(2)

        def start() -> httpx.Response:
            with httpx.Client(base_url=server.base_url, timeout=30,
                              headers={"Authorization": f"Bearer {tokens['editor']}"}) as client:
                barrier.wait()
                return client.post(REFRESH, params={"as_of": END.isoformat()})

        with ThreadPoolExecutor(2) as pool:
            responses = list(pool.map(lambda _: start(), range(2)))
        assert sorted(r.status_code for r in responses) == [202, 409], [r.text for r in responses]
        conflict = next(r for r in responses if r.status_code == 409).json()
        assert conflict["error"]["code"] == "already_running"
        assert "already running" in conflict["error"]["message"]
        run_id = next(r for r in responses if r.status_code == 202).json()["run_id"]
        release.touch()
        with httpx.Client(base_url=server.base_url, timeout=30,
                          headers={"Authorization": f"Bearer {tokens['viewer']}"}) as client:
            assert wait_for_run(client, run_id)["status"] == "succeeded"
    finally:
        release.touch()
        stop_server(server)


def wait_for_run(client: httpx.Client, run_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = client.get(f"/api/sync/runs/{run_id}").json()
        if record["status"] != "running":
            return record
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


# -- readers while refreshes commit ------------------------------------------------------------

@dataclass
class Observed:
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    summaries: dict[str, set] = field(default_factory=lambda: defaultdict(set))
    list_totals: dict[tuple[str, str], set] = field(default_factory=lambda: defaultdict(set))
    facet_tiers: dict[str, set] = field(default_factory=lambda: defaultdict(set))
    kinds: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


def check_page(body: dict, classification: str, page: int, page_size: int) -> str | None:
    total = body["total"]
    if body["totalPages"] != (math.ceil(total / page_size) if total else 0):
        return f"totalPages {body['totalPages']} for total {total}"
    expected = max(0, min(page_size, total - (page - 1) * page_size))
    if len(body["items"]) != expected:
        return f"{len(body['items'])} items on page {page} of {total} (size {page_size})"
    for item in body["items"]:
        tiers = item["classifications"]
        if classification != "all" and classification not in tiers:
            return f"{item['artifact_id']} listed under {classification} without the flag"
        nominal = next((t for t in FLAG_ORDER if t in tiers), "none")
        if item["nominal_classification"] != nominal:
            return f"{item['artifact_id']}: nominal {item['nominal_classification']} but flags {tiers}"
    return None


def reader(base_url: str, token: str, seed: int, deadline: float, seen: Observed) -> None:
    rnd = random.Random(seed)
    with httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        while time.monotonic() < deadline:
            kind = rnd.choice(("list", "list", "summary", "facets"))
            try:
                if kind == "list":
                    classification = rnd.choice(("all", *TIERS))
                    page_size, page = rnd.choice((5, 20, 50, 500)), rnd.choice((1, 1, 2, 3))
                    response = client.get(LIST, params={"classification": classification, "pageSize": page_size,
                                                        "page": page})
                elif kind == "summary":
                    response = client.get(SUMMARY)
                else:
                    response = client.get(FACETS)
            except httpx.HTTPError as exc:
                seen.error(f"{kind}: {type(exc).__name__}: {exc}")
                continue
            snapshot = response.headers.get("X-Snapshot-Id")
            with seen.lock:
                seen.requests += 1
                seen.kinds[kind] += 1
            if response.status_code != 200 or not snapshot:
                seen.error(f"{kind}: {response.status_code} snapshot={snapshot!r} {response.text[:200]}")
                continue
            body = response.json()
            with seen.lock:
                if kind == "list":
                    problem = check_page(body, classification, page, page_size)
                    if problem:
                        seen.errors.append(f"snapshot {snapshot}: {problem}")
                    seen.list_totals[(snapshot, classification)].add(body["total"])
                elif kind == "summary":
                    # Scalars only: the per-tier entered/left dicts are checked by tests/api/test_history.py.
                    seen.summaries[snapshot].add(tuple(sorted((k, v) for k, v in body.items() if not isinstance(v, dict))))
                else:
                    tiers = tuple(sorted((f["value"], f["count"]) for f in body["classifications"]))
                    seen.facet_tiers[snapshot].add((tiers, body["total"]))


def writer(base_url: str, token: str, deadline: float, stop: threading.Event) -> list[str]:
    """Save new thresholds and refresh until the deadline; the runs' ids. Always as of END: the tier
    history refuses a date before the last refreshed one, and new thresholds change every snapshot."""
    runs = []
    rnd = random.Random(7)
    with httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
        while time.monotonic() < deadline and not stop.is_set():
            body = {"top_riser_7_day_threshold": rnd.randint(1, 20), "top_riser_14_day_threshold": rnd.randint(1, 30),
                    "winner_30_day_threshold": rnd.randint(1, 40), "banana_count": rnd.randint(0, 60)}
            assert client.put(THRESHOLDS, json=body).status_code == 200
            response = client.post(REFRESH, params={"as_of": END.isoformat()})
            assert response.status_code in (202, 409), response.text
            if response.status_code == 202:
                run_id = response.json()["run_id"]
                assert wait_for_run(client, run_id)["status"] == "succeeded"
                runs.append(run_id)
    return runs


def hammer(served, seconds: float, threads: int = 16) -> tuple[Observed, list[str]]:
    server, tokens = served
    seen = Observed()
    deadline = time.monotonic() + seconds
    stop = threading.Event()
    with ThreadPoolExecutor(threads + 1) as pool:
        refreshes = pool.submit(writer, server.base_url, tokens["editor"], deadline, stop)
        readers = [pool.submit(reader, server.base_url, tokens["viewer"], seed, deadline, seen)
                   for seed in range(threads)]
        try:
            for f in readers:
                f.result()
        finally:
            stop.set()
        runs = refreshes.result()
    return seen, runs


def check_consistency(seen: Observed) -> None:
    assert seen.errors == [], seen.errors[:20]
    for snapshot, summaries in seen.summaries.items():
        assert len(summaries) == 1, f"snapshot {snapshot} gave {len(summaries)} different summaries"
    checked = 0
    for snapshot, (summary,) in ((s, tuple(v)) for s, v in seen.summaries.items()):
        summary = dict(summary)
        for (snap, classification), totals in seen.list_totals.items():
            if snap != snapshot:
                continue
            expected = summary["total_artifacts"] if classification == "all" else summary[TIERS[classification]]
            assert totals == {expected}, (snapshot, classification, totals, summary)
            checked += 1
        for tiers, total in seen.facet_tiers.get(snapshot, ()):
            assert dict(tiers) == {t: summary[k] for t, k in TIERS.items()}, (snapshot, tiers, summary)
            assert total == summary["total_artifacts"]
            checked += 1
    for (snapshot, classification), totals in seen.list_totals.items():
        assert len(totals) == 1, (snapshot, classification, totals)
    assert checked > 0


def test_readers_during_refreshes(served):
    seen, runs = hammer(served, seconds=8)
    check_consistency(seen)
    assert runs, "no refresh committed while the readers ran"
    assert len(seen.summaries) >= 2 or len({s for s, _ in seen.list_totals}) >= 2, "readers never saw a new snapshot"
    print(f"fast: {seen.requests} requests {dict(seen.kinds)}, {len(runs)} refreshes, "
          f"{len(seen.summaries)} snapshots seen")


@pytest.mark.slow
def test_sixteen_readers_for_a_minute_during_refreshes(served):
    seen, runs = hammer(served, seconds=60)
    check_consistency(seen)
    assert len(runs) >= 5
    snapshots = {s for s, _ in seen.list_totals} | set(seen.summaries)
    assert len(snapshots) >= 5, snapshots
    print(f"slow: {seen.requests} requests {dict(seen.kinds)}, {len(runs)} refreshes, {len(snapshots)} snapshots seen")

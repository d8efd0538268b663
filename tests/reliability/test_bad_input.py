"""Bad input: hostile files to the files source, hostile requests to the API.

Files (`perftiers sync --source files`): malformed, truncated, wrongly encoded and hostile files
are refused with the file, line and reason, and nothing is written (every table keeps its
snapshot; the run is recorded as failed). Huge ones (a 1 GiB line in CSV and in JSON Lines, a
header of 10^6 columns) are refused too, by a real `perftiers` process whose peak RSS stays under
1.5 GB. Values that are odd but legal (formula-like text, path-like ids, right-to-left marks) are
stored verbatim, served back by id, and nothing is written outside the data folder.

API (a real `perftiers serve`): oversize bodies, deep nesting, NUL, lone surrogates, RTL text and
very long strings in bodies, queries, paths and headers get a 4xx in the one error shape, never a
500.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path
from urllib.parse import quote

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from perftiers.errors import ValidationFailed
from perftiers.pipeline import jobs
from perftiers.pipeline.runs import telemetry
from tests.api.conftest import assert_error, bearer, make_tokens
from tests.pipeline import close, snapshot_ids
from tests.reliability.helpers import cli_env, run_cli, settings_for
from tests.serve import start_server, stop_server

PRODUCTS = ("artifact_id,product_name,product_type,vendor,tags,is_active,launched_at\n"
            "P1,Tee,Tee,Acme,\"a,b\",true,2024-01-01\n")
LINES = ("order_id,line_id,ordered_at,artifact_id,quantity,unit_price\n"
         "O1,L1,2024-02-01T10:00:00Z,P1,2,10.00\n")
MAX_RSS_MB = 1500


def parquet_bytes() -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"artifact_id": [f"P{i}" for i in range(1000)], "product_name": ["x"] * 1000}), buf)
    return buf.getvalue()


BAD = {
    # name: (files replacing the good ones, a fragment of the expected message)
    "ragged rows": ({"products.csv": PRODUCTS + "P2,a,b\nP3,x,y,z,w,v,u,t,s,r\n"},
                    "products.csv:3: expected 7 columns, found 3"),
    "unclosed quote": ({"products.csv": PRODUCTS + 'P2,"Tee,Tee,Acme,,true,\nP3,x,x,x,,true,\n'}, "products.csv:3"),
    "UTF-16": ({"products.csv": PRODUCTS.encode("utf-16")}, "products.csv:1: the header is not valid UTF-8"),
    "Latin-1 value": ({"products.csv": (PRODUCTS + "P2,Caf\xe9,Tee,Acme,,true,\n").encode("latin-1")},
                      "products.csv:3: product_name: b'Caf\\xe9' is not valid UTF-8 text"),
    "lone surrogate bytes": ({"products.csv": PRODUCTS.encode() + b"P2,\xed\xa0\x80x,Tee,Acme,,true,\n"},
                             "is not valid UTF-8 text"),
    "NUL bytes": ({"products.csv": PRODUCTS + "P\x002,Te\x00e,Tee,Acme,,true,\n"},
                  "artifact_id: 'P\\x002' contains a NUL character"),
    "binary garbage": ({"products.csv": os.urandom(50_000)}, "products.csv"),
    "truncated Parquet": ({"products.csv": None, "products.parquet": parquet_bytes()[:2000]},
                          "products.parquet: is not a readable Parquet file"),
    "not Parquet": ({"products.csv": None, "products.parquet": b"PAR1" + os.urandom(1000)},
                    "is not a readable Parquet file"),
    "truncated gzip": ({"products.csv": None, "products.csv.gz": gzip.compress(PRODUCTS.encode() * 500)[:300]},
                       "products.csv.gz: cannot be read"),
    "malformed JSON lines": ({"products.csv": None,
                              "products.jsonl": '{"artifact_id": "P1"}\n{"artifact_id": \n[1,2]\n"str"\n'},
                             "products.jsonl:2: malformed JSON"),
    "JSON nested 100,000 deep": ({"products.csv": None, "products.jsonl":
                                  '{"artifact_id": "P1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n"},
                                 "products.jsonl:1: the JSON is nested too deeply"),
    "missing column": ({"order_lines.csv": "order_id,line_id,artifact_id\nO1,L1,P1\n"},
                       "missing required column 'ordered_at'"),
    "duplicate keys": ({"order_lines.csv": LINES + "O2,L1,2024-02-02T10:00:00Z,P1,1,5.00\n"}, "L1"),
    "bad values": ({"order_lines.csv": LINES + "O2,L2,yesterday,P1,-3,1e999999\n"}, "order_lines.csv:3"),
}

HOSTILE_BUT_LEGAL = {
    "=cmd|' /C calc'!A0": "formula injection",
    "../../etc/passwd": "path traversal",
    "..\\..\\windows\\win.ini": "path traversal (Windows)",
    "/absolute/path": "absolute path",
    "P\u202egpj.exe": "right-to-left override",
    "x" * 2000: "very long id",
}


def write_case(folder: Path, files: dict) -> Path:
    folder.mkdir(parents=True)
    for name, content in {"products.csv": PRODUCTS, "order_lines.csv": LINES, **files}.items():
        if content is not None:
            (folder / name).write_bytes(content.encode() if isinstance(content, str) else content)
    return folder


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A data folder after one good files sync, and its snapshot ids."""
    root = tmp_path_factory.mktemp("bad-input")
    settings = settings_for(root / "data", sync_source="files")
    good = write_case(root / "good", {})
    jobs.sync(settings, trigger="cli", path=str(good))
    before = snapshot_ids(settings)
    close(settings)
    assert all(before[t] is not None for t in ("raw.products", "raw.order_lines"))
    return settings, before


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_file_is_refused_and_nothing_is_written(synced, tmp_path, case):
    settings, before = synced
    files, message = BAD[case]
    folder = write_case(tmp_path / "in", files)
    try:
        with pytest.raises(ValidationFailed) as refused:
            jobs.sync(settings, trigger="cli", path=str(folder))
        assert message in refused.value.message, refused.value.message
        assert "nothing was written" in refused.value.message or "Fix" in refused.value.message
        assert snapshot_ids(settings) == before
        last = telemetry(settings).list(limit=1)[0]
        assert last["status"] == "failed" and message.split(":")[0] in last["error"]
    finally:
        close(settings)


def test_hostile_but_legal_values_are_stored_verbatim(tmp_path):
    settings = settings_for(tmp_path / "data")
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([v, label, "Tee", "Acme", "", "true", ""]
                                                  for v, label in HOSTILE_BUT_LEGAL.items())
    folder = write_case(tmp_path / "in", {"products.csv": PRODUCTS + out.getvalue()})
    outside = {p for p in tmp_path.rglob("*")}
    jobs.sync(settings, trigger="cli", source="files", path=str(folder))
    jobs.refresh(settings, trigger="cli")
    tokens = make_tokens(settings)
    close(settings)
    from tests.api.conftest import client_for

    app, client = client_for(settings)
    try:
        for artifact_id in HOSTILE_BUT_LEGAL:
            response = client.get(f"/api/performance-metrics/{quote(artifact_id, safe='')}",
                                  headers=bearer(tokens["viewer"]))
            assert response.status_code == 200, (artifact_id[:40], response.text[:200])
            assert response.json()["artifact_id"] == artifact_id
        # the CSV export defuses formula-like cells for spreadsheets (a leading ')
        export = client.get("/api/performance-metrics/export", params={"format": "csv"},
                            headers=bearer(tokens["viewer"]))
        rows = {r["product_name"]: r for r in csv.DictReader(io.StringIO(export.text))}
        assert rows["formula injection"]["artifact_id"] == "'=cmd|' /C calc'!A0"
        assert rows["absolute path"]["artifact_id"] == "/absolute/path"
    finally:
        app.state.engine.stop()
        close(settings)
    created = {p for p in tmp_path.rglob("*")} - outside
    assert all(p.is_relative_to(settings.home) for p in created), sorted(str(p) for p in created)[:10]
    assert not Path("/etc/passwd.csv").exists()


# -- huge files: a real process, peak memory measured -------------------------------------------

def sparse_line(path: Path, head: bytes, size: int) -> None:
    """`head` then NUL bytes up to `size`: a line of ~size bytes that takes no disk space."""
    with open(path, "wb") as out:
        out.write(head)
        out.truncate(size)


def wide_header(path: Path, columns: int) -> None:
    with open(path, "w") as out:
        out.write("artifact_id,product_name," + ",".join(f"c{i}" for i in range(columns)) + "\nP1,Tee\n")


HUGE = {
    "CSV with a 1 GiB line": (lambda d: sparse_line(d / "products.csv", PRODUCTS.encode() + b"P2,", 1 << 30),
                              "products.csv: cannot be read as CSV after data row 1"),
    "JSON Lines with a 1 GiB line": (
        lambda d: (os.remove(d / "products.csv"),
                   sparse_line(d / "products.jsonl", b'{"artifact_id": "P1"}\n{"artifact_id": "', 1 << 30)),
        "products.jsonl:2: the line is longer than 16 MiB"),
    "CSV header of 10^6 columns": (lambda d: wide_header(d / "products.csv", 10**6),
                                   "products.csv:1: the header has 1,000,002 columns"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(HUGE))
def test_huge_files_are_refused_in_bounded_memory(synced, tmp_path, case):
    settings, before = synced
    make, message = HUGE[case]
    folder = write_case(tmp_path / "in", {})
    make(folder)
    result = run_cli(settings.home, ["sync", "--source", "files", "--path", str(folder)], cli_env(), timeout=300)
    output = " ".join(result.output.split())  # rich wraps long lines
    assert result.returncode == 2, result.output[-2000:]
    assert message in output and "nothing was written" in output, output[-1000:]
    assert "Traceback" not in result.output
    assert result.max_rss_mb < MAX_RSS_MB, f"{case}: peak RSS {result.max_rss_mb:.0f} MB"
    print(f"{case}: refused in {result.seconds:.1f} s, peak RSS {result.max_rss_mb:.0f} MB")
    try:
        assert snapshot_ids(settings) == before
    finally:
        close(settings)


# -- the API over real HTTP ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.api import store as known
    from tests.api.conftest import make_settings

    home = tmp_path_factory.mktemp("bad-api") / "data"
    settings = known.build(make_settings(home))
    tokens = make_tokens(settings)
    close(settings)
    served = start_server(home)
    yield served, tokens
    stop_server(served)
    assert "Traceback" not in served.log(), served.log()[-3000:]


def raw_request(base: str, method: str, target: str, headers: dict, body: bytes = b"") -> httpx.Response:
    """Send `target` as given (no re-encoding of the path or query by the client)."""
    with httpx.Client(base_url=base, timeout=60) as client:
        request = client.build_request(method, "/", headers=headers, content=body)
        request.url = request.url.copy_with(raw_path=target.encode("ascii"))
        return client.send(request)


BODIES = {
    "2 MiB body": b'{"artifact_id": "big", "product_name": "' + b"x" * (2 << 20) + b'"}',
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "nested objects": b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    "NUL in a string": b'{"artifact_id": "x\\u0000y"}',
    "raw NUL byte": b'{"artifact_id": "x\x00y"}',
    "lone surrogate": b'{"artifact_id": "\\ud800"}',
    "raw surrogate bytes": b'{"artifact_id": "\xed\xa0\x80"}',
    "very long strings": json.dumps({"artifact_id": "y" * 600, "product_name": "z" * 100_000}).encode(),
    "huge number": b'{"artifact_id": "n", "sales_last_30_days": 1' + b"0" * 5000 + b"}",
    "not UTF-8": b'{"artifact_id": "\xff\xfe"}',
    "truncated": b'{"artifact_id": "abc',
    "empty": b"",
}
TARGETS = [
    "/api/performance-metrics?search=" + "%00",
    "/api/performance-metrics?search=%ED%A0%80",
    "/api/performance-metrics?search=%E2%80%AEabc",
    "/api/performance-metrics?search=" + "a" * 8000,
    "/api/performance-metrics?tag=" + "%FF" * 100,
    "/api/performance-metrics?page=" + "9" * 400,
    "/api/performance-metrics/%00",
    "/api/performance-metrics/%ED%A0%80",
    "/api/performance-metrics/" + "%2e%2e%2f" * 5 + "etc%2fpasswd",
    "/api/performance-metrics/" + "a" * 6000,
    "/api/sync/runs/%00",
    "/analytics/commerce/overview?from=%00&to=9999-99-99",
]


def test_rtl_text_is_legal_and_comes_back_as_sent(server):
    served, tokens = server
    body = {"artifact_id": "\u202eabc\u200f", "product_name": "\u202egpj.exe \u05e9\u05dc\u05d5\u05dd"}
    with httpx.Client(base_url=served.base_url, timeout=60, headers=bearer(tokens["editor"])) as client:
        created = client.post("/api/performance-metrics", json=body)
        assert created.status_code == 201, created.text
        got = client.get(f"/api/performance-metrics/{quote(body['artifact_id'], safe='')}")
        assert got.status_code == 200 and got.json()["product_name"] == body["product_name"]
        found = client.get("/api/performance-metrics", params={"search": "\u202egpj"}).json()
        assert [i["artifact_id"] for i in found["items"]] == [body["artifact_id"]]


@pytest.mark.parametrize("name", list(BODIES))
def test_odd_bodies_get_a_4xx_in_the_error_shape(server, name):
    served, tokens = server
    for method, path in (("POST", "/api/performance-metrics"), ("PUT", "/api/performance-metrics/SKU-001"),
                         ("PUT", "/api/performance-metrics/settings/classification"), ("POST", "/api/session")):
        response = raw_request(served.base_url, method, path,
                               {**bearer(tokens["editor"]), "Content-Type": "application/json"}, BODIES[name])
        assert 400 <= response.status_code < 500, (name, method, path, response.status_code, response.text[:300])
        assert_error(response, response.status_code)
    if name == "2 MiB body":
        assert response.status_code == 413


def test_odd_paths_queries_and_headers_never_give_a_5xx(server):
    served, tokens = server
    for target in TARGETS:
        response = raw_request(served.base_url, "GET", target, bearer(tokens["viewer"]))
        assert response.status_code < 500, (target[:80], response.status_code, response.text[:300])
        if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
            assert_error(response, response.status_code)
    for value in ("\u202e", "x" * 6000, "v\u00e9"):
        response = raw_request(served.base_url, "PUT", "/api/performance-metrics/settings/classification",
                               {**bearer(tokens["editor"]), "If-Match": value.encode("utf-8"),
                                "Content-Type": "application/json"},
                               json.dumps({"top_riser_7_day_threshold": 1, "top_riser_14_day_threshold": 1,
                                           "winner_30_day_threshold": 1, "banana_count": 1}).encode())
        assert response.status_code in (412, 431, 400), (value[:20], response.status_code, response.text[:300])
    response = raw_request(served.base_url, "GET", "/api/performance-metrics", {"Authorization": "Bearer " + "x" * 60_000})
    assert response.status_code in (400, 401, 431), response.status_code


def test_dates_are_iso_days_only(server):
    """Pydantic alone reads `0` or `86400` as days of 1970 (Unix time); the API takes YYYY-MM-DD only
    (found by Schemathesis: `from=-8e-259` was accepted)."""
    served, tokens = server
    with httpx.Client(base_url=served.base_url, timeout=30, headers=bearer(tokens["editor"])) as client:
        for path, param in (("/analytics/commerce/overview", "from"), ("/analytics/commerce/daily", "to"),
                            ("/api/performance-metrics", "launched_from"),
                            ("/api/performance-metrics/stats/summary", "launched_to")):
            for value in ("0", "86400", "-8e-259", "2025-3-1", "20250301"):
                assert_error(client.get(path, params={param: value}), 400, "bad_request")
            assert client.get(path, params={param: "2025-03-01"}).status_code == 200
        assert_error(client.post("/api/performance-metrics/refresh", params={"as_of": "0"}), 400, "bad_request")

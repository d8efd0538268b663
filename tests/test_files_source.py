"""The `files` source: canonical CSV / Parquet / JSON Lines input, validation and error reports."""

from __future__ import annotations

import gzip
import json
import os
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from perftiers.errors import BadRequest, ValidationFailed
from perftiers.lakehouse import schemas
from perftiers.settings import load_settings
from perftiers.sources.base import SourceRejected
from perftiers.sources.files import FilesSource

UTC = timezone.utc

PRODUCTS_HEADER = "artifact_id,product_name,product_type,vendor,tags,is_active,launched_at"
LINES_HEADER = "order_id,line_id,ordered_at,artifact_id,quantity,unit_price,discount,refunded_quantity,cancelled,currency"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def csv_rows(header: str, *rows: str) -> str:
    return "\n".join([header, *rows]) + "\n"


def good_products(folder: Path, name: str = "products.csv") -> Path:
    return write(
        folder / name,
        csv_rows(PRODUCTS_HEADER, "A1,Shirt,Tops,Acme,red,true,2024-01-01", "A2,Hat,Hats,Acme,,false,"),
    )


def good_line(i: int, artifact: str = "A1") -> str:
    return f"O{i},L{i},2024-03-02T10:00:00Z,{artifact},2,9.99,,,,"


def extract(folder: Path, **kwargs) -> tuple[pa.Table, pa.Table, dict]:
    result = FilesSource(folder, **kwargs).extract()
    batches = list(result.order_lines())
    for batch in batches:
        assert batch.schema == schemas.ORDER_LINES
    lines = pa.Table.from_batches(batches, schema=schemas.ORDER_LINES)
    assert result.products.schema == schemas.PRODUCTS
    return result.products, lines, result.counts


def rejected(folder: Path, **kwargs) -> SourceRejected:
    with pytest.raises(SourceRejected) as info:
        FilesSource(folder, **kwargs).extract()
    return info.value


def by_id(table: pa.Table, key: str) -> dict[str, dict]:
    return {row[key]: row for row in table.to_pylist()}


def ts(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- round trips ---------------------------------------------------------------------------------


def test_csv_round_trip_values_defaults_and_time_zones(tmp_path: Path) -> None:
    write(
        tmp_path / "products.csv",
        csv_rows(
            PRODUCTS_HEADER + ",unknown_extra",
            'A1, Shirt ,Tops,Acme," color:red, season:summer,, ",YES,2024-03-01,x',
            "A2,Hat,Hats,Acme,,False,2024-03-01T10:00:00+02:00,y",
            "A3,Sock,,,,,2024-03-01 10:00:00,",
            "A4,Scarf,,,,0,,",
            "A5,Glove,,,,No,2024-03-31,",  # DST starts in Berlin that night: midnight is still +01:00
        ),
    )
    write(
        tmp_path / "order_lines.csv",
        csv_rows(
            LINES_HEADER,
            "O1,L1,2024-03-02T10:00:00Z,A1,2,19.99,1.5,1,no,eur",
            "O1,L2,2024-03-02 10:00:00,A2,1,5,,,,",
            "O2,L3,2024-03-03,A9,3,0.1,,,1,",
            "O3,L4,2024-03-03T23:30:00.1234567-05:00,A1,4,12345678901234.9999,0.0001,4,TRUE,GBP",
        ),
    )
    products, lines, counts = extract(tmp_path, timezone="Europe/Berlin", currency="CHF")

    p = by_id(products, "artifact_id")
    assert list(p) == ["A1", "A2", "A3", "A4", "A5"]
    assert p["A1"] == {
        "artifact_id": "A1",
        "product_name": "Shirt",
        "product_type": "Tops",
        "vendor": "Acme",
        "tags": ["color:red", "season:summer"],
        "is_active": True,
        # a bare date is midnight in the store timezone (Berlin, +01:00 in March)
        "launched_at": ts(2024, 2, 29, 23, 0),
    }
    assert p["A2"]["launched_at"] == ts(2024, 3, 1, 8, 0)  # explicit offset
    assert p["A2"]["is_active"] is False and p["A2"]["tags"] == []
    assert p["A3"]["launched_at"] == ts(2024, 3, 1, 10, 0)  # no offset: UTC
    assert p["A3"]["is_active"] is True  # empty cell: active
    assert p["A3"]["product_type"] is None and p["A3"]["vendor"] is None
    assert p["A4"]["is_active"] is False and p["A4"]["launched_at"] is None
    assert p["A5"]["launched_at"] == ts(2024, 3, 30, 23, 0)

    rows = by_id(lines, "line_id")
    assert rows["L1"] == {
        "order_id": "O1",
        "line_id": "L1",
        "ordered_at": ts(2024, 3, 2, 10, 0),
        "artifact_id": "A1",
        "quantity": 2,
        "unit_price": Decimal("19.9900"),
        "discount": Decimal("1.5000"),
        "refunded_quantity": 1,
        "cancelled": False,
        "currency": "EUR",
    }
    assert rows["L2"]["ordered_at"] == ts(2024, 3, 2, 10, 0)  # no offset: UTC
    assert rows["L2"]["discount"] == Decimal("0") and rows["L2"]["refunded_quantity"] == 0
    assert rows["L2"]["cancelled"] is False and rows["L2"]["currency"] == "CHF"  # store currency
    assert rows["L3"]["ordered_at"] == ts(2024, 3, 2, 23, 0)  # bare date: store midnight
    assert rows["L3"]["unit_price"] == Decimal("0.1") and rows["L3"]["cancelled"] is True
    assert rows["L4"]["ordered_at"] == datetime(2024, 3, 4, 4, 30, 0, 123456, tzinfo=UTC)
    assert rows["L4"]["unit_price"] == Decimal("12345678901234.9999")
    assert rows["L4"]["discount"] == Decimal("0.0001")
    assert counts == {
        "products": 5,
        "order_lines": 4,
        "unmapped_order_lines": 1,  # A9 is not a product: kept and counted
        "product_files": 1,
        "order_line_files": 1,
    }


def test_parquet_round_trip_with_native_types(tmp_path: Path) -> None:
    pq.write_table(
        pa.table(
            {
                "Artifact_ID": pa.array(["A1", "A2", "A3"]).dictionary_encode(),
                "product_name": ["Shirt", None, "Sock"],
                "tags": pa.array([[" a ", "", "b"], None, []], pa.list_(pa.string())),
                "is_active": [True, False, None],
                "launched_at": pa.array([date(2024, 3, 1), None, date(2024, 7, 1)], pa.date32()),
                "ignored": [1, 2, 3],
            }
        ),
        tmp_path / "products.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "order_id": pa.array([1001, 1002], pa.int64()),  # numeric ids become text
                "line_id": ["L1", "L2"],
                "ordered_at": pa.array(
                    [datetime(2024, 3, 2, 10, 0, 0, 123456), datetime(2024, 3, 2, 12, 0)], pa.timestamp("ns", tz="+02:00")
                ),
                "artifact_id": ["A1", "A2"],
                "quantity": pa.array([3, 1], pa.int32()),
                "unit_price": pa.array([Decimal("19.99"), Decimal("5")], pa.decimal128(10, 2)),
                "discount": [0.1 + 0.2, None],  # float noise is rounded to 4 places
                "refunded_quantity": [1, None],
                "cancelled": [False, True],
                "currency": ["usd", None],
            }
        ),
        tmp_path / "order_lines.parquet",
    )
    products, lines, _ = extract(tmp_path, timezone="America/New_York")
    p = by_id(products, "artifact_id")
    assert p["A1"]["tags"] == ["a", "b"] and p["A2"]["tags"] == [] and p["A3"]["tags"] == []
    assert p["A1"]["launched_at"] == ts(2024, 3, 1, 5, 0)  # EST midnight
    assert p["A3"]["launched_at"] == ts(2024, 7, 1, 4, 0)  # EDT midnight
    assert p["A2"]["product_name"] is None and p["A2"]["is_active"] is False
    assert p["A3"]["is_active"] is True

    rows = by_id(lines, "line_id")
    assert rows["L1"]["order_id"] == "1001"
    # pyarrow stores the naive datetimes as UTC wall times of a +02:00 column
    assert rows["L1"]["ordered_at"] == datetime(2024, 3, 2, 10, 0, 0, 123456, tzinfo=UTC)
    assert rows["L1"]["quantity"] == 3 and rows["L1"]["unit_price"] == Decimal("19.99")
    assert rows["L1"]["discount"] == Decimal("0.3") and rows["L1"]["refunded_quantity"] == 1
    assert rows["L1"]["currency"] == "USD"
    assert rows["L2"]["discount"] == Decimal(0) and rows["L2"]["cancelled"] is True and rows["L2"]["currency"] == "USD"


def test_parquet_naive_timestamps_are_utc_and_text_columns_are_parsed(tmp_path: Path) -> None:
    good_products(tmp_path)
    pq.write_table(
        pa.table(
            {
                "order_id": ["O1", "O2"],
                "line_id": ["L1", "L2"],
                "ordered_at": pa.array([datetime(2024, 3, 2, 10, 0), datetime(2024, 3, 3, 0, 0)], pa.timestamp("ms")),
                "artifact_id": ["A1", "A1"],
                "quantity": ["2", "1"],
                "unit_price": ["1.25", "3"],
                "cancelled": ["yes", "no"],
            }
        ),
        tmp_path / "order_lines.parquet",
    )
    _, lines, _ = extract(tmp_path, timezone="Asia/Tokyo")
    rows = by_id(lines, "line_id")
    assert rows["L1"]["ordered_at"] == ts(2024, 3, 2, 10, 0)
    assert rows["L2"]["ordered_at"] == ts(2024, 3, 3, 0, 0)
    assert rows["L1"]["unit_price"] == Decimal("1.25") and rows["L2"]["quantity"] == 1
    assert rows["L1"]["cancelled"] is True and rows["L2"]["cancelled"] is False


def test_jsonl_round_trip(tmp_path: Path) -> None:
    write(
        tmp_path / "products.jsonl",
        "\n".join(
            json.dumps(o)
            for o in [
                {"artifact_id": "A1", "product_name": "Shirt", "tags": ["x", " y "], "is_active": True, "launched_at": "2024-03-01"},
                {"artifact_id": "A2", "tags": "p, q", "is_active": "no", "launched_at": "2024-03-01T10:00:00+05:30"},
            ]
        )
        + "\n",
    )
    write(
        tmp_path / "order_lines.jsonl",
        "\n".join(
            json.dumps(o)
            for o in [
                {"order_id": "O1", "line_id": "L1", "ordered_at": "2024-03-02T10:00:00Z", "artifact_id": "A1",
                 "quantity": 2, "unit_price": 19.99, "discount": "1.50", "cancelled": False},
                {"order_id": "O1", "line_id": "L2", "ordered_at": "2024-03-02T10:00:00", "artifact_id": "A2",
                 "quantity": 1, "unit_price": 5, "refunded_quantity": 1, "currency": "eur", "extra": {"a": 1}},
            ]
        )
        + "\n\n",
    )
    products, lines, _ = extract(tmp_path, timezone="Europe/Berlin")
    p = by_id(products, "artifact_id")
    assert p["A1"]["tags"] == ["x", "y"] and p["A1"]["launched_at"] == ts(2024, 2, 29, 23, 0)
    assert p["A2"]["tags"] == ["p", "q"] and p["A2"]["is_active"] is False
    assert p["A2"]["launched_at"] == ts(2024, 3, 1, 4, 30)
    rows = by_id(lines, "line_id")
    assert rows["L1"]["unit_price"] == Decimal("19.99") and rows["L1"]["discount"] == Decimal("1.5")
    assert rows["L1"]["refunded_quantity"] == 0 and rows["L1"]["currency"] == "USD"
    assert rows["L2"]["ordered_at"] == ts(2024, 3, 2, 10, 0) and rows["L2"]["currency"] == "EUR"
    assert rows["L2"]["refunded_quantity"] == 1 and rows["L2"]["cancelled"] is False


def test_jsonl_with_mixed_types_is_read_line_by_line(tmp_path: Path) -> None:
    good_products(tmp_path)
    lines = [
        {"order_id": 7, "line_id": "L1", "ordered_at": "2024-03-02T10:00:00Z", "artifact_id": "A1", "quantity": 2, "unit_price": "1.5"},
        {"order_id": "O8", "line_id": "L2", "ordered_at": "2024-03-02T10:00:00Z", "artifact_id": "A1", "quantity": "3", "unit_price": 2},
    ]
    write(tmp_path / "order_lines.ndjson", "\n".join(json.dumps(o) for o in lines) + "\n")
    _, table, _ = extract(tmp_path)
    rows = by_id(table, "line_id")
    assert rows["L1"]["order_id"] == "7" and rows["L1"]["unit_price"] == Decimal("1.5")
    assert rows["L2"]["quantity"] == 3 and rows["L2"]["unit_price"] == Decimal("2")


def test_several_files_subfolders_gzip_and_hidden_files(tmp_path: Path) -> None:
    write(tmp_path / "products_1.csv", csv_rows(PRODUCTS_HEADER, "A1,Shirt,,,,,"))
    (tmp_path / "products").mkdir()
    pq.write_table(pa.table({"artifact_id": ["A2"]}), tmp_path / "products" / "part-0.parquet")
    write(tmp_path / "products" / "_SUCCESS", "")
    write(tmp_path / "products" / ".hidden.csv", "garbage")
    write(tmp_path / "order_lines.csv", csv_rows(LINES_HEADER, good_line(1)))
    write(tmp_path / "order_lines" / "day=2024-03-02" / "a.jsonl", json.dumps(
        {"order_id": "O2", "line_id": "L2", "ordered_at": "2024-03-02T10:00:00Z", "artifact_id": "A2", "quantity": 1, "unit_price": 1}
    ) + "\n")
    write(tmp_path / "order_lines_old.csv.gz", gzip.compress(csv_rows(LINES_HEADER, good_line(3, "A2")).encode()))
    write(tmp_path / "notes.txt", "ignored")
    products, lines, counts = extract(tmp_path)
    assert sorted(products.column("artifact_id").to_pylist()) == ["A1", "A2"]
    assert by_id(products, "artifact_id")["A2"] == {
        "artifact_id": "A2", "product_name": None, "product_type": None, "vendor": None,
        "tags": [], "is_active": True, "launched_at": None,
    }
    assert sorted(lines.column("line_id").to_pylist()) == ["L1", "L2", "L3"]
    assert counts["product_files"] == 2 and counts["order_line_files"] == 3


def test_header_only_and_empty_files_are_fine(tmp_path: Path) -> None:
    good_products(tmp_path)
    write(tmp_path / "order_lines.csv", LINES_HEADER + "\n")
    write(tmp_path / "order_lines_2.jsonl", "")
    pq.write_table(schemas.ORDER_LINES.empty_table(), tmp_path / "order_lines_3.parquet")
    write(tmp_path / "order_lines_4.csv", "")
    products, lines, counts = extract(tmp_path)
    assert products.num_rows == 2 and lines.num_rows == 0 and counts["order_lines"] == 0


# -- settings and missing input ------------------------------------------------------------------


def test_from_settings_uses_sync_path_timezone_and_currency(tmp_path: Path) -> None:
    good_products(tmp_path)
    write(tmp_path / "order_lines.csv", csv_rows(LINES_HEADER, "O1,L1,2024-03-02,A1,1,1,,,,"))
    settings = load_settings(home=tmp_path / "home", sync_path=str(tmp_path), timezone="Asia/Tokyo", currency="JPY")
    source = FilesSource.from_settings(settings)
    assert source.name == "files"
    _, lines, _ = extract_source(source)
    assert lines.column("currency").to_pylist() == ["JPY"]
    assert lines.column("ordered_at").to_pylist() == [ts(2024, 3, 1, 15, 0)]
    other = tmp_path / "other"
    good_products(other)
    write(other / "order_lines.csv", LINES_HEADER + "\n")
    _, lines, _ = extract_source(FilesSource.from_settings(settings, path=other))
    assert lines.num_rows == 0


def extract_source(source: FilesSource) -> tuple[pa.Table, pa.Table, dict]:
    result = source.extract()
    return result.products, pa.Table.from_batches(list(result.order_lines()), schema=schemas.ORDER_LINES), result.counts


def test_from_settings_without_a_path_is_a_bad_request(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    with pytest.raises(BadRequest, match="sync_path"):
        FilesSource.from_settings(settings)


def test_missing_folder_and_missing_tables_are_explained(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="does not exist"):
        FilesSource(tmp_path / "nope").extract()
    good_products(tmp_path)
    with pytest.raises(BadRequest) as info:
        FilesSource(tmp_path).extract()
    message = str(info.value)
    assert "no order_lines data" in message
    for looked_for in ("order_lines.csv", "order_lines.parquet", "order_lines.jsonl", "order_lines/"):
        assert looked_for in message


# -- bad rows ------------------------------------------------------------------------------------


BAD_LINES = [
    ("O1,L1,2024-03-02T10:00:00Z,A1,abc,9.99,,,,", "quantity: 'abc' is not an integer"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,2.5,9.99,,,,", "quantity: '2.5' is not an integer"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,0,9.99,,,,", "quantity 0 must be at least 1"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,99999999999999999999,9.99,,,,", "quantity: '99999999999999999999' is out of range"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,2,-1,,,,", "unit_price -1.00 is negative"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,2,1.23456,,,,", "unit_price: '1.23456' has more than 4 decimal places"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,2,123456789012345,,,,", "unit_price: '123456789012345' is too big"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,2,$5,,,,", "unit_price: '$5' is not a decimal number"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,2,9.99,-1,,,", "discount -1.00 is negative"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,2,9.99,20,,,", "discount 20.00 exceeds the line total 19.98"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,2,9.99,,3,,", "refunded_quantity 3 > quantity 2"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,2,9.99,,-1,,", "refunded_quantity -1 is negative"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,2,9.99,,,maybe,", "cancelled: 'maybe' is not a boolean"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,2,9.99,,,,dollars", "currency: 'dollars' is not a 3-letter currency code"),
    ("O1,L1,yesterday,A1,2,9.99,,,,", "ordered_at: 'yesterday' is not an ISO 8601 date or date-time"),
    ("O1,L1,2024-02-30T10:00:00Z,A1,2,9.99,,,,", "ordered_at: '2024-02-30T10:00:00Z' is not a valid date/time"),
    ("O1,,2024-03-02T10:00:00Z,A1,2,9.99,,,,", "line_id: missing value"),
    ("O1,L1,2024-03-02T10:00:00Z,  ,2,9.99,,,,", "artifact_id: missing value"),
    ("O1,L1,2024-03-02T10:00:00Z,A1,2", "expected 10 columns, found 5"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_LINES, ids=[r for _, r in BAD_LINES])
def test_each_bad_csv_row_is_reported_with_file_line_and_reason(tmp_path: Path, row: str, reason: str) -> None:
    good_products(tmp_path)
    write(tmp_path / "order_lines.csv", csv_rows(LINES_HEADER, good_line(100), good_line(101), row, good_line(102)))
    error = rejected(tmp_path)
    assert error.total == 1
    [problem] = error.problems
    assert (problem.file, problem.line) == ("order_lines.csv", 4)
    assert reason in problem.reason
    assert f"order_lines.csv:4: {reason}" in str(error)


def test_bad_product_rows(tmp_path: Path) -> None:
    write(
        tmp_path / "products.csv",
        csv_rows(PRODUCTS_HEADER, "A1,Shirt,,,,sometimes,", "A2,Hat,,,,true,01/02/2024", ",Nameless,,,,,"),
    )
    write(tmp_path / "order_lines.csv", LINES_HEADER + "\n")
    error = rejected(tmp_path)
    assert [(p.file, p.line) for p in error.problems] == [("products.csv", 2), ("products.csv", 3), ("products.csv", 4)]
    assert "is_active: 'sometimes' is not a boolean" in error.problems[0].reason
    assert "launched_at: '01/02/2024' is not an ISO 8601 date" in error.problems[1].reason
    assert error.problems[2].reason == "artifact_id: missing value"


def test_a_row_with_several_problems_is_one_problem_with_every_reason(tmp_path: Path) -> None:
    good_products(tmp_path)
    write(tmp_path / "order_lines.csv", csv_rows(LINES_HEADER, "O1,L1,nope,A1,x,y,,,,"))
    error = rejected(tmp_path)
    assert error.total == 1
    reason = error.problems[0].reason
    assert "ordered_at: 'nope'" in reason and "quantity: 'x'" in reason and "unit_price: 'y'" in reason


def test_csv_line_numbers_count_blank_lines_and_quoted_newlines(tmp_path: Path) -> None:
    good_products(tmp_path)
    text = (
        LINES_HEADER + "\n"  # line 1
        + good_line(1) + "\n"  # line 2
        + "\n"  # line 3 (blank)
        + '"multi\nline order",L2,2024-03-02T10:00:00Z,A1,2,9.99,,,,\n'  # lines 4-5
        + "O3,L3,2024-03-02T10:00:00Z,A1,two,9.99,,,,\n"  # line 6
        + "O4,L4,2024-03-02T10:00:00Z\n"  # line 7: too few fields
        + "O5,L5,2024-03-02T10:00:00Z,A1,2,9.99,,,,,extra\n"  # line 8: too many
        + "O6,L6,2024-03-02T10:00:00Z,A1,1,1,,2,,\n"  # line 9
    )
    write(tmp_path / "order_lines.csv", text)
    error = rejected(tmp_path)
    assert [(p.line, p.reason) for p in error.problems] == [
        (6, "quantity: 'two' is not an integer"),
        (7, "expected 10 columns, found 3"),
        (8, "expected 10 columns, found 11"),
        (9, "refunded_quantity 2 > quantity 1"),
    ]


def test_one_bad_row_among_many_rejects_everything(tmp_path: Path) -> None:
    good_products(tmp_path)
    rows = [good_line(i) for i in range(20_000)]
    rows[12_345] = rows[12_345].replace(",2,9.99,", ",2,9.9.9,")
    write(tmp_path / "order_lines.csv", csv_rows(LINES_HEADER, *rows))
    pq.write_table(pa.table({"order_id": ["X"], "line_id": ["X1"], "ordered_at": ["2024-03-02T10:00:00Z"],
                             "artifact_id": ["A1"], "quantity": [1], "unit_price": [1.0]}), tmp_path / "order_lines_b.parquet")
    source = FilesSource(tmp_path)
    with pytest.raises(SourceRejected) as info:
        source.extract()  # nothing is handed out: no StoreExtract, no batches
    assert info.value.total == 1
    [problem] = info.value.problems
    assert (problem.file, problem.line) == ("order_lines.csv", 12_347)
    assert problem.reason == "unit_price: '9.9.9' is not a decimal number"
    assert isinstance(info.value, ValidationFailed) and info.value.status_code == 422


def test_duplicates_within_and_across_files(tmp_path: Path) -> None:
    write(tmp_path / "products.csv", csv_rows(PRODUCTS_HEADER, "A1,Shirt,,,,,", "A2,Hat,,,,,"))
    pq.write_table(pa.table({"artifact_id": ["A3", "A1"]}), tmp_path / "products_more.parquet")
    write(tmp_path / "order_lines.csv", csv_rows(LINES_HEADER, good_line(1), good_line(2), good_line(1)))
    write(
        tmp_path / "order_lines_2.jsonl",
        "\n" + json.dumps({"order_id": "O9", "line_id": "L2", "ordered_at": "2024-03-02T10:00:00Z",
                           "artifact_id": "A1", "quantity": 1, "unit_price": 1}) + "\n",
    )
    error = rejected(tmp_path)
    assert error.total == 3
    assert [str(p) for p in error.problems] == [
        "products_more.parquet row 2: artifact_id 'A1' duplicates line 2 of products.csv",
        "order_lines.csv:4: line_id 'L1' duplicates line 2 of order_lines.csv",
        "order_lines_2.jsonl:2: line_id 'L2' duplicates line 3 of order_lines.csv",
    ]


def test_missing_required_columns(tmp_path: Path) -> None:
    write(tmp_path / "products.csv", "product_name,vendor\nShirt,Acme\n")
    pq.write_table(pa.table({"order_id": ["O1"], "line_id": ["L1"], "artifact_id": ["A1"], "quantity": [1]}),
                   tmp_path / "order_lines.parquet")
    error = rejected(tmp_path)
    assert [str(p) for p in error.problems] == [
        "products.csv:1: missing required column 'artifact_id'",
        "order_lines.parquet: missing required column 'ordered_at'",
        "order_lines.parquet: missing required column 'unit_price'",
    ]
    assert error.problems[1].line == 0 and error.problems[1].unit == "file"


def test_semicolon_separated_csv_gets_a_hint(tmp_path: Path) -> None:
    write(tmp_path / "products.csv", "artifact_id;product_name\nA1;Shirt\n")
    write(tmp_path / "order_lines.csv", LINES_HEADER + "\n")
    error = rejected(tmp_path)
    assert any("must be comma-separated" in p.reason for p in error.problems)


def test_non_utf8_bytes_are_reported_by_line(tmp_path: Path) -> None:
    write(tmp_path / "products.csv", (PRODUCTS_HEADER + "\nA1,Caf\xe9,,,,,\nA2,Hat,,,,,\n").encode("latin-1"))
    ok = b'"ordered_at": "2024-03-02T10:00:00Z", "artifact_id": "A1", "quantity": 1, "unit_price": 1'
    write(tmp_path / "order_lines.jsonl", b'{"order_id": "O1", "line_id": "J1", ' + ok + b'}\n{"order_id": "\xff", "line_id": "J2", ' + ok + b"}\n")
    write(tmp_path / "order_lines.csv", ("\ufeff" + csv_rows(LINES_HEADER, good_line(1))).encode("utf-8"))  # a BOM is fine
    error = rejected(tmp_path)
    products_problem, *json_problems = error.problems
    assert (products_problem.file, products_problem.line) == ("products.csv", 2)
    assert products_problem.reason == "product_name: b'Caf\\xe9' is not valid UTF-8 text"
    assert [(p.file, p.line) for p in json_problems] == [("order_lines.jsonl", 2)]  # the BOM file is fine
    assert "order_id: b'\\xff' is not valid UTF-8 text" == json_problems[0].reason


def test_non_utf8_csv_header(tmp_path: Path) -> None:
    write(tmp_path / "products.csv", "artifact_id,n\xe4me\nA1,x\n".encode("latin-1"))
    write(tmp_path / "order_lines.csv", LINES_HEADER + "\n")
    error = rejected(tmp_path)
    assert str(error.problems[0]) == "products.csv:1: the header is not valid UTF-8 text (save the file as UTF-8)"


def test_jsonl_problems_have_line_numbers(tmp_path: Path) -> None:
    good_products(tmp_path)
    ok = {"order_id": "O1", "line_id": "L1", "ordered_at": "2024-03-02T10:00:00Z", "artifact_id": "A1", "quantity": 1, "unit_price": 1}
    text = "\n".join(
        [
            json.dumps(ok),  # 1
            "",  # 2
            '{"order_id": "O2", "line_id": ',  # 3 malformed
            "[1, 2]",  # 4 not an object
            json.dumps({**ok, "line_id": "L5", "quantity": "many"}),  # 5
            json.dumps({**ok, "line_id": "L6", "unit_price": {"amount": 1}}),  # 6
            json.dumps({k: v for k, v in ok.items() if k != "artifact_id"} | {"line_id": "L7"}),  # 7
        ]
    )
    write(tmp_path / "order_lines.jsonl", text + "\n")
    error = rejected(tmp_path)
    assert [(p.line, p.reason) for p in error.problems] == [
        (3, "malformed JSON: Expecting value (column 31)"),
        (4, "expected a JSON object, found list"),
        (5, "quantity: 'many' is not an integer"),
        (6, "unit_price: expected a single value, found a JSON object"),
        (7, "artifact_id: missing value"),
    ]


def test_jsonl_fast_path_problems_have_line_numbers(tmp_path: Path) -> None:
    good_products(tmp_path)
    ok = {"order_id": "O1", "line_id": "L1", "ordered_at": "2024-03-02T10:00:00Z", "artifact_id": "A1", "quantity": 1, "unit_price": 1}
    rows = [json.dumps({**ok, "line_id": f"L{i}"}) for i in range(10)]
    rows[6] = json.dumps({**ok, "line_id": "L6", "quantity": 0})
    write(tmp_path / "order_lines.jsonl", "\n\n".join(rows) + "\n")  # blank line between rows
    error = rejected(tmp_path)
    assert [str(p) for p in error.problems] == ["order_lines.jsonl:13: quantity 0 must be at least 1"]


def test_parquet_problems_name_the_row(tmp_path: Path) -> None:
    good_products(tmp_path)
    pq.write_table(
        pa.table({
            "order_id": ["O1", "O2", "O3"], "line_id": ["L1", "L2", "L3"],
            "ordered_at": ["2024-03-02T10:00:00Z", "2024-03-02T10:00:00Z", "soon"],
            "artifact_id": ["A1", "A1", "A1"], "quantity": [1, 2, 3], "unit_price": [1.0, 1.123456, 2.0],
        }),
        tmp_path / "order_lines.parquet",
    )
    error = rejected(tmp_path)
    assert [str(p) for p in error.problems] == [
        "order_lines.parquet row 2: unit_price: 1.123456 has more than 4 decimal places",
        "order_lines.parquet row 3: ordered_at: 'soon' is not an ISO 8601 date or date-time (e.g. 2024-05-01T13:45:00Z)",
    ]
    assert error.details["problems"][0] == {
        "file": "order_lines.parquet", "line": 2, "reason": "unit_price: 1.123456 has more than 4 decimal places", "unit": "row"
    }


def test_truncated_parquet_is_a_clear_problem_not_a_crash(tmp_path: Path) -> None:
    good_products(tmp_path)
    full = tmp_path / "full.parquet"
    pq.write_table(pa.table({"order_id": ["O1"] * 1000, "line_id": [f"L{i}" for i in range(1000)]}), full)
    data = full.read_bytes()
    full.unlink()
    write(tmp_path / "order_lines.parquet", data[: len(data) // 2])
    write(tmp_path / "order_lines_2.parquet", b"not parquet at all")
    error = rejected(tmp_path)
    assert [(p.file, p.line, p.unit) for p in error.problems] == [
        ("order_lines.parquet", 0, "file"),
        ("order_lines_2.parquet", 0, "file"),
    ]
    assert all("is not a readable Parquet file" in p.reason for p in error.problems)


def test_more_than_100_problems_keeps_100_and_counts_all(tmp_path: Path) -> None:
    good_products(tmp_path)
    rows = [f"O{i},L{i},2024-03-02T10:00:00Z,A1,{'x' if i % 2 else 1},1,,,," for i in range(500)]
    write(tmp_path / "order_lines.csv", csv_rows(LINES_HEADER, *rows))
    error = rejected(tmp_path)
    assert error.total == 250
    assert len(error.problems) == 100
    assert [p.line for p in error.problems[:3]] == [3, 5, 7]
    assert error.problems[-1].line == 201
    assert error.details["total"] == 250 and len(error.details["problems"]) == 100
    assert "250 bad row(s)" in str(error)


# -- memory budget: second pass ------------------------------------------------------------------


def test_over_the_memory_budget_lines_are_read_again(tmp_path: Path) -> None:
    good_products(tmp_path)
    write(tmp_path / "order_lines.csv", csv_rows(LINES_HEADER, *[good_line(i) for i in range(3000)]))
    small = FilesSource(tmp_path, memory_budget_bytes=1000).extract()
    big = FilesSource(tmp_path).extract()
    streamed = pa.Table.from_batches(list(small.order_lines()), schema=schemas.ORDER_LINES)
    kept = pa.Table.from_batches(list(big.order_lines()), schema=schemas.ORDER_LINES)
    assert streamed.num_rows == 3000 and streamed.equals(kept)
    assert streamed.column("unit_price").to_pylist()[:2] == [Decimal("9.99")] * 2


def test_a_file_changed_before_the_second_pass_is_refused(tmp_path: Path) -> None:
    good_products(tmp_path)
    path = write(tmp_path / "order_lines.csv", csv_rows(LINES_HEADER, *[good_line(i) for i in range(100)]))
    result = FilesSource(tmp_path, memory_budget_bytes=100).extract()
    write(path, csv_rows(LINES_HEADER, *[good_line(i) for i in range(101)]))
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    with pytest.raises(ValidationFailed, match="changed while the sync was reading it"):
        list(result.order_lines())


def test_an_unclosed_quote_is_not_silently_swallowed(tmp_path: Path) -> None:
    write(tmp_path / "products.csv", 'artifact_id,product_name\r\nA1,Shirt\r\nA2,"Hat\r\nA3,Sock\r\nA4,Scarf\r\n')
    write(tmp_path / "order_lines.csv", LINES_HEADER + "\r\n" + good_line(1) + "\r\n")
    error = rejected(tmp_path)
    assert [str(p) for p in error.problems] == [
        'products.csv:3: a quoted value that starts on this line is never closed (a stray " character?)'
    ]


def test_crlf_files_and_quoted_fields(tmp_path: Path) -> None:
    write(tmp_path / "products.csv", 'artifact_id,product_name,tags\r\nA1,"Shirt, ""blue""","a,b"\r\n')
    write(tmp_path / "order_lines.csv", LINES_HEADER + "\r\n" + good_line(1) + "\r\n" + "O2,L2,x,A1,1,1,,,,\r\n")
    error = rejected(tmp_path)
    assert [str(p) for p in error.problems] == [
        "order_lines.csv:3: ordered_at: 'x' is not an ISO 8601 date or date-time (e.g. 2024-05-01T13:45:00Z)"
    ]
    write(tmp_path / "order_lines.csv", LINES_HEADER + "\r\n" + good_line(1) + "\r\n")
    products, _, _ = extract(tmp_path)
    assert products.to_pylist()[0]["product_name"] == 'Shirt, "blue"'
    assert products.to_pylist()[0]["tags"] == ["a", "b"]


def test_jsonl_that_changes_types_midway_switches_to_line_by_line(tmp_path: Path, monkeypatch) -> None:
    from perftiers.sources.files import model

    monkeypatch.setattr(model, "JSON_BLOCK_SIZE", 1024)
    monkeypatch.setattr(model, "JSON_LINES_CHUNK", 7)
    good_products(tmp_path)
    ok = {"order_id": "O", "ordered_at": "2024-03-02T10:00:00Z", "artifact_id": "A1", "quantity": 1, "unit_price": 1}
    rows = [{**ok, "line_id": f"L{i}", "quantity": i + 1} for i in range(100)]
    rows[90]["quantity"] = "91"  # a string where numbers were: pyarrow's reader gives up here
    text = "\n".join(json.dumps(r) for r in rows) + "\n"
    write(tmp_path / "order_lines.jsonl", text)
    _, lines, _ = extract(tmp_path)
    assert lines.column("line_id").to_pylist() == [f"L{i}" for i in range(100)]
    assert lines.column("quantity").to_pylist() == list(range(1, 101))

    rows[3]["quantity"] = 0  # read by pyarrow's reader
    rows[95]["quantity"] = "lots"  # read line by line
    write(tmp_path / "order_lines.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    error = rejected(tmp_path)
    assert [str(p) for p in error.problems] == [
        "order_lines.jsonl:4: quantity 0 must be at least 1",
        "order_lines.jsonl:96: quantity: 'lots' is not an integer",
    ]


def test_row_positions_stay_right_across_many_batches(tmp_path: Path, monkeypatch) -> None:
    from perftiers.sources.files import model

    monkeypatch.setattr(model, "CSV_BLOCK_SIZE", 4096)
    monkeypatch.setattr(model, "PARQUET_BATCH_ROWS", 100)
    good_products(tmp_path)
    rows = [good_line(i) for i in range(2000)]
    rows[1500] = rows[1500].replace(",2,9.99,", ",2,oops,")
    rows[1800] = good_line(7)  # duplicates line 9 (row 8 of the data)
    write(tmp_path / "order_lines.csv", csv_rows(LINES_HEADER, *rows))
    n = 1000
    pq.write_table(
        pa.table({
            "order_id": ["P"] * n, "line_id": [f"P{i}" for i in range(n)], "ordered_at": ["2024-03-02T10:00:00Z"] * n,
            "artifact_id": ["A1"] * n, "quantity": [1] * 876 + [-1] + [1] * 123, "unit_price": [1] * n,
        }),
        tmp_path / "order_lines_p.parquet",
    )
    error = rejected(tmp_path)
    assert [str(p) for p in error.problems] == [
        "order_lines.csv:1502: unit_price: 'oops' is not a decimal number",
        "order_lines.csv:1802: line_id 'L7' duplicates line 9 of order_lines.csv",
        "order_lines_p.parquet row 877: quantity -1 must be at least 1",
    ]


@pytest.mark.parametrize("cut", ["after artifact_id", "after quantity, no newline at the end", "one field more"])
def test_a_row_cut_short_or_too_long_is_refused_in_csv_files(tmp_path: Path, cut: str) -> None:
    """Issue 12, defect 1, for the files source: pyarrow's invalid_row_handler already refuses a row
    with fewer or more fields than the header (this test passed before the fix of the Shopify CSV
    reader too). A cancelled line that lost its trailing fields is never read as a sale."""
    good_products(tmp_path)
    cancelled = "O9,L9,2024-03-03T10:00:00Z,A1,1,60.00,0,0,true,USD".split(",")
    row = {"after artifact_id": cancelled[:4], "after quantity, no newline at the end": cancelled[:5],
           "one field more": cancelled + ["x"]}[cut]
    text = csv_rows(LINES_HEADER, good_line(1), good_line(2)) + ",".join(row)
    write(tmp_path / "order_lines.csv", text if "no newline" in cut else text + "\n")
    error = rejected(tmp_path)
    assert [(p.file, p.line) for p in error.problems] == [("order_lines.csv", 4)]
    assert error.problems[0].reason == f"expected 10 columns, found {len(row)}"

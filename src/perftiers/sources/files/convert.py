"""Raw columns (any Arrow type a reader produced) to the canonical Arrow types.

Each converter returns the values (null where missing or unusable), a mask of the values that
are present but unusable, and a function that words the reason for one such raw value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc

from perftiers.lakehouse import schemas
from perftiers.sources.files.arrays import (
    BAD_CAST,
    any_set,
    cast_each,
    first_value,
    indices_mask,
    is_stringish,
    looks_clean,
    nonnull_mask,
    or_masks,
    show,
    trimmed_text,
)
from perftiers.sources.files.model import Column

_TRUE = pa.array(["true", "1", "yes"])
_FALSE = pa.array(["false", "0", "no"])
_EXACT_TRUE = pa.array(["true", "1", "yes", "True", "TRUE", "Yes", "YES"])
_EXACT_BOOLS = pa.array(["true", "1", "yes", "True", "TRUE", "Yes", "YES", "false", "0", "no", "False", "FALSE", "No", "NO"])
_INT_RE = r"^[+-]?\d+(\.0*)?$"
_DEC_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
_TIME_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?"
_ZONED_RE = _TIME_RE + r"(Z|[+-]\d{2}(:?\d{2})?)$"
_NAIVE_RE = _TIME_RE + "$"
_CURRENCY_RE = r"^[A-Z]{3}$"
_MAX_MONEY = Decimal("99999999999999.9999")


@dataclass
class _Converted:
    values: pa.Array
    bad: pa.Array | None  # True where the value is present but unusable
    why: Callable[[Any], str]  # reason for a bad raw value (the column name is prefixed later)


def _type_reason(t: pa.DataType, expected: str) -> Callable[[Any], str]:
    return lambda v: f"{show(v)} is not {expected} (the column holds {t})"


def _unsupported(arr: pa.Array, target: pa.DataType, expected: str) -> _Converted:
    return _Converted(pa.nulls(len(arr), target), nonnull_mask(pc.is_valid(arr)), _type_reason(arr.type, expected))


def _conv_text(arr: pa.Array, col: Column) -> _Converted:
    t = arr.type
    if pa.types.is_null(t):
        return _Converted(pa.nulls(len(arr), pa.string()), None, str)
    if is_stringish(t) or pa.types.is_integer(t):
        text = trimmed_text(arr)
        nul = nonnull_mask(pc.match_substring(text, "\x00"))  # hostile, and PostgreSQL cannot store it
        if nul is None:
            return _Converted(text, None, str)
        return _Converted(pc.if_else(nul, pa.scalar(None, pa.string()), text), nul,
                          lambda v: f"{show(v)} contains a NUL character")
    return _unsupported(arr, pa.string(), "text")


def _int_reason(v: Any) -> str:
    if isinstance(v, str) and re.match(_INT_RE, v.strip()):
        return f"{show(v)} is out of range"
    if isinstance(v, float) and v.is_integer():
        return f"{show(v)} is out of range"
    return f"{show(v)} is not an integer"


def _conv_int(arr: pa.Array, col: Column) -> _Converted:
    t, n = arr.type, len(arr)
    if pa.types.is_null(t):
        return _Converted(pa.nulls(n, pa.int64()), None, _int_reason)
    if pa.types.is_integer(t) or pa.types.is_decimal(t):
        values, bad = cast_each(arr, pa.int64())
        return _Converted(values, indices_mask(n, bad), _int_reason)
    if pa.types.is_floating(t):
        ok = pc.and_(pc.is_finite(arr), pc.equal(pc.floor(arr), arr))
        ok = pc.and_(ok, pc.less_equal(pc.abs(arr), 2.0**53))
        bad = nonnull_mask(pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(ok, False))))
        values = pc.cast(pc.if_else(pc.fill_null(ok, False), arr, pa.scalar(None, t)), pa.int64(), safe=False)
        return _Converted(values, bad, _int_reason)
    if is_stringish(t):
        if looks_clean(arr, r"-?\d+"):
            try:  # fast path: clean integers
                return _Converted(pc.cast(arr, pa.int64()), None, _int_reason)
            except BAD_CAST:
                pass
        s = trimmed_text(arr)
        ok = pc.match_substring_regex(s, _INT_RE)
        bad = nonnull_mask(pc.and_(pc.is_valid(s), pc.invert(pc.fill_null(ok, False))))
        if bad is not None:
            s = pc.if_else(bad, pa.scalar(None, pa.string()), s)
        if any_set(pc.match_substring(s, ".")) or any_set(pc.starts_with(s, "+")):
            s = pc.replace_substring_regex(s, r"^\+|\.0*$", "")
        values, overflow = cast_each(s, pa.int64())
        return _Converted(values, or_masks(bad, indices_mask(n, overflow)), _int_reason)
    return _unsupported(arr, pa.int64(), "an integer")


def _money_reason(v: Any) -> str:
    text = repr(v) if isinstance(v, float) else str(v).strip()
    if isinstance(v, str) and not re.match(_DEC_RE, text):
        return f"{show(v)} is not a decimal number"
    try:
        d = Decimal(text)
    except InvalidOperation:
        return f"{show(v)} is not a decimal number"
    if not d.is_finite():
        return f"{show(v)} is not a decimal number"
    if d != 0 and d.normalize().as_tuple().exponent < -4:
        return f"{show(v)} has more than 4 decimal places"
    if abs(d) > _MAX_MONEY:
        return f"{show(v)} is too big (at most 14 digits before the decimal point)"
    return f"{show(v)} is not a valid amount"


def _conv_money(arr: pa.Array, col: Column) -> _Converted:
    t, n = arr.type, len(arr)
    money = schemas.MONEY
    if pa.types.is_null(t):
        return _Converted(pa.nulls(n, money), None, _money_reason)
    if pa.types.is_integer(t) or pa.types.is_decimal(t):
        too_big: list[int] = []
        if pa.types.is_integer(t):  # int64 -> decimal(18, 4) is refused outright; go through (38, 4)
            ints, too_big = cast_each(arr, pa.int64())
            arr = ints.cast(pa.decimal128(38, 4))
        values, bad = cast_each(arr, money)
        return _Converted(values, indices_mask(n, sorted(set(too_big + bad))), _money_reason)
    if pa.types.is_floating(t):
        arr = arr.cast(pa.float64())
        rounded = pc.round(arr, 4)
        noise = pc.multiply(pc.max_element_wise(pc.abs(arr), 1.0), 1e-9)
        ok = pc.and_(pc.is_finite(arr), pc.less_equal(pc.abs(pc.subtract(arr, rounded)), noise))
        ok = pc.fill_null(ok, False)
        bad = nonnull_mask(pc.and_(pc.is_valid(arr), pc.invert(ok)))
        values, too_big = cast_each(pc.if_else(ok, rounded, pa.scalar(None, pa.float64())), money)
        return _Converted(values, or_masks(bad, indices_mask(n, too_big)), _money_reason)
    if is_stringish(t):
        if looks_clean(arr, r"-?\d+(\.\d{0,4})?"):
            try:  # fast path: clean amounts
                return _Converted(pc.cast(arr, money), None, _money_reason)
            except BAD_CAST:
                pass
        s = trimmed_text(arr)
        ok = pc.match_substring_regex(s, _DEC_RE)
        bad = nonnull_mask(pc.and_(pc.is_valid(s), pc.invert(pc.fill_null(ok, False))))
        if bad is not None:
            s = pc.if_else(bad, pa.scalar(None, pa.string()), s)
        values, failed = cast_each(s, money)
        return _Converted(values, or_masks(bad, indices_mask(n, failed)), _money_reason)
    return _unsupported(arr, money, "a decimal number")


def _bool_reason(v: Any) -> str:
    return f"{show(v)} is not a boolean (use true/false, 1/0 or yes/no)"


def _conv_bool(arr: pa.Array, col: Column) -> _Converted:
    t, n = arr.type, len(arr)
    if pa.types.is_null(t):
        return _Converted(pa.nulls(n, pa.bool_()), None, _bool_reason)
    if pa.types.is_boolean(t):
        return _Converted(arr, None, _bool_reason)
    if pa.types.is_integer(t):
        ok = pc.is_in(arr, pa.array([0, 1], t))
        bad = nonnull_mask(pc.and_(pc.is_valid(arr), pc.invert(ok)))
        values = pc.if_else(ok, pc.not_equal(arr, pa.scalar(0, t)), pa.scalar(None, pa.bool_()))
        return _Converted(values, bad, _bool_reason)
    if is_stringish(t):
        if arr.null_count == 0 and pc.all(pc.is_in(arr, _EXACT_BOOLS)).as_py():  # fast path
            return _Converted(pc.is_in(arr, _EXACT_TRUE), None, _bool_reason)
        s = pc.utf8_lower(trimmed_text(arr))
        yes, no = pc.is_in(s, _TRUE), pc.is_in(s, _FALSE)
        ok = pc.or_(yes, no)
        bad = nonnull_mask(pc.and_(pc.is_valid(s), pc.invert(ok)))
        values = pc.if_else(ok, yes, pa.scalar(None, pa.bool_()))
        return _Converted(values, bad, _bool_reason)
    return _unsupported(arr, pa.bool_(), "a boolean")


def _ts_reason(v: Any) -> str:
    if isinstance(v, str):
        text = v.strip()
        if re.match(_DATE_RE, text) or re.match(_ZONED_RE, text) or re.match(_NAIVE_RE, text):
            return f"{show(v)} is not a valid date/time"
    return f"{show(v)} is not an ISO 8601 date or date-time (e.g. 2024-05-01T13:45:00Z)"


def _local_midnight(naive: pa.Array, tz: str) -> pa.Array:
    local = pc.assume_timezone(naive, tz, ambiguous="earliest", nonexistent="latest")
    return local.cast(schemas.TS)


def _conv_ts(arr: pa.Array, col: Column, tz: str) -> _Converted:
    t, n = arr.type, len(arr)
    ts = schemas.TS
    if pa.types.is_null(t):
        return _Converted(pa.nulls(n, ts), None, _ts_reason)
    if pa.types.is_timestamp(t):
        if t.tz is None:
            return _Converted(arr.cast(pa.timestamp("us"), safe=False).cast(ts), None, _ts_reason)
        return _Converted(arr.cast(ts, safe=False), None, _ts_reason)
    if pa.types.is_date(t):
        return _Converted(_local_midnight(arr.cast(pa.timestamp("us")), tz), None, _ts_reason)
    if not is_stringish(t):
        return _unsupported(arr, ts, "a date/time")
    s = arr
    for attempt in range(2):
        if attempt:
            s = trimmed_text(arr)
            if any_set(pc.match_substring_regex(s, r"\.\d{7}")):
                s = pc.replace_substring_regex(s, r"(\.\d{6})\d+", r"\1")
        # Fast paths: every value has an offset, or none has one and none is a bare date. A failing
        # cast can be slow (Arrow tries every value), so the first value picks the one to try.
        if s.null_count == len(s):
            break
        sample = first_value(s)
        if not sample:
            continue
        if re.match(_ZONED_RE, sample):
            try:
                return _Converted(pc.cast(s, ts), None, _ts_reason)
            except BAD_CAST:
                pass
        elif re.match(_NAIVE_RE, sample):
            shortest = pc.min(pc.binary_length(s)).as_py()
            if shortest is not None and shortest > 10:
                try:
                    return _Converted(pc.cast(s, pa.timestamp("us")).cast(ts), None, _ts_reason)
                except BAD_CAST:
                    pass
    null_s = pa.scalar(None, pa.string())
    zoned = pc.fill_null(pc.match_substring_regex(s, _ZONED_RE), False)
    naive = pc.fill_null(pc.match_substring_regex(s, _NAIVE_RE), False)
    date = pc.fill_null(pc.match_substring_regex(s, _DATE_RE), False)
    parts: list[pa.Array] = []
    failed: list[int] = []
    if any_set(zoned):
        values, bad = cast_each(pc.if_else(zoned, s, null_s), ts)
        parts.append(values)
        failed += bad
    if any_set(naive):
        values, bad = cast_each(pc.if_else(naive, s, null_s), pa.timestamp("us"))
        parts.append(values.cast(ts))
        failed += bad
    if any_set(date):
        values, bad = cast_each(pc.if_else(date, s, null_s), pa.timestamp("us"))
        parts.append(_local_midnight(values, tz))
        failed += bad
    matched = pc.or_(pc.or_(zoned, naive), date)
    bad = or_masks(nonnull_mask(pc.and_(pc.is_valid(s), pc.invert(matched))), indices_mask(n, failed))
    values = pc.coalesce(*parts) if parts else pa.nulls(n, ts)
    return _Converted(values, bad, _ts_reason)


def _currency_reason(v: Any) -> str:
    return f"{show(v)} is not a 3-letter currency code (ISO 4217, e.g. USD)"


def _conv_currency(arr: pa.Array, col: Column) -> _Converted:
    t, n = arr.type, len(arr)
    if pa.types.is_null(t):
        return _Converted(pa.nulls(n, pa.string()), None, _currency_reason)
    if not is_stringish(t):
        return _unsupported(arr, pa.string(), "a currency code")
    distinct = pc.unique(arr)
    if len(distinct) <= 64 and all(v is None or re.fullmatch(_CURRENCY_RE, v) for v in distinct.to_pylist()):
        return _Converted(arr.cast(pa.string()), None, _currency_reason)  # fast path: a few clean codes
    s = pc.utf8_upper(trimmed_text(arr))
    ok = pc.match_substring_regex(s, _CURRENCY_RE)
    bad = nonnull_mask(pc.and_(pc.is_valid(s), pc.invert(pc.fill_null(ok, False))))
    if bad is not None:
        s = pc.if_else(bad, pa.scalar(None, pa.string()), s)
    return _Converted(s, bad, _currency_reason)


def _tags_reason(v: Any) -> str:
    return f"{show(v)} is not a list of text tags"


def _clean_tags(items: list[Any]) -> list[str]:
    out = []
    for item in items:
        text = str(item).strip()
        if text:
            out.append(text)
    return out


def _conv_tags(arr: pa.Array, col: Column) -> _Converted:
    # Products are small (thousands of rows), so the tags are tidied in Python.
    t, n = arr.type, len(arr)
    target = pa.list_(pa.string())
    if pa.types.is_null(t):
        return _Converted(pa.array([[]] * n, target), None, _tags_reason)
    if is_stringish(t):
        values = [[] if v is None else _clean_tags(v.split(",")) for v in arr.to_pylist()]
        return _Converted(pa.array(values, target), None, _tags_reason)
    if (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t)) and (
        is_stringish(t.value_type) or pa.types.is_integer(t.value_type) or pa.types.is_null(t.value_type)
    ):
        values = [[] if v is None else _clean_tags(x for x in v if x is not None) for v in arr.to_pylist()]
        return _Converted(pa.array(values, target), None, _tags_reason)
    conv = _unsupported(arr, target, "a list of text tags")
    conv.values = pa.array([[]] * n, target)
    return conv


def convert(arr: pa.Array, col: Column, tz: str) -> _Converted:
    kind = col.kind
    if kind in ("id", "text"):
        return _conv_text(arr, col)
    if kind == "int":
        return _conv_int(arr, col)
    if kind == "money":
        return _conv_money(arr, col)
    if kind == "bool":
        return _conv_bool(arr, col)
    if kind == "ts":
        return _conv_ts(arr, col, tz)
    if kind == "currency":
        return _conv_currency(arr, col)
    if kind == "tags":
        return _conv_tags(arr, col)
    raise AssertionError(kind)

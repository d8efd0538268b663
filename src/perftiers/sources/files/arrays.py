"""Small vectorised helpers over pyarrow arrays: masks, tolerant casts, text clean-up."""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

BAD_CAST = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError)


def show(value: Any) -> str:
    if isinstance(value, bytes):
        text = repr(value)
    elif isinstance(value, str):
        text = repr(value)
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def any_set(mask: pa.Array | None) -> bool:
    return mask is not None and len(mask) > 0 and bool(pc.any(mask).as_py())


def or_masks(a: pa.Array | None, b: pa.Array | None) -> pa.Array | None:
    if a is None:
        return b
    if b is None:
        return a
    return pc.or_(a, b)


def nonnull_mask(expr: pa.Array) -> pa.Array | None:
    """A boolean mask without nulls, or None if nothing is set."""
    expr = pc.fill_null(expr, False)
    return expr if any_set(expr) else None


def cast_each(arr: pa.Array, target: pa.DataType, safe: bool = True) -> tuple[pa.Array, list[int]]:
    """Cast `arr`; values that cannot be cast become null and their indices are returned.

    Whole-array cast first; on failure the array is halved recursively, so k bad values cost
    O(k log n) casts instead of a Python loop over every value.
    """
    try:
        return pc.cast(arr, target, safe=safe), []
    except BAD_CAST:
        pass
    n = len(arr)
    if n <= 8:
        parts, bad = [], []
        for i in range(n):
            try:
                parts.append(pc.cast(arr.slice(i, 1), target, safe=safe))
            except BAD_CAST:
                parts.append(pa.nulls(1, target))
                bad.append(i)
        return pa.concat_arrays(parts), bad
    half = n // 2
    left, bad_left = cast_each(arr.slice(0, half), target, safe)
    right, bad_right = cast_each(arr.slice(half), target, safe)
    return pa.concat_arrays([left, right]), bad_left + [half + i for i in bad_right]


def indices_mask(n: int, indices: list[int]) -> pa.Array | None:
    if not indices:
        return None
    flags = [False] * n
    for i in indices:
        flags[i] = True
    return pa.array(flags, pa.bool_())


def decode(arr: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr


def is_stringish(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_binaryish(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t) or pa.types.is_fixed_size_binary(t)


def first_value(arr: pa.Array) -> Any:
    return next((v for v in arr.slice(0, 64).to_pylist() if v is not None), None)


def looks_clean(arr: pa.Array, pattern: str) -> bool:
    """Whether a whole-column cast is worth trying: no empty strings, and the first value is clean.

    (A cast that fails can cost far more than one that succeeds, so guessing matters.)
    """
    if arr.null_count == len(arr) or not pc.min(pc.binary_length(arr)).as_py():
        return False
    sample = first_value(arr)
    return isinstance(sample, str) and re.fullmatch(pattern, sample) is not None


def trimmed_text(arr: pa.Array) -> pa.Array:
    """Trimmed utf8 strings, empty -> null."""
    s = arr if pa.types.is_string(arr.type) else arr.cast(pa.string())
    if pc.all(pc.string_is_ascii(s)).as_py() is False:
        s = pc.utf8_trim_whitespace(s)  # also trims no-break spaces etc.
    else:
        s = pc.ascii_trim_whitespace(s)  # several times faster
    empty = pc.equal(pc.binary_length(s), 0)
    if any_set(empty):
        s = pc.if_else(empty, pa.scalar(None, pa.string()), s)
    return s


def utf8(arr: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """Text as valid UTF-8 strings: invalid values -> null and flagged.

    CSV columns arrive as binary; JSON and Parquet readers do not always check UTF-8 either, so
    string columns are checked too (a zero-copy view plus a validating cast: cheap).
    """
    t = arr.type
    if pa.types.is_string(t):
        arr = arr.view(pa.binary())
    elif pa.types.is_large_string(t):
        arr = arr.view(pa.large_binary())
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        try:
            arr.validate(full=True)
            return arr, None
        except pa.ArrowInvalid:
            bad = []
            for i in range(len(arr)):
                try:
                    arr.slice(i, 1).validate(full=True)
                except pa.ArrowInvalid:
                    bad.append(i)
            mask = indices_mask(len(arr), bad)
            return pc.if_else(mask, pa.scalar(None, t), arr), mask
    elif not _is_binaryish(t):
        return arr, None
    if not (pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)):
        arr = arr.cast(pa.binary())
    target = pa.large_string() if pa.types.is_large_binary(arr.type) else pa.string()
    values, bad = cast_each(arr, target)
    return values, indices_mask(len(arr), bad)

"""`FilesSource`: validate everything in one pass, keep the order lines within the memory budget
(else read them a second time), and hand out a `StoreExtract`."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
from pyarrow import fs as pafs

from perftiers import __version__
from perftiers.errors import BadRequest, ValidationFailed
from perftiers.lakehouse import schemas
from perftiers.sources.base import SourceRejected, StoreExtract
from perftiers.sources.files.discover import discover, filesystem_for, s3_for
from perftiers.sources.files.model import DEFAULT_MEMORY_BUDGET, MAX_PROBLEMS, ORDER_LINES, PRODUCTS, DataFile, Problems, Table
from perftiers.sources.files.positions import resolve
from perftiers.sources.files.validate import TablePass


class FilesSource:
    """Reads the canonical files (see the `perftiers.sources.files` docstring for the rules)."""

    name = "files"

    def __init__(
        self,
        path: str | Path,
        timezone: str = "UTC",
        currency: str = "USD",
        *,
        filesystem: pafs.FileSystem | None = None,
        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET,
        max_problems: int = MAX_PROBLEMS,
    ):
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise BadRequest(f"unknown timezone {timezone!r}; use an IANA name such as 'Europe/Berlin'") from exc
        if not re.fullmatch(r"[A-Za-z]{3}", currency or ""):
            raise BadRequest(f"store currency {currency!r} is not a 3-letter code such as 'USD'")
        self.timezone = timezone
        self.currency = currency.upper()
        self.memory_budget_bytes = memory_budget_bytes
        self.max_problems = max_problems
        self.display_path = str(path)
        if filesystem is not None:
            self.fs, self.root = filesystem, str(path).rstrip("/") or "/"
        else:
            self.fs, self.root = filesystem_for(str(path))

    @classmethod
    def from_settings(cls, settings: Any, path: str | Path | None = None) -> "FilesSource":
        path = path if path not in (None, "") else getattr(settings, "sync_path", None)
        if not path:
            raise BadRequest(
                "the files source needs a folder to read: pass --path PATH or set sync_path "
                "(PERFTIERS_SYNC_PATH) to a folder or object-store prefix with products and order_lines files"
            )
        text = str(path)
        if urlparse(text).scheme in ("s3", "s3a"):
            filesystem, root = s3_for(text, settings.object_store_options)
            return cls(root, settings.timezone, settings.currency, filesystem=filesystem)
        return cls(path, settings.timezone, settings.currency)

    # -- public ------------------------------------------------------------------------------

    def fingerprint(self) -> str | None:
        """The input without reading it: each file's name, size and modification time, with the
        store timezone and currency. None when a file has no modification time (some object stores)."""
        product_files, line_files = discover(self.fs, self.root, self.display_path)
        files = product_files + line_files
        if any(f.mtime is None for f in files):
            return None
        parts = [__version__, self.timezone, self.currency, *(f"{f.name}\0{f.size}\0{f.mtime.isoformat()}" for f in files)]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def extract(self) -> StoreExtract:
        product_files, line_files = discover(self.fs, self.root, self.display_path)
        problems = Problems(self.max_problems)

        products_pass = self._pass(PRODUCTS, product_files, problems, retain_budget=None)
        products_pass.run()
        product_ids = products_pass.keys()

        lines_pass = self._pass(
            ORDER_LINES, line_files, problems, retain_budget=self.memory_budget_bytes, known_ids=product_ids
        )
        lines_pass.run()

        products_pass.check_unique()
        lines_pass.check_unique()
        if problems.total:
            raise SourceRejected(resolve(self.fs, problems), problems.total)

        products = pa.Table.from_batches(products_pass.retained, schema=schemas.PRODUCTS)
        counts = {
            "products": products.num_rows,
            "order_lines": lines_pass.rows,
            "unmapped_order_lines": lines_pass.unmapped,
            "product_files": len(product_files),
            "order_line_files": len(line_files),
        }
        if lines_pass.retained is not None:
            retained = lines_pass.retained

            def order_lines() -> Iterator[pa.RecordBatch]:
                yield from retained

        else:
            fingerprints = {f.path: (f.size, f.mtime) for f in line_files}

            def order_lines() -> Iterator[pa.RecordBatch]:
                yield from self._reread(line_files, fingerprints, product_ids)

        return StoreExtract(products=products, order_lines=order_lines, counts=counts)

    def _pass(self, table: Table, files: list[DataFile], problems: Problems, **options: Any) -> TablePass:
        return TablePass(table, files, problems, fs=self.fs, timezone=self.timezone, currency=self.currency, **options)

    # -- second pass -------------------------------------------------------------------------

    def _reread(self, files: list[DataFile], fingerprints: dict[str, tuple[int, Any]], product_ids: pa.Array) -> Iterator[pa.RecordBatch]:
        for f in files:
            info = self.fs.get_file_info(f.path)
            if (info.size, info.mtime) != fingerprints[f.path]:
                raise ValidationFailed(
                    f"{f.name} changed while the sync was reading it; nothing was written. Run the sync again.",
                    details={"file": f.name},
                )
        problems = Problems(self.max_problems)
        second = self._pass(ORDER_LINES, files, problems, retain_budget=None, known_ids=product_ids, stream=True)
        yield from second.iterate()
        if problems.total:
            raise SourceRejected(resolve(self.fs, problems), problems.total)

"""The `shopify-csv` source: the products and orders exports of the Shopify admin, as downloaded.

In:  a local folder with Shopify's CSV exports (Products > Export and Orders > Export; e.g.
     `products_export_1.csv`, `orders_export_1.csv`). Any file names: each `.csv` file is
     recognised by its header (products: `Handle` + `Title`; orders: `Name` + `Lineitem quantity`),
     several files of a kind are read together, other CSV files are ignored.
Out: canonical products (every product) and order lines (every line item) for the sync.

Products export: one row per variant, product fields (Title, Vendor, Type, Tags, Published,
Status) only on a product's first row; `Variant SKU` on every variant row; image-only rows too.
* artifact_id = Handle; product_name = Title; product_type = Type; tags = Tags split on commas.
* is_active = Status `active` or `unlisted` (draft, archived: false); exports without a Status
  value fall back to Published (TRUE/FALSE; empty means true). launched_at is empty (the export
  has no dates), so the launch day is the day of the first sale.

Orders export: one row per line item, order fields only on an order's first row.
* order_id = Name (`#1001`); line_id = Name + `-` + the line's position in the order (`#1001-2`).
* ordered_at = Created at (`2025-03-04 10:22:11 -0500`; an ISO form is accepted too; a time
  without an offset is read in the store timezone).
* quantity = Lineitem quantity; unit_price = Lineitem price; discount = Lineitem discount
  (sign ignored) pro-rated to the units kept; currency = Currency, else the store currency.
* cancelled = Cancelled at is set, or Financial Status `voided` (the payment never happened).
* refunded_quantity (the export has no per-line refund column), in this order:
  Financial Status `refunded` -> every unit of every line. Otherwise a Refunded Amount R > 0 is
  turned into whole units: if R is k times one line's net unit price (price - discount/quantity,
  to the cent, k <= its quantity), that line gets k; else lines take units greedily from the
  highest net unit price down, each floor(remaining R / unit price) capped at its quantity. What
  is left (shipping, taxes, partial amounts) is not units. Orders handled this way are counted in
  `counts["refunds_estimated_orders"]`.
* A line item is mapped to a product by `Lineitem sku` (a SKU of exactly one product), else by the
  product title in `Lineitem name` (`<title>` or `<title> - <variant title>`; the longest title
  that fits, case-insensitive, unique). Lines that map to nothing are reported, not written (see
  `perftiers.sources.shopify.mapping`).
* Amounts may carry currency formatting: `$1,234.50`, `€12,00`, `1.234,50 €`, `CHF 1'234.50`,
  `(5.00)` or `-$5.00` for negatives. A lone comma followed by exactly three digits is a
  thousands separator (`1,234` = 1234), otherwise a decimal comma (`12,5` = 12.5).

Problems are reported like the files source: the file name, the physical line (header = line 1)
and the reason; with any problem `extract()` raises `SourceRejected` and nothing is written.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterator

from perftiers.errors import ConfigurationError
from perftiers.settings import Settings
from perftiers.sources.base import RowProblem, SourceRejected, StoreExtract
from perftiers.sources.shopify.mapping import (
    STATUSES,
    LineBatches,
    Unmapped,
    is_active_status,
    kept_discount,
    money,
    products_table,
)

MAX_PROBLEMS = 100
PRODUCT_KEYS = ("handle", "title")
ORDER_KEYS = ("name", "lineitem quantity")
ORDER_REQUIRED = ("name", "created at", "lineitem quantity", "lineitem name", "lineitem price")
ORDER_FIELDS = ("created at", "cancelled at", "financial status", "currency", "refunded amount")


# -- value parsing --------------------------------------------------------------------------

_NOT_NUMBER = re.compile(r"[^\d,.\-+']")
_PLAIN = re.compile(r"\d+(\.\d+)?")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


def parse_amount(text: str) -> Decimal:
    """A money amount with optional currency formatting (see the module docstring)."""
    s = text.strip()
    negative = s.startswith("(") and s.endswith(")")
    if negative:
        s = s[1:-1]
    s = _NOT_NUMBER.sub("", s).replace("'", "")
    if s[:1] in "+-" and s:
        negative ^= s[0] == "-"
        s = s[1:]
    if "," in s and "." in s:
        s = s.replace(".", "").replace(",", ".") if s.rfind(",") > s.rfind(".") else s.replace(",", "")
    elif "," in s:
        whole, _, rest = s.partition(",")
        s = f"{whole}.{rest}" if "," not in rest and len(rest) != 3 else s.replace(",", "")
    elif s.count(".") > 1:
        s = s.replace(".", "")
    if not _PLAIN.fullmatch(s):
        raise ValueError(f"{text.strip()!r} is not an amount")
    value = Decimal(s)
    return -value if negative else value


def parse_timestamp(text: str, tz: tzinfo) -> datetime:
    """Shopify's `2025-03-04 10:22:11 -0500` (or ISO 8601) as an aware UTC datetime."""
    s = text.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M %z"):
        try:
            return datetime.strptime(s, fmt).astimezone(timezone.utc)
        except ValueError:
            pass
    try:
        value = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"{s!r} is not a date and time like 2025-03-04 10:22:11 -0500") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(timezone.utc)


def parse_bool(text: str, default: bool) -> bool:
    s = text.strip().lower()
    if not s:
        return default
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f"{text.strip()!r} is not TRUE or FALSE")


def parse_quantity(text: str) -> int:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text.strip()!r} is not a whole number") from None
    if value != value.to_integral_value() or value < 0:
        raise ValueError(f"{text.strip()!r} is not a whole number >= 0")
    return int(value)


# -- reading files --------------------------------------------------------------------------

class _Problems:
    def __init__(self) -> None:
        self.items: list[RowProblem] = []
        self.total = 0

    def add(self, file: str, line: int, reason: str) -> None:
        self.total += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(RowProblem(file, line, reason))


@dataclass
class _Csv:
    name: str
    text: str
    header: list[str]

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(first physical line, {lower-cased column: value}) per data row."""
        reader = csv.reader(io.StringIO(self.text, newline=""))
        next(reader, None)
        keys = self.header
        last = reader.line_num
        for values in reader:
            start, last = last + 1, reader.line_num
            if not any(v.strip() for v in values):
                continue
            yield start, {k: (values[i] if i < len(values) else "") for i, k in enumerate(keys)}


def _read_folder(folder: Path, problems: _Problems) -> tuple[list[_Csv], list[_Csv]]:
    products: list[_Csv] = []
    orders: list[_Csv] = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() != ".csv" or path.name.startswith((".", "_")) or not path.is_file():
            continue
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            problems.add(path.name, 0, f"not UTF-8 text ({exc.reason} at byte {exc.start}); export again from Shopify")
            continue
        header = [h.strip().lower() for h in next(csv.reader(io.StringIO(text, newline="")), [])]
        found = _Csv(path.name, text, header)
        if all(k in header for k in PRODUCT_KEYS):
            products.append(found)
        elif all(k in header for k in ORDER_KEYS):
            orders.append(found)
    return products, orders


# -- products -------------------------------------------------------------------------------

@dataclass
class _Catalog:
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    sku_owners: dict[str, set[str]] = field(default_factory=dict)
    titles: dict[str, str | None] = field(default_factory=dict)
    """casefolded title -> handle, or None when several products share the title."""

    def resolve(self, sku: str, name: str) -> str | None:
        owners = self.sku_owners.get(sku) if sku else None
        if owners and len(owners) == 1:
            return next(iter(owners))
        key = name.strip().casefold()
        candidates = [key] + [key[:m.start()] for m in reversed(list(re.finditer(" - ", key)))]
        for candidate in candidates:
            if candidate in self.titles:
                return self.titles[candidate]
        return None


def _read_products(files: list[_Csv], problems: _Problems) -> _Catalog:
    cat = _Catalog()
    first_seen: dict[str, tuple[str, int]] = {}
    defined_at: dict[str, tuple[str, int]] = {}
    for f in files:
        for line, row in f.rows():
            handle = row.get("handle", "").strip()
            if not handle:
                problems.add(f.name, line, "Handle is empty")
                continue
            first_seen.setdefault(handle, (f.name, line))
            title = row.get("title", "").strip()
            if title:
                if handle in defined_at:
                    where = "%s:%d" % defined_at[handle]
                    problems.add(f.name, line, f"product {handle!r} appears again (first at {where})")
                    continue
                defined_at[handle] = (f.name, line)
                product = _product(handle, title, row, f.name, line, problems)
                if product is not None:
                    cat.products[handle] = product
                    key = title.casefold()
                    cat.titles[key] = handle if key not in cat.titles else None
            sku = row.get("variant sku", "").strip()
            if sku:
                cat.sku_owners.setdefault(sku, set()).add(handle)
    for handle, (name, line) in first_seen.items():
        if handle not in defined_at:
            problems.add(name, line, f"product {handle!r} has no row with a Title (its first row carries the product)")
    return cat


def _product(handle: str, title: str, row: dict[str, str], file: str, line: int, problems: _Problems) -> dict | None:
    status = row.get("status", "").strip()
    try:
        if status:
            if status.upper() not in STATUSES:
                raise ValueError(f"Status {status!r} is not one of {', '.join(s.lower() for s in STATUSES)}")
            active = is_active_status(status)
        else:
            active = parse_bool(row.get("published", ""), default=True)
    except ValueError as exc:
        problems.add(file, line, str(exc))
        return None
    tags = [t.strip() for t in row.get("tags", "").split(",") if t.strip()]
    return dict(artifact_id=handle, product_name=title, product_type=row.get("type", "").strip() or None,
                vendor=row.get("vendor", "").strip() or None, tags=tags, is_active=active, launched_at=None)


# -- orders ---------------------------------------------------------------------------------

@dataclass
class _Line:
    line: int
    quantity: int
    name: str
    sku: str
    price: Decimal
    discount: Decimal

    @property
    def unit_net(self) -> Decimal:
        return self.price - self.discount / self.quantity if self.quantity else Decimal(0)


@dataclass
class _Order:
    name: str
    file: str
    line: int
    fields: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Order-level column -> (first non-empty value, its line)."""
    lines: list[_Line] = field(default_factory=list)
    bad: bool = False


def refunded_units(financial_status: str, refunded_amount: Decimal, lines: list[_Line]) -> tuple[list[int], bool]:
    """Refunded units per line (the rule in the module docstring); and whether it was estimated."""
    if financial_status == "refunded":
        return [ln.quantity for ln in lines], False
    result = [0] * len(lines)
    if refunded_amount <= 0:
        return result, False
    for i, ln in enumerate(lines):
        unit = ln.unit_net
        if unit > 0:
            k = int((refunded_amount / unit).to_integral_value())
            if 1 <= k <= ln.quantity and abs(k * unit - refunded_amount) < Decimal("0.005"):
                result[i] = k
                return result, True
    remaining = refunded_amount
    for i in sorted(range(len(lines)), key=lambda i: -lines[i].unit_net):
        unit = lines[i].unit_net
        if unit <= 0:
            continue
        result[i] = min(lines[i].quantity, int(remaining // unit))
        remaining -= result[i] * unit
    return result, True


class _OrderReader:
    def __init__(self, catalog: _Catalog, settings: Settings, problems: _Problems):
        self.catalog, self.settings, self.problems = catalog, settings, problems
        self.batches = LineBatches()
        self.out: list = []
        self.unmapped = Unmapped()
        self.estimated = 0
        self.seen: dict[str, str] = {}

    def read(self, files: list[_Csv]) -> None:
        for f in files:
            missing = [c for c in ORDER_REQUIRED if c not in f.header]
            if missing:
                self.problems.add(f.name, 1, f"missing column(s): {', '.join(missing)} (is this an orders export?)")
                continue
            order: _Order | None = None
            for line, row in f.rows():
                name = row["name"].strip()
                if not name:
                    self.problems.add(f.name, line, "Name (the order number) is empty")
                    continue
                if order is None or order.name != name:
                    if order is not None:
                        self.finish(order)
                    if name in self.seen:
                        self.problems.add(f.name, line, f"rows of order {name} are not together (also at {self.seen[name]})")
                    self.seen[name] = f"{f.name}:{line}"
                    order = _Order(name, f.name, line)
                self.add_row(order, line, row)
            if order is not None:
                self.finish(order)
        last = self.batches.flush()
        if last is not None:
            self.out.append(last)

    def add_row(self, order: _Order, line: int, row: dict[str, str]) -> None:
        for key in ORDER_FIELDS:
            value = row.get(key, "").strip()
            if value and key not in order.fields:
                order.fields[key] = (value, line)
        reasons = []
        parsed: dict[str, Any] = {}
        for key, parse in (("lineitem quantity", parse_quantity), ("lineitem price", parse_amount)):
            try:
                parsed[key] = parse(row[key])
            except ValueError as exc:
                reasons.append(f"{key.capitalize()}: {exc}")
        discount_text = row.get("lineitem discount", "").strip()
        try:
            parsed["discount"] = abs(parse_amount(discount_text)) if discount_text else Decimal(0)
        except ValueError as exc:
            reasons.append(f"Lineitem discount: {exc}")
        if parsed.get("lineitem price", 0) < 0:
            reasons.append("Lineitem price is negative")
        if reasons:
            self.problems.add(order.file, line, "; ".join(reasons))
            order.bad = True
            return
        order.lines.append(_Line(line, parsed["lineitem quantity"], row["lineitem name"].strip(),
                                 row.get("lineitem sku", "").strip(), parsed["lineitem price"], parsed["discount"]))

    def order_field(self, order: _Order, key: str, parse) -> Any:
        value, line = order.fields.get(key, ("", order.line))
        try:
            return parse(value)
        except ValueError as exc:
            self.problems.add(order.file, line, f"{key.capitalize()}: {exc}")
            order.bad = True
            return None

    def finish(self, order: _Order) -> None:
        tz = self.settings.tz
        ordered_at = self.order_field(order, "created at", lambda v: parse_timestamp(v, tz))
        cancelled_at = self.order_field(order, "cancelled at", lambda v: parse_timestamp(v, tz) if v else None)
        refunded_amount = self.order_field(order, "refunded amount", lambda v: abs(parse_amount(v)) if v else Decimal(0))
        currency = self.order_field(order, "currency", _currency) or self.settings.currency
        if order.bad:
            return
        status = order.fields.get("financial status", ("", 0))[0].lower()
        refunded, estimated = refunded_units(status, refunded_amount, order.lines)
        self.estimated += estimated
        cancelled = cancelled_at is not None or status == "voided"
        for index, (ln, refunded_qty) in enumerate(zip(order.lines, refunded), start=1):
            handle = self.catalog.resolve(ln.sku, ln.name)
            if handle is None:
                net = 0 if cancelled else ln.quantity - refunded_qty
                sku = f" (SKU {ln.sku!r})" if ln.sku else " (no SKU)"
                self.unmapped.add(f"{order.name} line {index} at {order.file}:{ln.line}: {ln.name!r}{sku}", net)
                continue
            batch = self.batches.add(dict(
                order_id=order.name, line_id=f"{order.name}-{index}", ordered_at=ordered_at, artifact_id=handle,
                quantity=ln.quantity, unit_price=money(ln.price),
                discount=kept_discount(ln.discount, ln.quantity, refunded_qty),
                refunded_quantity=refunded_qty, cancelled=cancelled, currency=currency,
            ))
            if batch is not None:
                self.out.append(batch)


def _currency(value: str) -> str | None:
    if not value:
        return None
    if not re.fullmatch(r"[A-Za-z]{3}", value):
        raise ValueError(f"{value!r} is not a 3-letter currency code")
    return value.upper()


# -- the source -----------------------------------------------------------------------------

class ShopifyCsvSource:
    name = "shopify-csv"

    def __init__(self, settings: Settings, folder: Path):
        self.settings = settings
        self.folder = folder

    @classmethod
    def from_settings(cls, settings: Settings, path: str | None = None) -> "ShopifyCsvSource":
        path = path or settings.sync_path
        if not path:
            raise ConfigurationError(
                "the shopify-csv source needs the folder with Shopify's CSV exports: "
                "pass --path DIR or set sync_path (PERFTIERS_SYNC_PATH)"
            )
        if "://" in path:
            raise ConfigurationError(f"the shopify-csv source reads a local folder; {path!r} is a URI")
        return cls(settings, Path(path))

    def extract(self) -> StoreExtract:
        if not self.folder.is_dir():
            raise ConfigurationError(f"{str(self.folder)!r} is not a folder (shopify-csv reads a folder of exports)")
        problems = _Problems()
        product_files, order_files = _read_folder(self.folder, problems)
        missing = [kind for kind, files in (("products", product_files), ("orders", order_files)) if not files]
        if missing and not problems.total:
            raise ConfigurationError(
                f"no Shopify {' or '.join(missing)} export in {str(self.folder)!r}: put the CSV files from "
                "Products > Export and Orders > Export (all products, CSV for Excel or plain CSV) in that folder"
            )
        catalog = _read_products(product_files, problems)
        orders = _OrderReader(catalog, self.settings, problems)
        orders.read(order_files)
        if problems.total:
            raise SourceRejected(problems.items, problems.total)
        counts: dict[str, Any] = {"refunds_estimated_orders": orders.estimated}
        orders.unmapped.report(counts, self.name)
        batches = orders.out
        return StoreExtract(
            products=products_table(list(catalog.products.values())),
            order_lines=lambda: iter(batches),
            counts=counts,
        )

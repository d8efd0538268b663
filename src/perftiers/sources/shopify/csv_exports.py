"""The `shopify-csv` source: the products and orders exports of the Shopify admin, as downloaded.

In:  a local folder with Shopify's CSV exports (Products > Export and Orders > Export; e.g.
     `products_export_1.csv`, `orders_export_1.csv`). Any file names: each `.csv` file is
     recognised by its header, several files of a kind are read together, other CSV files
     (customers, inventory, notes) are ignored. Orders: any `Lineitem ...` column, or `Name` +
     `Financial Status`. Products: `Handle` / `URL handle`, or `Title` with two more product
     columns (`Vendor`, `Type`, `Tags`, `Status`, `Variant SKU` / `SKU`, ...). A file recognised
     as an export that lacks a required column is refused at `file:1`, naming the column(s).
Out: canonical products (every product) and order lines (every line item) for the sync.

Products export: one row per variant, product fields (Title, Vendor, Type, Tags, Published,
Status) only on a product's first row; `Variant SKU` on every variant row; image-only rows too.
Both the export's column names and those of Shopify's current product CSV template are read:
`Handle` or `URL handle`, `Variant SKU` or `SKU`, `Published` or `Published on online store`
(Title, Vendor, Type, Tags, Status are the same in both).
* artifact_id = Handle; product_name = Title; product_type = Type; tags = Tags split on commas.
* is_active = Status `active` or `unlisted` (draft, archived: false); exports without a Status
  value fall back to Published (TRUE/FALSE; empty means true). launched_at is empty (the export
  has no dates), so the launch day is the day of the first sale.

Orders export: one row per line item, order fields only on an order's first row.
* order_id = Name (`#1001`); line_id = Name + `-` + the line's position in the order (`#1001-2`).
* ordered_at = Created at (`2025-03-04 10:22:11 -0500`; an ISO form is accepted too; a time
  without an offset is read in the store timezone).
* quantity = Lineitem quantity; unit_price = Lineitem price; currency = Currency, else the store
  currency.
* discount = the line's Lineitem discount (sign ignored) plus its share of the order's discount,
  pro-rated to the units kept. In real exports `Lineitem discount` is 0.00 even when a discount
  code applies: the code's value is only in the order's `Discount Amount` (first row), which is
  the order's whole discount, line discounts included (`Subtotal` = sum of quantity x price -
  Discount Amount). So the order-level part is D = Discount Amount - the sum of the order's
  Lineitem discounts; when `Subtotal` is given, Discount Amount is first capped at
  sum(quantity x price) - Subtotal, the part that went to products (a free-shipping code adds
  to Discount Amount but not to Subtotal). D > 0 is shared by the lines in proportion to their
  subtotals (quantity x price, less the line's own Lineitem discount): each line but the largest
  gets its share rounded to the cent, the largest (the first of equals) gets the rest, so the
  shares add up to D exactly. Never more than a line's subtotal; a Lineitem discount is never
  counted twice.
* cancelled = Cancelled at is set, or Financial Status `voided` (the payment never happened).
* refunded_quantity (the export has no per-line refund column), in this order:
  Financial Status `refunded` -> every unit of every line. Otherwise a Refunded Amount R > 0 is
  turned into whole units: if R is k times one line's net unit price (price - discount/quantity,
  the order-level share included, to the cent, k <= its quantity), that line gets k; else lines
  take units greedily from the highest net unit price down, each floor(remaining R / unit price)
  capped at its quantity. What is left (shipping, taxes, partial amounts) is not units. Orders
  handled this way are counted in `counts["refunds_estimated_orders"]`.
* A line item is mapped to a product by `Lineitem sku` (a SKU of exactly one product), else by the
  product title in `Lineitem name` (`<title>` or `<title> - <variant title>`; the longest title
  that fits, case-insensitive, unique). Lines that map to nothing are reported, not written (see
  `perftiers.sources.shopify.mapping`).
* Amounts may carry currency formatting: `$1,234.50`, `€12,00`, `1.234,50 €`, `CHF 1'234.50`,
  `(5.00)` or `-$5.00` for negatives. A lone comma followed by exactly three digits is a
  thousands separator (`1,234` = 1234), otherwise a decimal comma (`12,5` = 12.5).
* Precision: amounts are read as exact decimals and stored with 4 decimal places (MONEY,
  decimal(18, 4): more places are rounded half to even); an amount of 10^14 or more is refused.
  Shares of an order's discount are whole cents.

Problems are reported like the files source: the file name, the physical line (header = line 1)
and the reason; with any problem `extract()` raises `SourceRejected` and nothing is written. A
row with fewer or more fields than the header (a file cut short or mangled) is such a problem:
its missing values are never read as empty.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
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
    check_money,
    kept_discount,
    money,
    products_table,
)

MAX_PROBLEMS = 100
WHOLE_CENT = Decimal("0.01")
PRODUCT_ALIASES = {"url handle": "handle", "sku": "variant sku", "published on online store": "published"}
"""Column names of Shopify's current product CSV template -> the export's names, which the reader uses."""
PRODUCT_REQUIRED = {"handle": "Handle (URL handle in the current template)", "title": "Title"}
PRODUCT_HINTS = frozenset({
    "body (html)", "description", "vendor", "product category", "type", "tags", "published", "status",
    "option1 name", "option1 value", "variant sku", "variant price", "price", "compare-at price",
    "variant inventory qty", "inventory quantity", "image src", "product image url", "gift card", "seo title",
})
"""Columns of a products export / template; with `Title` and two of these a file is a products file."""
ORDER_REQUIRED = {"name": "Name", "created at": "Created at", "lineitem quantity": "Lineitem quantity",
                  "lineitem name": "Lineitem name", "lineitem price": "Lineitem price"}
ORDER_FIELDS = ("created at", "cancelled at", "financial status", "currency", "refunded amount", "discount amount",
                "subtotal")


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


def parse_money(text: str) -> Decimal:
    """`parse_amount`, refused when it does not fit the stored MONEY type."""
    value = parse_amount(text)
    check_money(value, text.strip())
    return value


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

    def rows(self, problems: "_Problems") -> Iterator[tuple[int, dict[str, str], bool]]:
        """(first physical line, {lower-cased column: value}, whole) per data row. A row with fewer
        or more fields than the header is reported and comes with `whole` False and only the
        values it has: a reader may use them to tell which product or order it belonged to, never
        as data."""
        reader = csv.reader(io.StringIO(self.text, newline=""))
        next(reader, None)
        keys = self.header
        last = reader.line_num
        for values in reader:
            start, last = last + 1, reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(keys):
                problems.add(self.name, start, f"the row has {len(values)} fields where the header has {len(keys)} "
                             "(a file cut short or edited by hand?): export it again from Shopify")
                yield start, dict(zip(keys, values)), False
                continue
            yield start, dict(zip(keys, values)), True


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
        kind = _kind(header)
        if kind == "products":
            header = [PRODUCT_ALIASES[h] if h in PRODUCT_ALIASES and PRODUCT_ALIASES[h] not in header else h
                      for h in header]
        required = PRODUCT_REQUIRED if kind == "products" else ORDER_REQUIRED
        missing = [shown for key, shown in required.items() if key not in header]
        if kind and missing:
            problems.add(path.name, 1, f"missing column(s): {', '.join(missing)} (the file looks like a Shopify "
                         f"{kind} export; export it again from Shopify, or add the column)")
            continue
        found = _Csv(path.name, text, header)
        if kind == "products":
            products.append(found)
        elif kind == "orders":
            orders.append(found)
    return products, orders


def _kind(header: list[str]) -> str | None:
    """'orders' or 'products' when the header looks like that Shopify export (or the products
    template), even with a required column missing; None for any other CSV file."""
    columns = set(header)
    if any(c.startswith("lineitem ") for c in columns) or {"name", "financial status"} <= columns:
        return "orders"
    if columns & {"handle", "url handle"} or ("title" in columns and len(columns & PRODUCT_HINTS) >= 2) \
            or len(columns & {"body (html)", "variant sku", "variant price", "option1 value", "image src"}) >= 3:
        return "products"
    return None


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
    broken: set[str] = set()
    for f in files:
        for line, row, whole in f.rows(problems):
            handle = row.get("handle", "").strip()
            if not whole:  # reported; only keeps its product from a second, misleading problem
                broken.add(handle)
                continue
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
        if handle not in defined_at and handle not in broken:
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
    malformed: bool = False
    """A row of the order has the wrong number of fields (reported): nothing else is checked."""


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


def order_discount_shares(discount_amount: Decimal, subtotal: Decimal | None, lines: list[_Line]) -> list[Decimal]:
    """Each line's share of the order-level discount (the rule in the module docstring)."""
    bases = [max(Decimal(0), ln.price * ln.quantity - ln.discount) for ln in lines]
    shares = [Decimal(0)] * len(lines)
    total = discount_amount
    if subtotal is not None:
        total = min(total, max(Decimal(0), sum(ln.price * ln.quantity for ln in lines) - subtotal))
    rest = min(total - sum(ln.discount for ln in lines), sum(bases, Decimal(0)))
    if rest <= 0:
        return shares
    whole = sum(bases, Decimal(0))
    largest = max(range(len(lines)), key=lambda i: (bases[i], -i))
    for i, base in enumerate(bases):
        if i != largest:
            shares[i] = (rest * base / whole).quantize(WHOLE_CENT, ROUND_HALF_UP)
    shares[largest] = rest - sum(shares, Decimal(0))
    return shares


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
            order: _Order | None = None
            for line, row, whole in f.rows(self.problems):
                name = row.get("name", "").strip()
                if not whole and (not name or order is None or order.name != name):
                    # the order it belonged to is unknown, or a new one: report only the row
                    if order is not None:
                        self.finish(order)
                    order = _Order(name, f.name, line, malformed=True) if name else None
                    continue
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
                if not whole:
                    order.malformed = True
                    continue
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
        for key, parse in (("lineitem quantity", parse_quantity), ("lineitem price", parse_money)):
            try:
                parsed[key] = parse(row[key])
            except ValueError as exc:
                reasons.append(f"{key.capitalize()}: {exc}")
        discount_text = row.get("lineitem discount", "").strip()
        try:
            parsed["discount"] = abs(parse_money(discount_text)) if discount_text else Decimal(0)
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
        if order.malformed:
            return
        tz = self.settings.tz
        ordered_at = self.order_field(order, "created at", lambda v: parse_timestamp(v, tz))
        cancelled_at = self.order_field(order, "cancelled at", lambda v: parse_timestamp(v, tz) if v else None)
        refunded_amount = self.order_field(order, "refunded amount", lambda v: abs(parse_money(v)) if v else Decimal(0))
        discount_amount = self.order_field(order, "discount amount", lambda v: abs(parse_money(v)) if v else Decimal(0))
        subtotal = self.order_field(order, "subtotal", lambda v: parse_money(v) if v else None)
        currency = self.order_field(order, "currency", _currency) or self.settings.currency
        if order.bad:
            return
        for ln, share in zip(order.lines, order_discount_shares(discount_amount, subtotal, order.lines)):
            ln.discount += share
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

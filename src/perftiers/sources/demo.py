"""The demo source: a seeded, repeatable generator of a believable merch store.

`DemoSource(products=2000, order_lines=1_000_000, seed=42)` invents a print-on-demand style shop
(tees, hoodies, mugs, posters, ...) with about two years of history ending on `end_date`
(store-local, default today) and hands it to the sync like any other source.

What makes it believable:

* Products are launched over two years: an opening catalogue on the first day, "drops" every
  two to four weeks (the last one within the final two weeks), and one-off launches in between.
  SKUs (`sku-000001`, ...) are numbered in launch order. About 5% have no `launched_at`
  (their launch is their first sale).
* Each product's daily demand is a launch spike that decays (days), a slower decay (months) and a
  floor, scaled by a heavy-tailed popularity. Some products are hits, a long tail are duds that
  sell next to nothing, and a few never sell at all.
* About 11% of products are inactive, mostly old ones that stopped selling long ago.
* Demand follows the store's growth, the day of the week, the season of the product type
  (hoodies in winter, tees in summer, mugs and posters for the holidays), Black Friday to Cyber
  Monday and the Christmas lull.
* Orders have 1-4 lines, mostly quantity 1; about 10% of lines carry an order discount, about 3% are
  partly or fully refunded and about 2% belong to cancelled orders. Order times follow a daily
  rhythm inside each store-local day; nothing is ordered before its product's launch or after
  the end of `end_date`.

Scale and repeatability: the product table is built in memory (fine for a million products); order
lines are generated one store-local day at a time with NumPy and Arrow compute, and re-cut into
record batches of `batch_size` rows, so memory stays bounded by the largest day whatever the
total. Every day draws from its own random stream derived from `(seed, day)`, so the same seed and
sizes give byte-identical data, whatever the batch size and however often `order_lines()` is called.
The total number of lines is exactly `order_lines` (it is split over the days up front).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from perftiers.errors import ConfigurationError
from perftiers.lakehouse import schemas
from perftiers.sources.base import StoreExtract

HISTORY_DAYS = 730
"""Days of sales history, ending on (and including) `end_date`."""

DEFAULT_BATCH_ROWS = 250_000


# ----------------------------------------------------------------------------------------------
# The catalogue vocabulary
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ProductType:
    name: str
    category: str
    share: float  # share of the catalogue
    price: tuple[int, int]  # whole-dollar price range, inclusive
    materials: tuple[str, ...]
    colors: tuple[str, ...]
    season: str  # summer | winter | holiday | flat
    vendors: tuple[str, ...]


_APPAREL_COLORS = ("black", "white", "heather-grey", "navy", "forest", "sand", "burgundy", "olive", "sky-blue")

_TYPES: tuple[_ProductType, ...] = (
    _ProductType("Tee", "apparel", 0.20, (24, 34), ("cotton", "organic-cotton", "tri-blend"), _APPAREL_COLORS,
                 "summer", ("Northwind Print Co.", "Brightside Apparel", "Inkhouse Studio")),
    _ProductType("Long Sleeve Tee", "apparel", 0.05, (32, 42), ("cotton", "organic-cotton"), _APPAREL_COLORS,
                 "winter", ("Northwind Print Co.", "Brightside Apparel")),
    _ProductType("Hoodie", "apparel", 0.12, (54, 79), ("cotton-blend", "fleece", "organic-cotton"), _APPAREL_COLORS,
                 "winter", ("Brightside Apparel", "Hatch & Thread", "Northwind Print Co.")),
    _ProductType("Crewneck", "apparel", 0.05, (48, 64), ("fleece", "cotton-blend"), _APPAREL_COLORS,
                 "winter", ("Brightside Apparel", "Hatch & Thread")),
    _ProductType("Cap", "headwear", 0.06, (24, 32), ("cotton-twill", "corduroy", "wool-blend"),
                 ("black", "navy", "sand", "olive", "burgundy"), "summer", ("Hatch & Thread",)),
    _ProductType("Beanie", "headwear", 0.04, (22, 29), ("acrylic", "merino-wool"),
                 ("black", "heather-grey", "burgundy", "forest", "mustard"), "winter", ("Hatch & Thread", "Sockhop Mill")),
    _ProductType("Mug", "drinkware", 0.10, (16, 24), ("ceramic", "enamel"), ("black", "white"),
                 "holiday", ("Copper Kettle Ceramics",)),
    _ProductType("Poster", "wall-art", 0.08, (18, 45), ("matte-paper", "glossy-paper"), (),
                 "holiday", ("Paper Moon Press", "Lumen Art Prints")),
    _ProductType("Art Print", "wall-art", 0.04, (35, 89), ("archival-paper", "canvas"), (),
                 "holiday", ("Lumen Art Prints",)),
    _ProductType("Sticker Pack", "stationery", 0.08, (9, 14), ("vinyl", "holographic-vinyl"), (),
                 "flat", ("Stickerworks", "Paper Moon Press")),
    _ProductType("Tote Bag", "bags", 0.05, (19, 28), ("canvas", "recycled-cotton"), ("natural", "black", "navy"),
                 "summer", ("Harbor Bag Co.",)),
    _ProductType("Enamel Pin", "accessories", 0.04, (10, 15), ("enamel",), (),
                 "flat", ("Pinpoint Enamel",)),
    _ProductType("Socks", "apparel", 0.05, (14, 19), ("cotton-blend", "merino-wool"), ("black", "white", "mustard", "navy"),
                 "holiday", ("Sockhop Mill",)),
    _ProductType("Phone Case", "accessories", 0.04, (24, 34), ("silicone", "recycled-plastic"), ("black", "clear", "sand"),
                 "flat", ("Caseworks",)),
)

_ADJECTIVES = (
    "Midnight", "Golden", "Cosmic", "Wild", "Lazy", "Electric", "Velvet", "Neon", "Rusty", "Misty",
    "Solar", "Lunar", "Frosty", "Sunny", "Hidden", "Wandering", "Sleepy", "Brave", "Quiet", "Happy",
    "Retro", "Pixel", "Crimson", "Azure", "Ember", "Silver", "Paper", "Tiny", "Mighty", "Cozy",
    "Stormy", "Secret", "Dancing", "Desert", "Ocean", "Northern", "Urban", "Vintage", "Atomic", "Hollow",
    "Lucky", "Salty", "Wobbly", "Humble", "Gentle", "Feral", "Radiant", "Dusty",
)
_NOUNS = (
    "Fox", "Owl", "Bear", "Wolf", "Cat", "Moth", "Koi", "Raven", "Otter", "Tiger",
    "Fern", "Cactus", "Mushroom", "Moon", "Comet", "Wave", "Peak", "Pine", "Lantern", "Rocket",
    "Robot", "Dragon", "Whale", "Heron", "Bee", "Lotus", "Maple", "Anchor", "Compass", "Cloud",
    "Thunder", "Sparrow", "Deer", "Octopus", "Orbit", "Garden", "Lighthouse", "Skull", "Cherry", "Frog",
    "Snail", "Tortoise", "Hare", "Axolotl", "Sunflower", "Volcano", "Bonsai", "Jellyfish",
)

_SEASON_AMPLITUDE = {"summer": 0.30, "winter": 0.40, "holiday": 0.25, "flat": 0.08}
_SEASON_PEAK_DOY = {"summer": 190, "winter": 15, "holiday": 350, "flat": 350}

# Decay constants (days) of the launch spike and of the slower fade; the floor never decays.
_TAUS = np.array([3.0, 5.0, 8.0, 13.0, 21.0, 30.0, 60.0, 120.0, 240.0])
_FAST_TAUS = {"flash": np.array([0, 1, 2]), "steady": np.array([2, 3, 4]), "dud": np.array([0, 1, 2, 3])}
_SLOW_TAUS = {"flash": np.array([5, 6, 7]), "steady": np.array([7, 8]), "dud": np.array([6, 7, 8])}

_WEEKDAY_FACTOR = np.array([0.95, 0.92, 0.95, 1.00, 1.05, 1.12, 1.08])  # Monday .. Sunday
_HOURLY = np.array([
    0.9, 0.6, 0.4, 0.3, 0.3, 0.4, 0.7, 1.2, 1.8, 2.3, 2.6, 2.9,
    3.3, 3.2, 2.9, 2.8, 2.9, 3.1, 3.5, 4.0, 4.3, 4.0, 3.1, 1.9,
])
_HOURLY_CDF = np.cumsum(_HOURLY) / _HOURLY.sum()

_ORDER_SIZE_CDF = np.cumsum([0.62, 0.24, 0.10, 0.04])  # 1..4 lines
_QUANTITY_CDF = np.cumsum([0.82, 0.13, 0.04, 0.007, 0.003])  # 1..5 units
_MEAN_ORDER_SIZE = 1.56

_DISCOUNT_RATE = 0.09  # share of orders with a discount code (much higher around Black Friday)
_DISCOUNT_PCTS = np.array([0.10, 0.15, 0.20, 0.25])
_CANCEL_RATE = 0.02  # share of orders cancelled
_REFUND_RATE = 0.03  # share of (non-cancelled) lines with refunded units


def _seed_words(seed: int) -> int:
    return seed % (1 << 64)


def _money(cents: np.ndarray) -> pa.Array:
    """int64 cents -> decimal128(18, 4), built straight from the 16-byte little-endian words."""
    units = np.ascontiguousarray(cents, dtype=np.int64) * 100
    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63  # sign extension
    return pa.Array.from_buffers(schemas.MONEY, len(units), [None, pa.py_buffer(words)])


def _timestamps(us: np.ndarray) -> pa.Array:
    us = np.ascontiguousarray(us, dtype=np.int64)
    return pa.Array.from_buffers(schemas.TS, len(us), [None, pa.py_buffer(us)])


def _sample_cdf(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    """Indices 0..len(cdf)-1 drawn with the probabilities behind `cdf` (which ends at 1)."""
    idx = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(idx, len(cdf) - 1)


# ----------------------------------------------------------------------------------------------
# The generated store model (everything but the order lines)
# ----------------------------------------------------------------------------------------------


@dataclass
class _Model:
    days: int
    day_start_us: np.ndarray  # (days + 1,) UTC microseconds of each store-local midnight
    launch_day: np.ndarray  # (P,) sorted ascending
    launch_us: np.ndarray  # (P,) internal launch instant, also for products shown without launched_at
    last_day: np.ndarray  # (P,) last day with demand (< launch_day: never sells)
    type_idx: np.ndarray
    price_cents: np.ndarray
    coef_fast: np.ndarray
    tau_fast: np.ndarray
    coef_slow: np.ndarray
    tau_slow: np.ndarray
    coef_floor: np.ndarray
    seasonal: np.ndarray  # (types, days) demand multiplier
    decay: np.ndarray  # (len(_TAUS), days): exp(-age / tau)
    lines_per_day: np.ndarray  # (days,) sums to the requested order lines
    discount_rate: np.ndarray  # (days,)
    products: pa.Table | None = None
    artifact_ids: pa.Array | None = None

    def __post_init__(self) -> None:
        # flat indices into `decay` of each product's age-0 entry, shifted so that adding the day works
        self._fast_base = self.tau_fast * self.days - self.launch_day
        self._slow_base = self.tau_slow * self.days - self.launch_day
        self._decay_flat = self.decay.ravel()

    def weights(self, day: int, live: int) -> np.ndarray:
        """Expected demand of products 0..live-1 on `day` (they are the ones launched by then)."""
        idx = self._fast_base[:live] + day
        w = self._decay_flat.take(idx)
        w *= self.coef_fast[:live]
        np.add(self._slow_base[:live], day, out=idx)
        slow = self._decay_flat.take(idx)
        slow *= self.coef_slow[:live]
        w += slow
        w += self.coef_floor[:live]
        w *= self.seasonal[:, day].take(self.type_idx[:live])
        np.copyto(w, 0.0, where=self.last_day[:live] < day)
        return w


class DemoSource:
    """A believable merch store, generated from a seed. See the module docstring."""

    name = "demo"

    def __init__(
        self,
        products: int = 2000,
        order_lines: int = 1_000_000,
        seed: int = 42,
        end_date: dt.date | None = None,
        timezone: str = "UTC",
        currency: str = "USD",
        *,
        batch_size: int = DEFAULT_BATCH_ROWS,
    ):
        if products < 1:
            raise ConfigurationError(f"the demo store needs at least one product (got {products})")
        if order_lines < 0:
            raise ConfigurationError(f"demo order lines cannot be negative (got {order_lines})")
        if batch_size < 1:
            raise ConfigurationError(f"batch size must be positive (got {batch_size})")
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(f"unknown timezone {timezone!r}; use an IANA name such as 'Europe/Berlin'") from exc
        self.products = int(products)
        self.order_lines_target = int(order_lines)
        self.seed = int(seed)
        self.timezone = timezone
        self.currency = currency
        self.batch_size = int(batch_size)
        self.end_date = end_date if end_date is not None else dt.datetime.now(self.tz).date()
        self.start_date = self.end_date - dt.timedelta(days=HISTORY_DAYS - 1)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> "DemoSource":
        kwargs: dict[str, Any] = dict(
            products=settings.demo_products,
            order_lines=settings.demo_order_lines,
            seed=settings.demo_seed,
            end_date=settings.demo_end_date,
            timezone=settings.timezone,
            currency=settings.currency,
        )
        kwargs.update(overrides)
        return cls(**kwargs)

    def __repr__(self) -> str:
        return (f"DemoSource(products={self.products}, order_lines={self.order_lines_target}, seed={self.seed}, "
                f"end_date={self.end_date.isoformat()}, timezone={self.timezone!r})")

    # -- the Source interface -----------------------------------------------------------------

    def extract(self) -> StoreExtract:
        model = self._model
        return StoreExtract(products=model.products, order_lines=self._order_lines)

    # -- the model ----------------------------------------------------------------------------

    @cached_property
    def _model(self) -> _Model:
        return _build_model(self)

    def _order_lines(self) -> Iterator[pa.RecordBatch]:
        return _rebatch(self._day_batches(), self.batch_size)

    def _day_batches(self) -> Iterator[pa.RecordBatch]:
        model = self._model
        next_order = 1
        for day in range(model.days):
            n = int(model.lines_per_day[day])
            if n == 0:
                continue
            batch, orders = _generate_day(self, model, day, n, next_order)
            next_order += orders
            if batch is not None and batch.num_rows:
                yield batch


def _rebatch(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Re-cut a stream of record batches into batches of exactly `size` rows (the last may be short).

    Each row is copied at most once: a batch that spans several inputs is concatenated from
    zero-copy slices, and the remainder stays a slice of its input.
    """
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in batches:
        while batch.num_rows:
            need = size - pending_rows
            if batch.num_rows < need:
                pending.append(batch)
                pending_rows += batch.num_rows
                break
            pending.append(batch.slice(0, need))
            batch = batch.slice(need)
            yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
            pending, pending_rows = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)


# ----------------------------------------------------------------------------------------------
# Building the catalogue
# ----------------------------------------------------------------------------------------------


def _calendar(src: DemoSource) -> tuple[list[dt.date], np.ndarray]:
    dates = [src.start_date + dt.timedelta(days=i) for i in range(HISTORY_DAYS + 1)]
    starts = np.array(
        [int(dt.datetime(d.year, d.month, d.day, tzinfo=src.tz).timestamp()) * 1_000_000 for d in dates],
        dtype=np.int64,
    )
    return dates[:HISTORY_DAYS], starts


def _black_friday(year: int) -> dt.date:
    nov1 = dt.date(year, 11, 1)
    first_thursday = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thursday + dt.timedelta(days=22)


def _seasonal(dates: list[dt.date], rng: np.random.Generator) -> np.ndarray:
    days = len(dates)
    t = np.arange(days)
    doy = np.array([d.timetuple().tm_yday for d in dates])
    weekday = np.array([d.weekday() for d in dates])
    base = (0.85 + 0.3 * t / max(days - 1, 1)) * _WEEKDAY_FACTOR[weekday]
    events = np.ones(days)
    for i, d in enumerate(dates):
        bf = _black_friday(d.year)
        offset = (d - bf).days
        if offset == 0:
            events[i] = 2.8
        elif offset in (1, 2):
            events[i] = 2.0
        elif offset == 3:  # Cyber Monday
            events[i] = 2.4
        elif offset in (-2, -1):
            events[i] = 1.3
        elif d.month == 12 and 1 <= d.day <= 18:
            events[i] = 1.25
        elif d.month == 12 and 24 <= d.day <= 26:
            events[i] = 0.6
    noise = rng.lognormal(0.0, 0.08, days)
    out = np.empty((len(_TYPES), days))
    for k, ptype in enumerate(_TYPES):
        amp = _SEASON_AMPLITUDE[ptype.season]
        peak = _SEASON_PEAK_DOY[ptype.season]
        out[k] = base * events * noise * (1.0 + amp * np.cos(2 * np.pi * (doy - peak) / 365.25))
    return out


def _launch_days(rng: np.random.Generator, n: int, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Launch day of each product (unsorted) and whether it belongs to the opening catalogue."""
    drops = []
    day = int(rng.integers(7, 21))
    while day < days - 16:
        drops.append(day)
        day += int(rng.integers(12, 29))
    drops.append(days - 1 - int(rng.integers(2, 10)))  # a drop within the last two weeks
    drops_arr = np.array(drops)
    drop_size = rng.gamma(2.0, 1.0, len(drops_arr))
    drop_cdf = np.cumsum(drop_size) / drop_size.sum()

    group = _sample_cdf(rng, np.cumsum([0.08, 0.55, 0.37]), n)  # opening | drop | one-off
    launch = np.zeros(n, dtype=np.int64)
    in_drop = group == 1
    launch[in_drop] = drops_arr[_sample_cdf(rng, drop_cdf, int(in_drop.sum()))]
    one_off = group == 2
    launch[one_off] = rng.integers(0, days, int(one_off.sum()))
    return launch, group == 0


def _build_model(src: DemoSource) -> _Model:
    """The store for `src`: every step draws from one random stream in a fixed order (the
    order is part of the output: reordering the steps changes the store of every seed)."""
    n = src.products
    days = HISTORY_DAYS
    root = _seed_words(src.seed)
    rng = np.random.default_rng([root, 1])
    dates, day_start = _calendar(src)

    launch, opening, launch_us, no_launch_date = _launches(rng, n, days, day_start)
    design = _designs(rng, n)
    price_cents = _prices(rng, design.type_idx)
    vendor_names, vendor_idx = _vendors(rng, design.type_idx)
    tags = _tags(rng, design.type_idx, opening, launch, dates)
    coef_fast, tau_fast, coef_slow, tau_slow, coef_floor = _demand(rng, n)
    inactive, last_day = _lifetimes(rng, launch, days)
    seasonal = _seasonal(dates, rng)

    model = _Model(
        days=days,
        day_start_us=day_start,
        launch_day=launch,
        launch_us=launch_us,
        last_day=last_day,
        type_idx=design.type_idx,
        price_cents=price_cents,
        coef_fast=coef_fast,
        tau_fast=tau_fast,
        coef_slow=coef_slow,
        tau_slow=tau_slow,
        coef_floor=coef_floor,
        seasonal=seasonal,
        decay=np.exp(-np.arange(days)[None, :] / _TAUS[:, None]),
        lines_per_day=np.zeros(days, dtype=np.int64),
        discount_rate=_discount_rates(dates),
    )
    model.lines_per_day = _split_lines(model, src.order_lines_target, np.random.default_rng([root, 2]))
    model.artifact_ids = _skus(n)
    model.products = pa.Table.from_arrays(
        [
            model.artifact_ids,
            _names(design),
            pa.array([t.name for t in _TYPES], pa.string()).take(pa.array(design.type_idx)),
            pa.array(vendor_names, pa.string()).take(pa.array(vendor_idx)),
            tags,
            pa.array(~inactive),
            pa.array(launch_us, type=pa.int64(), mask=no_launch_date).cast(schemas.TS),
        ],
        schema=schemas.PRODUCTS,
    )
    return model


def _launches(rng: np.random.Generator, n: int, days: int,
              day_start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """In SKU order: launch day, opening catalogue or not, launch instant (UTC microseconds),
    and whether the product is shown without `launched_at`."""
    launch, opening = _launch_days(rng, n, days)
    order = np.argsort(launch, kind="stable")
    launch = launch[order]
    opening = opening[order]
    day_len = np.diff(day_start)
    launch_frac = rng.uniform(0.30, 0.45, n)  # roughly 07:00 - 11:00 local
    launch_us = day_start[launch] + (launch_frac * day_len[launch]).astype(np.int64)
    no_launch_date = rng.random(n) < 0.05
    return launch, opening, launch_us, no_launch_date


@dataclass(frozen=True)
class _Design:
    """Per product: its type (index into `_TYPES`) and name parts."""

    type_idx: np.ndarray
    adj_idx: np.ndarray
    noun_idx: np.ndarray
    series: np.ndarray  # 0, or k for "Vol. k+1" once every adjective-noun pair is taken


def _designs(rng: np.random.Generator, n: int) -> _Design:
    """Runs of 1-4 consecutive SKUs share a design (a name), each in another product type."""
    family = 1 + _sample_cdf(rng, np.cumsum([0.45, 0.30, 0.17, 0.08]), n)
    fam_start = np.cumsum(family) - family
    n_fam = int(np.searchsorted(fam_start, n, side="left"))
    family = family[:n_fam]
    fam_start = fam_start[:n_fam]
    fam_of = np.repeat(np.arange(n_fam), family)[:n]
    pos_in_fam = np.arange(n) - fam_start[fam_of]
    shares = np.array([t.share for t in _TYPES])
    gumbel = np.log(shares)[None, :] - np.log(-np.log(rng.random((n_fam, len(_TYPES)))))
    fam_types = np.argsort(-gumbel, axis=1, kind="stable")[:, :4]
    del gumbel
    type_idx = fam_types[fam_of, pos_in_fam]
    del fam_types

    n_combos = len(_ADJECTIVES) * len(_NOUNS)
    combo_perm = rng.permutation(n_combos)
    design = combo_perm[np.arange(n_fam) % n_combos]
    series = np.arange(n_fam) // n_combos  # only for catalogues beyond every name combination
    return _Design(
        type_idx=type_idx,
        adj_idx=(design // len(_NOUNS))[fam_of],
        noun_idx=(design % len(_NOUNS))[fam_of],
        series=series[fam_of],
    )


def _prices(rng: np.random.Generator, type_idx: np.ndarray) -> np.ndarray:
    """Cents, within the type's range, ending in .00, .50 or .95 (24.95 rather than 25.95)."""
    n = len(type_idx)
    lo = np.array([t.price[0] for t in _TYPES])[type_idx]
    hi = np.array([t.price[1] for t in _TYPES])[type_idx]
    dollars = lo + np.floor(rng.random(n) * (hi - lo + 1)).astype(np.int64)
    cents = np.array([0, 0, 0, 0, 50, 95])[_sample_cdf(rng, np.cumsum([1 / 6] * 6), n)]
    price_cents = dollars * 100 + cents
    price_cents = np.where(cents == 95, price_cents - 100, price_cents)
    return np.maximum(price_cents, 900)


def _pick(options: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """One of `options` per uniform `roll` in [0, 1)."""
    return options[np.minimum((roll * len(options)).astype(np.int64), len(options) - 1)]


def _vendors(rng: np.random.Generator, type_idx: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The vendor names, and each product's vendor (index into them) among its type's vendors."""
    vendor_names = sorted({v for t in _TYPES for v in t.vendors})
    vendor_ix = {v: i for i, v in enumerate(vendor_names)}
    vendor_pick = rng.random(len(type_idx))
    vendor_idx = np.empty(len(type_idx), dtype=np.int64)
    for k, ptype in enumerate(_TYPES):
        sel = type_idx == k
        vendor_idx[sel] = _pick(np.array([vendor_ix[v] for v in ptype.vendors]), vendor_pick[sel])
    return vendor_names, vendor_idx


def _tags(rng: np.random.Generator, type_idx: np.ndarray, opening: np.ndarray, launch: np.ndarray,
          dates: list[dt.date]) -> pa.ListArray:
    """category:, collection: (the launch season, or core for the opening catalogue), and mostly
    a color: and a material: of the product's type."""
    n = len(type_idx)
    vocab: list[str] = []
    vocab_ix: dict[str, int] = {}

    def tag(value: str) -> int:
        if value not in vocab_ix:
            vocab_ix[value] = len(vocab)
            vocab.append(value)
        return vocab_ix[value]

    category_tag = np.array([tag(f"category:{t.category}") for t in _TYPES])
    season_of_month = ["winter", "winter", "spring", "spring", "spring", "summer",
                       "summer", "summer", "fall", "fall", "holiday", "holiday"]
    day_collection = np.array([tag(f"collection:{season_of_month[d.month - 1]}-{d.year}") for d in dates])
    core_tag = tag("collection:core")
    collection_tag = np.where(opening, core_tag, day_collection[launch])
    color_tag = np.full(n, -1, dtype=np.int64)
    material_tag = np.full(n, -1, dtype=np.int64)
    color_roll = rng.random(n)
    material_roll = rng.random(n)
    has_color = rng.random(n) < 0.85
    has_material = rng.random(n) < 0.65
    for k, ptype in enumerate(_TYPES):
        sel = type_idx == k
        if ptype.colors:
            pick = _pick(np.array([tag(f"color:{c}") for c in ptype.colors]), color_roll[sel])
            color_tag[sel] = np.where(has_color[sel], pick, -1)
        pick = _pick(np.array([tag(f"material:{m}") for m in ptype.materials]), material_roll[sel])
        material_tag[sel] = np.where(has_material[sel], pick, -1)
    tag_matrix = np.stack([category_tag[type_idx], collection_tag, color_tag, material_tag], axis=1)
    present = tag_matrix >= 0
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    tag_values = pa.array(vocab, pa.string()).take(pa.array(tag_matrix[present]))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), tag_values)


def _demand(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Each product's demand curve: coef_fast, tau_fast, coef_slow, tau_slow, coef_floor (the
    taus index `_TAUS`). Flash hits spike and fade, steady sellers keep a floor, duds sell next
    to nothing and about 3% never sell; popularity is heavy-tailed."""
    kind_roll = rng.random(n)
    never = kind_roll < 0.03
    dud = (kind_roll >= 0.03) & (kind_roll < 0.22)
    flash = (kind_roll >= 0.22) & (kind_roll < 0.66)
    steady = kind_roll >= 0.66
    popularity = rng.lognormal(0.0, 0.9, n) * np.where(rng.random(n) < 0.06, 6.0, 1.0)
    amp_fast = np.where(flash, rng.lognormal(np.log(30.0), 0.6, n),
                        np.where(steady, rng.uniform(1.0, 3.0, n), rng.uniform(0.0, 2.0, n)))
    amp_slow = np.where(flash, rng.uniform(0.5, 1.5, n),
                        np.where(steady, rng.uniform(0.0, 0.5, n), rng.uniform(0.0, 0.5, n)))
    amp_floor = np.where(flash, rng.uniform(0.03, 0.12, n),
                         np.where(steady, rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.1, n)))
    scale = np.where(dud, 0.04, 1.0) * np.where(never, 0.0, 1.0) * popularity
    fast_roll = rng.random(n)
    slow_roll = rng.random(n)
    tau_fast = np.empty(n, dtype=np.int64)
    tau_slow = np.empty(n, dtype=np.int64)
    for kind, sel in (("flash", flash), ("steady", steady), ("dud", dud | never)):
        tau_fast[sel] = _pick(_FAST_TAUS[kind], fast_roll[sel])
        tau_slow[sel] = _pick(_SLOW_TAUS[kind], slow_roll[sel])
    return scale * amp_fast, tau_fast, scale * amp_slow, tau_slow, scale * amp_floor


def _lifetimes(rng: np.random.Generator, launch: np.ndarray, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Inactive or not, and the last day with demand: old products are more often retired, and
    most retired ones stopped selling at least 30 days before the end."""
    n = len(launch)
    age = (days - 1 - launch) / (days - 1)
    inactive = rng.random(n) < 0.25 * age**1.5
    stopped = inactive & (rng.random(n) < 0.85)
    room = days - 31 - launch
    stop_frac = rng.uniform(0.15, 0.95, n)
    last_day = np.full(n, days - 1, dtype=np.int64)
    last_day[stopped] = np.where(room[stopped] > 0,
                                 launch[stopped] + (stop_frac[stopped] * room[stopped]).astype(np.int64),
                                 launch[stopped] - 1)
    return inactive, last_day


def _discount_rates(dates: list[dt.date]) -> np.ndarray:
    """Share of orders with a discount code each day: much higher from Black Friday to Cyber Monday."""
    rates = np.full(len(dates), _DISCOUNT_RATE)
    for i, d in enumerate(dates):
        if 0 <= (d - _black_friday(d.year)).days <= 3:
            rates[i] = 0.40
    return rates


def _split_lines(model: _Model, target: int, rng: np.random.Generator) -> np.ndarray:
    """Order lines per day: exactly `target` in all, spread like the expected demand."""
    totals = _daily_totals(model)
    total = totals.sum()
    if not (target > 0 and total > 0):
        return np.zeros(model.days, dtype=np.int64)
    totals[totals < total * 1e-12] = 0.0
    return rng.multinomial(target, totals / totals.sum()).astype(np.int64)


def _skus(n: int) -> pa.Array:
    """`sku-000001`, ... in launch order (wider once there are a million products)."""
    numbers = pc.cast(pa.array(np.arange(1, n + 1)), pa.string())
    return pc.binary_join_element_wise("sku-", pc.utf8_lpad(numbers, width=max(6, len(str(n))), padding="0"), "")


def _names(design: _Design) -> pa.Array:
    """Names like `Cosmic Fox Hoodie`, with ` Vol. k` once every adjective-noun pair is taken."""
    type_names = pa.array([t.name for t in _TYPES], pa.string())
    names = pc.binary_join_element_wise(
        pa.array(_ADJECTIVES).take(pa.array(design.adj_idx)),
        pa.array(_NOUNS).take(pa.array(design.noun_idx)),
        type_names.take(pa.array(design.type_idx)),
        " ",
    )
    if design.series.max(initial=0) > 0:
        suffix = pc.if_else(
            pa.array(design.series > 0),
            pc.binary_join_element_wise(" Vol. ", pc.cast(pa.array(design.series + 1), pa.string()), ""),
            "",
        )
        names = pc.binary_join_element_wise(names, suffix, "")
    return names


def _daily_totals(model: _Model) -> np.ndarray:
    """Σ over products of each day's expected demand, without a pass over products per day.

    Per product type and decay constant, the demand is a sum of exponentials started at launch and
    cut after the last day: impulses convolved with the decay kernel. The floor is the same with
    an infinite decay constant (a running sum).
    """
    days = model.days
    n_types = len(_TYPES)
    starts = model.launch_day
    ends = model.last_day + 1  # first day without demand
    sells = ends > starts
    k = model.type_idx

    def impulses(coef: np.ndarray, decay_at_end: np.ndarray) -> np.ndarray:
        ix = np.concatenate([k * (days + 1) + starts, k * (days + 1) + np.minimum(ends, days)])
        w = np.concatenate([coef, -coef * decay_at_end])
        w = np.where(np.concatenate([sells, sells]), w, 0.0)
        return np.bincount(ix, weights=w, minlength=n_types * (days + 1)).reshape(n_types, days + 1)[:, :days]

    per_type = np.cumsum(impulses(model.coef_floor, np.ones(len(starts))), axis=1)
    span = ends - starts
    for coef, tau in ((model.coef_fast, model.tau_fast), (model.coef_slow, model.tau_slow)):
        for j in range(len(_TAUS)):
            sel = tau == j
            if not sel.any():
                continue
            c = np.where(sel, coef, 0.0)
            imp = impulses(c, np.exp(-np.maximum(span, 0) / _TAUS[j]))
            kernel = model.decay[j]
            for t_idx in range(n_types):
                if imp[t_idx].any():
                    per_type[t_idx] += np.convolve(imp[t_idx], kernel)[:days]
    return np.maximum((per_type * model.seasonal).sum(axis=0), 0.0)


# ----------------------------------------------------------------------------------------------
# One day of orders
# ----------------------------------------------------------------------------------------------

_LINE_NUMBERS = pa.array([str(i) for i in range(1, 5)], pa.string())


def _generate_day(src: DemoSource, model: _Model, day: int, n_lines: int,
                  first_order: int) -> tuple[pa.RecordBatch | None, int]:
    rng = np.random.default_rng([_seed_words(src.seed), 3, day])
    live = int(np.searchsorted(model.launch_day, day, side="right"))
    if live == 0:
        return None, 0
    weights = model.weights(day, live)
    cum = np.cumsum(weights)
    total = float(cum[-1])
    if not total > 0:
        return None, 0

    # orders and their sizes
    est = int(n_lines / _MEAN_ORDER_SIZE * 1.1) + 16
    sizes = 1 + _sample_cdf(rng, _ORDER_SIZE_CDF, est)
    ends = np.cumsum(sizes)
    while ends[-1] < n_lines:  # practically never: draw more
        more = 1 + _sample_cdf(rng, _ORDER_SIZE_CDF, est)
        sizes = np.concatenate([sizes, more])
        ends = np.cumsum(sizes)
    n_orders = int(np.searchsorted(ends, n_lines, side="left")) + 1
    sizes = sizes[:n_orders].copy()
    sizes[-1] -= int(ends[n_orders - 1] - n_lines)
    starts = np.cumsum(sizes) - sizes

    # products, by the day's demand
    product = np.searchsorted(cum, rng.random(n_lines) * total, side="right")
    over = product >= live
    if over.any():  # a float rounding edge: take the last product with demand
        product[over] = int(np.flatnonzero(weights > 0)[-1])

    # order times, in the day's rhythm, sorted
    day_start = int(model.day_start_us[day])
    day_len = int(model.day_start_us[day + 1]) - day_start
    hour = _sample_cdf(rng, _HOURLY_CDF, n_orders)
    frac = (hour + rng.random(n_orders)) / 24.0
    ordered = np.sort(day_start + (frac * day_len).astype(np.int64))

    # a product launched today sells only after its launch: such orders move to just after it
    launched_today = model.launch_day[product] == day
    if launched_today.any():
        not_before = np.where(launched_today, model.launch_us[product], 0)
        not_before = np.maximum.reduceat(not_before, starts)
        late = ordered <= not_before
        if late.any():
            ordered[late] = not_before[late] + rng.integers(60_000_000, 3 * 3_600_000_000, int(late.sum()))
            perm = np.argsort(ordered, kind="stable")
            ordered = ordered[perm]
            new_sizes = sizes[perm]
            new_starts = np.cumsum(new_sizes) - new_sizes
            line_src = np.repeat(starts[perm] - new_starts, new_sizes) + np.arange(n_lines)
            product = product[line_src]
            sizes, starts = new_sizes, new_starts
    ordered = np.minimum(ordered, day_start + day_len - 1)

    # order-level facts
    cancelled_order = rng.random(n_orders) < _CANCEL_RATE
    discounted = rng.random(n_orders) < model.discount_rate[day]
    pct = np.where(discounted, _DISCOUNT_PCTS[_sample_cdf(rng, np.cumsum([0.4, 0.3, 0.2, 0.1]), n_orders)], 0.0)

    # line-level facts
    line_order = np.repeat(np.arange(n_orders), sizes)
    line_number = np.arange(n_lines) - starts[line_order]
    quantity = 1 + _sample_cdf(rng, _QUANTITY_CDF, n_lines)
    unit_cents = model.price_cents[product]
    cancelled = cancelled_order[line_order]
    refund_roll = rng.random(n_lines)
    refunded = np.where(
        (refund_roll < _REFUND_RATE) & ~cancelled,
        1 + np.floor(rng.random(n_lines) * quantity).astype(np.int64),
        0,
    )
    discount_cents = np.rint(quantity * unit_cents * pct[line_order]).astype(np.int64)
    discount_cents[refunded == quantity] = 0  # a fully refunded line gives its discount back too

    order_numbers = pc.cast(pa.array(np.arange(first_order, first_order + n_orders)), pa.string())
    order_ids = pc.binary_join_element_wise("ord-", pc.utf8_lpad(order_numbers, width=9, padding="0"), "")
    line_orders = pa.array(line_order)
    order_id_col = order_ids.take(line_orders)
    line_id_col = pc.binary_join_element_wise(order_id_col, _LINE_NUMBERS.take(pa.array(line_number)), "-")

    batch = pa.RecordBatch.from_arrays(
        [
            order_id_col,
            line_id_col,
            _timestamps(ordered[line_order]),
            model.artifact_ids.take(pa.array(product)),
            pa.array(quantity, pa.int64()),
            _money(unit_cents),
            _money(discount_cents),
            pa.array(refunded, pa.int64()),
            pa.array(cancelled, pa.bool_()),
            pa.repeat(pa.scalar(src.currency, pa.string()), n_lines),
        ],
        schema=schemas.ORDER_LINES,
    )
    return batch, n_orders

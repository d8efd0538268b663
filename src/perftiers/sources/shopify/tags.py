"""The tag plan: which perftiers tags each Shopify product should gain and lose (pure functions).

In:  the products as Shopify has them now (id, handle, tags) and the tiers of each product
     (`measurement.performance` flags by artifact_id, which is the product handle).
Out: a `Plan`: per product the tags to add and to remove, with counts.

Rules:

* A product carries one tag per tier flag it has, among the tiers `shopify_tag_tiers` names:
  `<prefix><tier key with - for _>`, e.g. `perftiers:top-riser`, `perftiers:archive-candidate`.
* Every other tag under the prefix is removed (a tier that no longer holds, a tier no longer
  tagged, a stray `perftiers:...`). Tags outside the prefix are never added or removed.
* Shopify compares tags without regard to case, so the plan does too: `Perftiers:Winner` on a
  winner is left as it is (adding `perftiers:winner` would change nothing and be sent again on
  every push).
* A Shopify product without a row in the mart (new since the last sync) should carry no perftiers
  tag; a mart row without a Shopify product (deleted, or made by hand) is counted, not written.

The plan is made from Shopify's current tags, read just before pushing (not from the tags the
last sync stored, which may be stale): a push with no tier change plans nothing, and a push
that was killed half-way plans only what is still missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from perftiers.rules import TIER_TABLE

SAMPLE = 20
"""Changes listed in a plan's summary (the CLI table, the API preview)."""


def tag_of(tier_key: str, prefix: str) -> str:
    """`top_riser` -> `perftiers:top-riser`."""
    return f"{prefix}{tier_key.replace('_', '-')}"


def desired_tags(flags: Mapping[str, bool], prefix: str, tiers: Iterable[str]) -> list[str]:
    """The perftiers tags of a product with these flags (`{"is_winner": True, ...}`), in tier order."""
    wanted = set(tiers)
    return [tag_of(t.key, prefix) for t in TIER_TABLE if t.key in wanted and flags.get(t.flag)]


@dataclass(frozen=True)
class ShopProduct:
    id: str
    """The product's GID (`gid://shopify/Product/123`): what tagsAdd / tagsRemove take."""
    handle: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Change:
    product_id: str
    artifact_id: str
    add: tuple[str, ...]
    remove: tuple[str, ...]


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    shop_products: int = 0
    """Products in the shop."""
    tagged: int = 0
    """Shop products that should carry at least one perftiers tag."""
    not_in_shop: int = 0
    """Mart rows with no Shopify product of that handle (nothing to tag)."""

    @property
    def tags_to_add(self) -> int:
        return sum(len(c.add) for c in self.changes)

    @property
    def tags_to_remove(self) -> int:
        return sum(len(c.remove) for c in self.changes)

    def counts(self) -> dict[str, int]:
        return {"shop_products": self.shop_products, "products_tagged": self.tagged,
                "products_to_change": len(self.changes), "tags_to_add": self.tags_to_add,
                "tags_to_remove": self.tags_to_remove, "not_in_shop": self.not_in_shop}

    def by_tag(self) -> dict[str, dict[str, int]]:
        """{tag: {"add": n, "remove": n}} over the whole plan."""
        out: dict[str, dict[str, int]] = {}
        for c in self.changes:
            for tag in c.add:
                out.setdefault(tag, {"add": 0, "remove": 0})["add"] += 1
            for tag in c.remove:
                out.setdefault(tag, {"add": 0, "remove": 0})["remove"] += 1
        return dict(sorted(out.items()))

    def sample(self, limit: int = SAMPLE) -> list[dict[str, object]]:
        return [{"artifact_id": c.artifact_id, "product_id": c.product_id, "add": list(c.add),
                 "remove": list(c.remove)} for c in self.changes[:limit]]


def plan(shop: Iterable[ShopProduct], desired: Mapping[str, list[str]], prefix: str) -> Plan:
    """Compare Shopify's tags with the desired perftiers tags (by handle); see the module docstring."""
    out = Plan()
    low_prefix = prefix.casefold()
    seen: set[str] = set()
    for product in sorted(shop, key=lambda p: (p.handle, p.id)):
        out.shop_products += 1
        seen.add(product.handle)
        want = desired.get(product.handle, [])
        if want:
            out.tagged += 1
        have = {t.casefold() for t in product.tags}
        add = tuple(t for t in want if t.casefold() not in have)
        wanted = {t.casefold() for t in want}
        remove = tuple(t for t in product.tags if t.casefold().startswith(low_prefix) and t.casefold() not in wanted)
        if add or remove:
            out.changes.append(Change(product.id, product.handle, add, remove))
    out.not_in_shop = sum(1 for handle in desired if handle not in seen)
    return out

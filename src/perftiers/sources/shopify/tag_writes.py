"""Reading products' current tags from Shopify and writing a tag plan (`tags.Plan`) back.

Reading: every product's `id handle tags`, by a bulk query (pages as fallback), the same way the
sync reads products (`fetch.Fetcher`). A bulk mutation still running (a push killed while it ran)
is awaited first, so the plan sees its effect and does not send it again.

Writing, as Shopify documents it:

* a plan of at most `BULK_THRESHOLD` products: `tagsAdd(id:, tags:)` then `tagsRemove(id:, tags:)`
  per product, through `AdminClient.graphql` (cost-based throttling, THROTTLED retried);
* a larger one: per mutation (tagsAdd, then tagsRemove) a JSONL file of variables, one line per
  product: `stagedUploadsCreate` (resource BULK_MUTATION_VARIABLES) -> multipart POST of the file
  to the staged target -> `bulkOperationRunMutation(mutation:, stagedUploadPath: <the target's
  "key" parameter>)` -> the operation polled through `node(id:)` until it ends -> its result JSONL,
  one line per input line (`__lineNumber`), read for `userErrors`.

`userErrors` fail that product only; the others are written. A bulk operation that ends FAILED,
CANCELED or EXPIRED raises `ShopifyError`: what it did is in Shopify, so the next push re-plans
from the current tags and sends only what is still missing.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from perftiers import faults
from perftiers.sources.shopify.client import AdminClient, ShopifyAccessDenied, ShopifyError
from perftiers.sources.shopify.fetch import POLL_BULK, RUNNING, Fetcher
from perftiers.sources.shopify.tags import Change, Plan, ShopProduct

log = logging.getLogger("perftiers.sources.shopify")

BULK_THRESHOLD = 250
"""Plans changing more products than this use bulk mutations instead of one call per product."""
MAX_ERRORS = 10
"""userErrors kept in a push's result (the run record); the count covers all."""

TAGS_ADD = """mutation TagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
}"""
TAGS_REMOVE = """mutation TagsRemove($id: ID!, $tags: [String!]!) {
  tagsRemove(id: $id, tags: $tags) { node { id } userErrors { field message } }
}"""
STAGE = """mutation StageUpload($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}"""
RUN_MUTATION = """mutation RunBulkMutation($mutation: String!, $stagedUploadPath: String!) {
  bulkOperationRunMutation(mutation: $mutation, stagedUploadPath: $stagedUploadPath) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}"""
CURRENT_MUTATION = """query CurrentBulkMutation {
  currentBulkOperation(type: MUTATION) { id status errorCode objectCount url }
}"""
SCOPES = "query AccessScopes { currentAppInstallation { accessScopes { handle } } }"
WRITE_SCOPE = "write_products"


def granted_scopes(client: AdminClient) -> set[str]:
    """The access scopes the app has on this shop."""
    data = client.graphql(SCOPES)
    listed = ((data.get("currentAppInstallation") or {}).get("accessScopes")) or []
    return {str(s.get("handle")) for s in listed if s.get("handle")} or set(client.granted_scopes or ())


def require_write_scope(client: AdminClient) -> None:
    if WRITE_SCOPE not in granted_scopes(client):
        raise ShopifyAccessDenied(
            "the Shopify app lacks the write_products scope, which tagging products needs. Add it to the app "
            "(Dev Dashboard: your app > Versions > Access scopes; admin-made custom app: Settings > Apps > "
            "Develop apps > your app > Configuration) and install the new version on the shop.")


@dataclass
class PushResult:
    mode: str = "none"
    """`none` (nothing to change), `per-product` or `bulk`."""
    products_changed: int = 0
    tags_added: int = 0
    tags_removed: int = 0
    failed: int = 0
    """Products with a userError (their other changes may have been written)."""
    mutations: int = 0
    """Mutation calls sent (per product), or lines sent in bulk files."""
    errors: list[dict[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"products_changed": self.products_changed, "added": self.tags_added, "removed": self.tags_removed,
                "failed": self.failed, "mutations": self.mutations}


class TagWriter:
    """Reads current tags and writes plans for one shop; `sleep` is injectable for tests."""

    def __init__(self, client: AdminClient, *, sleep: Callable[[float], None] = time.sleep,
                 poll_interval: float = 0.5, max_poll_interval: float = 30.0, bulk_timeout: float = 6 * 3600.0,
                 bulk_threshold: int = BULK_THRESHOLD, use_bulk_reads: bool = True):
        self.client, self.sleep = client, sleep
        self.poll_interval, self.max_poll_interval, self.bulk_timeout = poll_interval, max_poll_interval, bulk_timeout
        self.bulk_threshold = bulk_threshold
        self.fetcher = Fetcher(client, use_bulk=use_bulk_reads, sleep=sleep, poll_interval=poll_interval,
                               max_poll_interval=max_poll_interval, bulk_timeout=bulk_timeout)

    # -- reading ----------------------------------------------------------------------------

    def current_tags(self) -> list[ShopProduct]:
        """Every product with its tags as Shopify has them now (after any running bulk mutation)."""
        running = (self.client.graphql(CURRENT_MUTATION).get("currentBulkOperation") or {})
        if running.get("status") in RUNNING:
            log.info("Shopify: waiting for bulk mutation %s (left by an earlier push) to end", running.get("id"))
            self._wait(running)
        until = datetime.now(timezone.utc) + timedelta(days=1)  # no upper bound in effect: every product
        products: dict[str, ShopProduct] = {}
        for node in self.fetcher.records("products", None, until):
            if node.get("__parentId") is None and node.get("id"):
                products[node["id"]] = ShopProduct(node["id"], node.get("handle") or "",
                                                   tuple(t.strip() for t in node.get("tags") or [] if t.strip()))
        return list(products.values())

    # -- writing ----------------------------------------------------------------------------

    def push(self, plan: Plan) -> PushResult:
        if not plan.changes:
            return PushResult()
        if len(plan.changes) > self.bulk_threshold:
            return self._push_bulk(plan.changes)
        return self._push_each(plan.changes)

    def _push_each(self, changes: list[Change]) -> PushResult:
        result = PushResult(mode="per-product")
        for change in changes:
            errors: list[str] = []
            for document, field_name, tags in ((TAGS_ADD, "tagsAdd", change.add), (TAGS_REMOVE, "tagsRemove", change.remove)):
                if not tags:
                    continue
                payload = self.client.graphql(document, {"id": change.product_id, "tags": list(tags)}).get(field_name) or {}
                result.mutations += 1
                faults.point("tags:mutation")
                problems = [e.get("message", str(e)) for e in payload.get("userErrors") or []]
                if problems:
                    errors += problems
                elif field_name == "tagsAdd":
                    result.tags_added += len(tags)
                else:
                    result.tags_removed += len(tags)
            self._count(result, change, errors)
        return result

    def _push_bulk(self, changes: list[Change]) -> PushResult:
        result = PushResult(mode="bulk")
        problems: dict[int, list[str]] = {}
        for document, field_name, attr in ((TAGS_ADD, "tagsAdd", "add"), (TAGS_REMOVE, "tagsRemove", "remove")):
            rows = [(i, getattr(c, attr)) for i, c in enumerate(changes) if getattr(c, attr)]
            if not rows:
                continue
            lines = "".join(json.dumps({"id": changes[i].product_id, "tags": list(tags)}) + "\n" for i, tags in rows)
            outcome = self._run_bulk_mutation(document, lines)
            result.mutations += len(rows)
            for n, (i, tags) in enumerate(rows):
                errors = outcome.get(n)
                if errors is None:
                    errors = ["Shopify's bulk result has no line for this product"]
                if errors:
                    problems.setdefault(i, []).extend(errors)
                elif field_name == "tagsAdd":
                    result.tags_added += len(tags)
                else:
                    result.tags_removed += len(tags)
        for i, change in enumerate(changes):
            self._count(result, change, problems.get(i, []))
        return result

    @staticmethod
    def _count(result: PushResult, change: Change, errors: list[str]) -> None:
        result.products_changed += 1
        if not errors:
            return
        result.failed += 1
        if len(result.errors) < MAX_ERRORS:
            result.errors.append({"artifact_id": change.artifact_id, "product_id": change.product_id,
                                  "message": "; ".join(errors)[:500]})
        log.warning("Shopify refused the tags of %s (%s): %s", change.artifact_id, change.product_id, "; ".join(errors))

    # -- bulk mutation steps ----------------------------------------------------------------

    def _run_bulk_mutation(self, document: str, lines: str) -> dict[int, list[str]]:
        """Stage `lines`, run `document` over them, wait; {line number: userError messages}."""
        path = self._stage(lines)
        payload = self.client.graphql(RUN_MUTATION, {"mutation": document, "stagedUploadPath": path}) \
            .get("bulkOperationRunMutation") or {}
        errors, op = payload.get("userErrors") or [], payload.get("bulkOperation")
        if errors or not op:
            raise ShopifyError("Shopify did not start the bulk tag mutation: "
                               + ("; ".join(e.get("message", "") for e in errors) or "no bulk operation returned"))
        faults.point("tags:bulk-started")
        op = self._wait(op)
        status = op.get("status")
        if status != "COMPLETED":
            if op.get("errorCode") == "ACCESS_DENIED":
                raise ShopifyAccessDenied("the bulk tag mutation was denied: the app lacks the write_products scope")
            raise ShopifyError(f"the bulk tag mutation ended {status} ({op.get('errorCode')}); what it wrote stays, "
                               "and the next push sends only what is still missing")
        outcome: dict[int, list[str]] = {}
        if not op.get("url"):
            return outcome
        for row in self.client.jsonl(op["url"]):
            n = row.get("__lineNumber")
            if n is None:
                continue
            data = row.get("data") or {}
            payload = next(iter(data.values()), None) or {}
            messages = [e.get("message", str(e)) for e in payload.get("userErrors") or []]
            messages += [e.get("message", str(e)) for e in row.get("errors") or []]
            outcome[int(n)] = messages
        return outcome

    def _stage(self, lines: str) -> str:
        data = self.client.graphql(STAGE, {"input": [{"resource": "BULK_MUTATION_VARIABLES", "filename": "perftiers-tags.jsonl",
                                                      "mimeType": "text/jsonl", "httpMethod": "POST"}]})
        payload = data.get("stagedUploadsCreate") or {}
        targets = payload.get("stagedTargets") or []
        if payload.get("userErrors") or not targets:
            raise ShopifyError("Shopify gave no upload target for the bulk tag mutation: "
                               + "; ".join(e.get("message", "") for e in payload.get("userErrors") or []))
        target = targets[0]
        fields = {p["name"]: p["value"] for p in target.get("parameters") or []}
        if not fields.get("key"):
            raise ShopifyError("Shopify's upload target names no `key` (the staged upload path)")
        self.client.upload(target["url"], fields, "perftiers-tags.jsonl", lines.encode(), "text/jsonl")
        return fields["key"]

    def _wait(self, op: dict[str, Any]) -> dict[str, Any]:
        interval = self.poll_interval
        deadline = time.monotonic() + self.bulk_timeout
        while op.get("status") in RUNNING:
            if time.monotonic() > deadline:
                raise ShopifyError(f"the bulk tag mutation is still {op.get('status')} after {self.bulk_timeout:.0f} s; "
                                   "the next push waits for it")
            self.sleep(interval)
            interval = min(self.max_poll_interval, interval * 1.5)
            op = self.client.graphql(POLL_BULK, {"id": op["id"]}).get("node") or {}
        return op

"""Tag write-back: the plan (pure), and pushes against the local Shopify stand-in (tests/fake_shopify.py).

The shop is tests/test_shopify_api.py's, synced once and refreshed as of 2025-02-22, so the tiers
are known by hand: linen-shirt top riser + winner, wool-scarf winner, paper-hat banana + archive
candidate, silk-tie and canvas-tote none.
"""

from __future__ import annotations

from datetime import date

import pytest

from perftiers.errors import Conflict
from perftiers.pipeline import jobs
from perftiers.pipeline import tags as tag_job
from perftiers.sources.shopify.tags import ShopProduct, desired_tags, plan, tag_of
from tests import pipeline
from tests.fake_shopify import gql_product
from tests.test_shopify_api import SECOND_SYNC, SPEC, Sleeps, make_settings, source, store, week_later

TAG = {"is_top_riser": "perftiers:top-riser", "is_winner": "perftiers:winner", "is_banana": "perftiers:banana",
       "is_archive": "perftiers:archive-candidate"}
"""The tags of the four flags, written out (independent of the code that names them)."""
OTHER_TAGS = {"linen-shirt": ["linen", "category:tops"], "silk-tie": ["Gift"], "canvas-tote": [], "wool-scarf": [],
              "paper-hat": ["perftiersish", "sale"]}
"""Tags outside the prefix, which no push may change (`perftiersish` is not under `perftiers:`)."""


# -- the plan (pure) -------------------------------------------------------------------------

def test_desired_tags_follow_the_flags_and_the_chosen_tiers():
    flags = {"is_top_riser": True, "is_winner": True, "is_banana": False, "is_archive": True}
    assert desired_tags(flags, "perftiers:", ["top_riser", "winner", "banana", "archive_candidate"]) == \
        ["perftiers:top-riser", "perftiers:winner", "perftiers:archive-candidate"]
    assert desired_tags(flags, "pt/", ["winner"]) == ["pt/winner"]
    assert tag_of("archive_candidate", "x-") == "x-archive-candidate"


def test_plan_adds_missing_removes_stale_and_never_touches_other_tags():
    shop = [
        ShopProduct("gid://shopify/Product/1", "a", ("sale", "perftiers:banana")),  # banana -> winner
        ShopProduct("gid://shopify/Product/2", "b", ("Perftiers:Winner", "new")),  # already right, other case
        ShopProduct("gid://shopify/Product/3", "c", ("perftiers:old-tier", "perftiersX")),  # stray prefix tag
        ShopProduct("gid://shopify/Product/4", "d", ("perftiers:winner",)),  # not in the mart
    ]
    desired = {"a": ["perftiers:winner"], "b": ["perftiers:winner"], "c": [], "gone": ["perftiers:banana"]}
    p = plan(shop, desired, "perftiers:")
    changes = {c.artifact_id: (c.add, c.remove) for c in p.changes}
    assert changes == {"a": (("perftiers:winner",), ("perftiers:banana",)), "c": ((), ("perftiers:old-tier",)),
                       "d": ((), ("perftiers:winner",))}
    assert p.counts() == {"shop_products": 4, "products_tagged": 2, "products_to_change": 3, "tags_to_add": 1,
                          "tags_to_remove": 3, "not_in_shop": 1}
    assert p.by_tag() == {"perftiers:banana": {"add": 0, "remove": 1}, "perftiers:old-tier": {"add": 0, "remove": 1},
                          "perftiers:winner": {"add": 1, "remove": 1}}
    again = [ShopProduct(s.id, s.handle, tuple(t for t in s.tags if t not in changes.get(s.handle, ((), ()))[1])
                         + changes.get(s.handle, ((), ()))[0]) for s in shop]
    assert plan(again, desired, "perftiers:").changes == []  # applying a plan leaves nothing to do


# -- pushes against the stand-in -------------------------------------------------------------

@pytest.fixture
def shop():
    fake = store()
    week_later(fake)
    for p in fake.products:
        p["tags"] = list(OTHER_TAGS[p["handle"]])
    fake.products[2]["tags"].append("PERFTIERS:Banana")  # canvas-tote: a stale tag from an earlier push
    fake.scopes.append("write_products")
    with fake:
        yield fake


@pytest.fixture
def settings(tmp_path, monkeypatch, shop):
    s = make_settings(tmp_path, monkeypatch, shop)
    pipeline.sync(s, source(s, SECOND_SYNC))
    pipeline.set_spec(s, **SPEC)
    pipeline.refresh(s, date(2025, 2, 22))
    yield s
    pipeline.close(s)


def push(settings, sleeps=None, **options):
    return jobs.push_tags(settings, trigger="cli", sleep=sleeps if sleeps is not None else Sleeps(),
                          poll_interval=0.0, **options)


def expected_tags(settings) -> dict[str, set[str]]:
    return {handle: {TAG[f] for f in pipeline.flags(row)} for handle, row in pipeline.performance(settings).items()}


def assert_shop_tagged(shop, settings) -> None:
    """Every product has exactly its tier tags under the prefix, and its other tags unchanged."""
    want = expected_tags(settings)
    for p in shop.products:
        ours = {t.casefold() for t in p["tags"] if t.casefold().startswith("perftiers:")}
        assert ours == want.get(p["handle"], set()), p["handle"]
        others = [t for t in p["tags"] if not t.casefold().startswith("perftiers:")]
        assert others == OTHER_TAGS.get(p["handle"], []), p["handle"]


def mutations(shop) -> list[dict]:
    return [r for r in shop.graphql_requests() if r["query"].lstrip().startswith("mutation Tags")]


def test_first_push_then_a_no_change_push_sends_nothing(shop, settings):
    preview = tag_job.preview(settings, sleep=Sleeps(), poll_interval=0.0)
    assert (preview["products_to_change"], preview["tags_to_add"], preview["tags_to_remove"]) == (4, 5, 1)
    assert preview["write_scope"] is True and preview["by_tag"]["perftiers:banana"] == {"add": 1, "remove": 0}
    assert preview["by_tag"]["PERFTIERS:Banana"] == {"add": 0, "remove": 1}  # removed as Shopify spells it
    assert mutations(shop) == []  # a preview writes nothing

    record = push(settings)
    assert record["kind"] == "tags" and record["status"] == "succeeded" and record["mode"] == "per-product"
    c = record["counts"]
    assert (c["added"], c["removed"], c["failed"], c["products_changed"], c["mutations"]) == (5, 1, 0, 4, 4)
    assert len(mutations(shop)) == 4  # one call per product and kind of change
    assert_shop_tagged(shop, settings)
    assert expected_tags(settings)["linen-shirt"] == {"perftiers:top-riser", "perftiers:winner"}
    runs = pipeline.runs(settings)
    assert runs[0]["run_id"] == record["run_id"] and runs[0]["counts"]["added"] == 5

    before = len(mutations(shop))
    again = push(settings)
    assert again["counts"]["mutations"] == 0 and again["counts"]["products_to_change"] == 0
    assert len(mutations(shop)) == before  # idempotent: no mutation sent at all


def test_a_push_after_tiers_change_adds_and_removes_only_the_difference(shop, settings):
    push(settings)
    pipeline.set_spec(settings, **{**SPEC, "winner_30_day_threshold": 3, "banana_count": 2})
    pipeline.refresh(settings, date(2025, 2, 22))
    old = {p["handle"]: {t for t in p["tags"] if t.startswith("perftiers:")} for p in shop.products}
    new = expected_tags(settings)
    assert new != {h: old[h] for h in new}  # the tiers did change
    before = len(mutations(shop))
    record = push(settings)
    added = sum(len(new[h] - old[h]) for h in new)
    removed = sum(len(old[h] - new[h]) for h in new)
    assert (record["counts"]["added"], record["counts"]["removed"]) == (added, removed)
    changed = sum(1 for h in new if new[h] != old[h])
    assert record["counts"]["products_changed"] == changed
    assert len(mutations(shop)) - before == record["counts"]["mutations"]
    assert_shop_tagged(shop, settings)


def test_tags_only_for_the_chosen_tiers_and_a_product_new_in_the_shop_loses_stale_tags(shop, settings):
    shop.products.append(gql_product("new-hat", "New Hat", updated="2025-02-23T00:00:00Z", pid=9,
                                     tags=["perftiers:winner", "summer"]))
    settings.shopify_tag_tiers = ["winner"]
    push(settings)
    tags = {p["handle"]: p["tags"] for p in shop.products}
    assert tags["new-hat"] == ["summer"]
    assert tags["linen-shirt"] == ["linen", "category:tops", "perftiers:winner"]  # no top-riser tag
    assert tags["paper-hat"] == ["perftiersish", "sale"]  # banana and archive are not tagged


def test_throttled_calls_wait_and_are_sent_once(shop, settings):
    shop.throttle_next = 2
    shop.low_bucket = True
    sleeps = Sleeps()
    record = push(settings, sleeps)
    assert record["status"] == "succeeded"
    assert sleeps[:2] == [2.02, 2.02]  # THROTTLED: (252 requested - 50 available) / 100 per second, twice
    assert len(sleeps) >= 1 + record["counts"]["mutations"]  # and the low bucket makes later calls wait
    adds = [m for m in shop.tag_mutations if m["name"] == "tagsAdd"]
    assert len(adds) == len({m["id"] for m in adds})  # no product tagged twice
    assert_shop_tagged(shop, settings)


def test_user_errors_fail_that_product_only_and_the_run_with_an_alert(shop, settings):
    from perftiers.metadata import webhooks
    from perftiers.metadata.db import engine_for

    db = engine_for(settings.resolved_database_url)
    sub, _ = webhooks.create(db, url="https://93.184.216.34/hook", events=["tags.failed"], tiers=None, fmt="json",
                             created_by="test")
    scarf = next(p for p in shop.products if p["handle"] == "wool-scarf")
    shop.tag_user_errors[scarf["id"]] = "Tags is invalid"
    with pytest.raises(tag_job.TagsRejected, match="1 product"):
        push(settings)
    record = pipeline.runs(settings)[0]
    assert record["kind"] == "tags" and record["status"] == "failed"
    assert record["counts"]["failed"] == 1 and record["counts"]["added"] == 4
    assert record["tag_errors"] == [{"artifact_id": "wool-scarf", "product_id": scarf["id"],
                                     "message": "Tags is invalid"}]
    assert [d["event"] for d in webhooks.deliveries(db, sub["id"])] == ["tags.failed"]

    del shop.tag_user_errors[scarf["id"]]
    record = push(settings)
    assert (record["counts"]["products_changed"], record["counts"]["added"]) == (1, 1)  # only the scarf is retried
    assert_shop_tagged(shop, settings)


def test_a_large_plan_uses_a_bulk_mutation(shop, settings):
    record = push(settings, bulk_threshold=2)
    assert record["mode"] == "bulk" and record["status"] == "succeeded"
    assert (record["counts"]["added"], record["counts"]["removed"]) == (5, 1)
    assert mutations(shop) == []  # no per-product call
    sent = [r["variables"] for r in shop.graphql_requests() if "bulkOperationRunMutation(" in r["query"]]
    assert len(sent) == 2 and all(v["stagedUploadPath"] in shop.uploads for v in sent)
    assert "tagsAdd(" in sent[0]["mutation"] and "tagsRemove(" in sent[1]["mutation"]
    uploads = [r for r in shop.requests if r["path"] == "/staged-uploads"]
    assert uploads and all("X-Shopify-Access-Token" not in r["headers"] for r in uploads)
    assert_shop_tagged(shop, settings)
    assert push(settings, bulk_threshold=2)["counts"]["mutations"] == 0


def test_bulk_user_errors_are_read_from_the_result_lines(shop, settings):
    tote = next(p for p in shop.products if p["handle"] == "canvas-tote")
    shop.tag_user_errors[tote["id"]] = "Product is locked"
    with pytest.raises(tag_job.TagsRejected):
        push(settings, bulk_threshold=0)
    record = pipeline.runs(settings)[0]
    assert record["counts"]["failed"] == 1 and record["tag_errors"][0]["artifact_id"] == "canvas-tote"


def test_missing_write_scope_and_missing_shop_fail_clearly(shop, settings):
    shop.scopes.remove("write_products")
    with pytest.raises(Exception, match="write_products"):
        push(settings)
    assert tag_job.preview(settings, sleep=Sleeps(), poll_interval=0.0)["write_scope"] is False
    assert mutations(shop) == []
    settings.shopify_shop = None
    with pytest.raises(Conflict, match="shopify_shop"):
        tag_job.preview(settings)


# -- the API preview and the CLI -------------------------------------------------------------

def test_api_preview_is_typed_for_editors_and_writes_nothing(shop, settings):
    from tests.api.conftest import bearer, client_for, make_tokens

    tokens = make_tokens(settings)
    app, client = client_for(settings)
    try:
        url = "/api/shopify/tags/preview"
        assert client.post(url, headers=bearer(tokens["viewer"])).status_code == 403
        response = client.post(url, headers=bearer(tokens["editor"]))
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["products_to_change"], body["tags_to_add"], body["tags_to_remove"]) == (4, 5, 1)
        assert {c["artifact_id"] for c in body["sample"]} == {"linen-shirt", "wool-scarf", "paper-hat", "canvas-tote"}
        assert mutations(shop) == []
        settings.shopify_shop = None
        response = client.post(url, headers=bearer(tokens["editor"]))
        assert response.status_code == 409 and response.json()["error"]["code"] == "shopify_not_configured"
    finally:
        app.state.engine.stop()


def test_api_push_is_for_admins_needs_the_opt_in_and_is_a_tags_run(shop, settings):
    from tests.api.conftest import bearer, client_for, make_tokens
    from tests.api.test_runs import wait_for_run

    tokens = make_tokens(settings)
    app, client = client_for(settings)

    class Api:  # what wait_for_run needs
        def get(self, path):
            return client.get(path, headers=bearer(tokens["admin"]))

    try:
        url = "/api/shopify/tags/push"
        assert client.post(url, headers=bearer(tokens["editor"])).status_code == 403
        off = client.post(url, headers=bearer(tokens["admin"]))
        assert off.status_code == 409 and off.json()["error"]["code"] == "shopify_tags_disabled", off.text
        assert "shopify_tags_enabled" in off.json()["error"]["message"] and mutations(shop) == []
        settings.shopify_tags_enabled = True
        started = client.post(url, headers=bearer(tokens["admin"]))
        assert started.status_code == 202, started.text
        assert started.json()["kind"] == "tags" and started.json()["status"] == "running"
        record = wait_for_run(Api(), started.json()["run_id"])
        assert record["status"] == "succeeded", record
        assert {k: record["counts"][k] for k in ("added", "removed", "failed")} == {"added": 5, "removed": 1, "failed": 0}
        assert_shop_tagged(shop, settings)
        listed = client.get("/api/sync/runs", params={"kind": "tags"}, headers=bearer(tokens["viewer"])).json()["items"]
        assert [r["run_id"] for r in listed] == [record["run_id"]]
        again = client.post("/api/shopify/tags/preview", headers=bearer(tokens["editor"])).json()
        assert again["products_to_change"] == 0 and again["enabled"] is True
        settings.shopify_shop = None
        unset = client.post(url, headers=bearer(tokens["admin"]))
        assert unset.status_code == 409 and unset.json()["error"]["code"] == "shopify_not_configured"
    finally:
        app.state.engine.stop()


def test_cli_dry_run_prints_the_plan_and_push_tags_pushes(shop, settings, monkeypatch):
    from typer.testing import CliRunner

    from perftiers.cli import app

    monkeypatch.setenv("PERFTIERS_SHOPIFY_SHOP", shop.url)
    monkeypatch.setenv("PERFTIERS_SHOPIFY_ACCESS_TOKEN", "shpat_good")
    runner = CliRunner()
    home = ["--data-dir", str(settings.home)]
    dry = runner.invoke(app, [*home, "shopify", "push-tags", "--dry-run", "--output", "json"])
    assert dry.exit_code == 0, dry.output
    import json

    assert json.loads(dry.stdout)["tags_to_add"] == 5 and mutations(shop) == []
    text = runner.invoke(app, [*home, "shopify", "push-tags", "--dry-run"])
    assert "4 to change" in text.stdout and "perftiers:top-riser" in text.stdout
    pushed = runner.invoke(app, [*home, "shopify", "push-tags", "--output", "json"])
    assert pushed.exit_code == 0, pushed.output
    assert json.loads(pushed.stdout)["counts"]["added"] == 5
    assert_shop_tagged(shop, settings)


# -- after each refresh ----------------------------------------------------------------------

def test_enabled_tags_follow_a_successful_refresh_and_a_failure_never_fails_it(shop, settings):
    from perftiers.metadata import webhooks
    from perftiers.metadata.db import engine_for

    refresh = jobs.refresh(settings, trigger="cli", as_of=date(2025, 2, 22))  # disabled: no tags run
    assert refresh["status"] == "succeeded" and pipeline.runs(settings)[0]["kind"] == "refresh"
    assert mutations(shop) == []

    settings.shopify_tags_enabled = True
    seen = []
    refresh = jobs.refresh(settings, trigger="schedule", as_of=date(2025, 2, 22), on_done=seen.append)
    assert refresh["status"] == "succeeded"
    assert [r["kind"] for r in seen] == ["refresh", "tags"] and seen[1]["status"] == "succeeded"
    assert pipeline.runs(settings)[0]["kind"] == "tags" and seen[1]["trigger"] == "schedule"
    assert_shop_tagged(shop, settings)

    db = engine_for(settings.resolved_database_url)
    sub, _ = webhooks.create(db, url="https://93.184.216.34/hook", events=["tags.failed", "refresh.failed"],
                             tiers=None, fmt="json", created_by="test")
    shop.fail = lambda request: 503  # Shopify down: the tag push fails, the refresh does not
    refresh = jobs.refresh(settings, trigger="schedule", as_of=date(2025, 2, 22))
    assert refresh["status"] == "succeeded"
    tags_run = pipeline.runs(settings)[0]
    assert tags_run["kind"] == "tags" and tags_run["status"] == "failed" and "Shopify" in tags_run["error"]
    assert [d["event"] for d in webhooks.deliveries(db, sub["id"])] == ["tags.failed"]


# -- a push killed half-way ------------------------------------------------------------------

def _cli(settings, shop, **env_extra: str):
    import os

    from tests.reliability.helpers import run_cli

    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFTIERS_")}
    env.update(PERFTIERS_SHOPIFY_SHOP=shop.url, PERFTIERS_SHOPIFY_ACCESS_TOKEN="shpat_good",
               PERFTIERS_LOCK_LEASE_SECONDS="5", PYTHONUNBUFFERED="1", **env_extra)
    return run_cli(settings.home, ["shopify", "push-tags", "--output", "json"], env)


def _wait_for_lock_expiry(settings) -> None:
    import time

    from perftiers.metadata import locks
    from perftiers.metadata.db import engine_for

    engine = engine_for(settings.resolved_database_url)
    deadline = time.monotonic() + 10
    while locks.current_holder(engine) is not None:
        assert time.monotonic() < deadline, "the killed push's lock did not expire within its lease"
        time.sleep(0.2)


@pytest.mark.parametrize("kill_at, bulk", [("tags:mutation:2", False), ("tags:bulk-started:1", True)])
def test_a_push_killed_half_way_then_run_again_finishes_without_double_work(shop, settings, kill_at, bulk):
    extra = {"PERFTIERS_SHOPIFY_TAG_BULK_THRESHOLD": "1"} if bulk else {}
    killed = _cli(settings, shop, PERFTIERS_TEST_KILL_AT=kill_at, **extra)
    assert killed.killed, killed.output
    assert pipeline.runs(settings)[0]["status"] == "running"  # the record of the killed run
    done_before = [(m["name"], m["id"]) for m in shop.tag_mutations]
    assert 0 < len(done_before) < 4  # half-way: some of the 4 changes were written, not all

    _wait_for_lock_expiry(settings)
    rerun = _cli(settings, shop, **extra)
    assert rerun.returncode == 0, rerun.output
    runs = pipeline.runs(settings)
    assert runs[0]["status"] == "succeeded" and runs[1]["status"] == "failed" and "Interrupted" in runs[1]["error"]
    assert_shop_tagged(shop, settings)  # exactly the right tags, other tags unchanged
    applied = [(m["name"], m["id"]) for m in shop.tag_mutations]
    assert len(applied) == len(set(applied)) == 4  # each change (product, add or remove) written once


def test_doctor_checks_the_write_scope_when_tags_are_enabled(shop, settings):
    from perftiers import doctor

    def tag_check():
        return next((c for c in doctor.run(settings).checks if c.name == "shopify tags"), None)

    assert tag_check() is None  # not enabled: not checked
    settings.shopify_tags_enabled = True
    assert tag_check().status == "ok"
    shop.scopes.remove("write_products")
    check = tag_check()
    assert check.status == "fail" and "write_products" in check.detail and "Access scopes" in check.fix

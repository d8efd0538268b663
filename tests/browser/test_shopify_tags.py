"""The Shopify tags dialog: an editor on a store without a shop is told what to set; an admin on a
store with a shop (the local Shopify stand-in) sees what a push would add and remove, with counts,
pushes, and finds the push in Sync history with its added / removed / failed counts."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests import serve
from tests.browser.conftest import _cli, _env
from tests.browser.pages import wait_idle
from tests.browser.test_accessibility import serious
from tests.fake_shopify import FakeShopify, gql_product

PREVIEW = "/api/shopify/tags/preview"


def test_editor_is_told_what_to_set_when_shopify_is_not_configured(editor, server, watch):
    watch.allow_status(409, "POST", f"{server.url}{PREVIEW}")
    editor.get_by_role("button", name="Shopify tags", exact=True).click()
    dialog = editor.get_by_role("dialog", name="Shopify tags")
    status = dialog.get_by_role("status")
    expect(status).to_contain_text("Shopify is not set up for tags")
    expect(status).to_contain_text("shopify_shop")
    expect(dialog.locator("#tg-plan")).to_be_hidden()
    expect(dialog.locator("#tg-push-button")).to_have_count(0)
    found = serious(editor, "shopify tags dialog (not configured)")
    assert not found, "\n".join(found)


def test_viewers_have_no_shopify_tags_button(viewer):
    expect(viewer.get_by_role("button", name="Shopify tags", exact=True)).to_have_count(0)


@pytest.fixture
def shop_server(tmp_path):
    """A small demo store of its own, served with a shop (the stand-in) and tags enabled, and an
    admin token; the stand-in holds every product of the store, one with a stale tier tag."""
    data_dir = tmp_path / "data"
    _cli(data_dir, "demo", "--products", "40", "--order-lines", "4000")
    admin = _cli(data_dir, "token", "create", "--role", "admin", "--name", "tags-admin").strip().splitlines()[-1]
    with FakeShopify(scopes=["read_products", "write_products"]) as shop:
        env = {**_env(), "PERFTIERS_SHOPIFY_SHOP": shop.url, "PERFTIERS_SHOPIFY_ACCESS_TOKEN": "shpat_good",
               "PERFTIERS_SHOPIFY_TAGS_ENABLED": "true"}
        served = serve.start_server(data_dir, env=env, log=tmp_path / "serve.log")
        try:
            client = httpx.Client(base_url=served.base_url, headers={"Authorization": f"Bearer {admin}"}, timeout=60)
            items = client.get("/api/performance-metrics", params={"pageSize": 500}).json()["items"]
            shop.products = [gql_product(p["artifact_id"], p["product_name"], updated="2025-01-01T00:00:00Z",
                                         tags=["keep-me"], pid=i + 1) for i, p in enumerate(items)]
            shop.products[0]["tags"].append("perftiers:old-tier")
            yield served, admin, shop, client
        finally:
            serve.stop_server(served)


def test_admin_previews_pushes_and_sees_the_push_in_sync_history(page, shop_server, watch):
    served, admin, shop, client = shop_server
    plan = client.post(PREVIEW).json()
    assert plan["products_to_change"] > len(plan["sample"]) == 20 and plan["tags_to_remove"] == 1, plan
    page.goto(f"{served.base_url}/login?token={admin}")
    page.locator("#app").wait_for(state="visible")
    wait_idle(page)

    page.get_by_role("button", name="Shopify tags", exact=True).click()
    dialog = page.get_by_role("dialog", name="Shopify tags")
    expect(dialog.get_by_role("status")).to_have_text(f"A push would change {plan['products_to_change']} products.")
    for key in ("shop_products", "products_to_change", "tags_to_add", "tags_to_remove", "not_in_shop"):
        expect(dialog.locator(f'#tg-counts [data-count="{key}"]')).to_have_text(f"{plan[key]:,}")
    for tag, n in plan["by_tag"].items():
        expect(dialog.locator(f'#tg-by-tag tr[data-tag="{tag}"]')).to_contain_text(f"+{n['add']}")
    expect(dialog.locator("#tg-by-tag tr[data-tag='perftiers:old-tier']")).to_contain_text("−1")
    expect(dialog.locator("#tg-changes tbody tr")).to_have_count(20)
    expect(dialog.locator("#tg-changes caption")).to_have_text(f"The first 20 of {plan['products_to_change']} products to change")
    first = plan["sample"][0]
    expect(dialog.locator(f'#tg-changes tr[data-product="{first["artifact_id"]}"]')).to_contain_text(", ".join(first["add"]) or "—")
    assert shop.tag_mutations == []  # the preview wrote nothing
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        found = serious(page, f"shopify tags dialog ({scheme})")
        assert not found, "\n".join(found)

    dialog.get_by_role("button", name=f"Push tags to Shopify ({plan['products_to_change']} products)").click()
    expect(dialog.locator("#tg-push-note")).to_contain_text("Tag push started")
    dialog.get_by_role("button", name="Close").click()
    row = page.locator('#runs-rows tr[data-kind="tags"]').first
    expect(row.locator("td").nth(2)).to_have_text("succeeded", timeout=60_000)
    expect(row.locator("td").first).to_have_text("tag push")
    expect(row.locator('[data-count="added"]')).to_have_text(f"added {plan['tags_to_add']}")
    expect(row.locator('[data-count="removed"]')).to_have_text("removed 1")
    expect(row.locator('[data-count="failed"]')).to_have_text("failed 0")
    assert all("perftiers:old-tier" not in p["tags"] and "keep-me" in p["tags"] for p in shop.products)

    page.get_by_role("button", name="Shopify tags", exact=True).click()
    expect(dialog.get_by_role("status")).to_have_text("Nothing to push: the shop's tags match the tiers.")
    expect(dialog.locator("#tg-push-button")).to_have_count(0)

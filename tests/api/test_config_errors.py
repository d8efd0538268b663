"""Settings the operator can fix are a 409 with a message that names them, never a 500.

Each case is a request that cannot succeed until someone changes a setting (no shop, a shop name
that is not one, a token Shopify refuses, an app that lacks a scope, a sync source without its
credentials). The API must say so in the one error shape; a 500 would read as a crash.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tests.api.conftest import assert_error
from tests.fake_shopify import FakeShopify

PREVIEW = "/api/shopify/tags/preview"


@pytest.fixture
def shop():
    with FakeShopify() as fake:
        yield fake


def test_tag_preview_without_a_shop_names_the_settings(fresh_api):
    fresh_api.settings.shopify_shop = None
    error = assert_error(fresh_api.post(PREVIEW, role="editor"), 409, "shopify_not_configured")
    assert "shopify_shop" in error["message"] and "shopify_access_token" in error["message"]


def test_tag_preview_with_a_shop_name_that_is_not_one_is_409(fresh_api):
    fresh_api.settings.shopify_shop = "not a shop!"
    fresh_api.settings.shopify_access_token = SecretStr("shpat_good")
    error = assert_error(fresh_api.post(PREVIEW, role="editor"), 409, "configuration")
    assert "shopify_shop" in error["message"]


def test_tag_preview_with_a_refused_token_is_409(fresh_api, shop):
    fresh_api.settings.shopify_shop = shop.url
    fresh_api.settings.shopify_access_token = SecretStr("shpat_revoked")
    response = fresh_api.post(PREVIEW, role="editor")
    error = assert_error(response, 409, "shopify_auth")
    assert "401" in error["message"] and "shpat_revoked" not in response.text


def test_tag_preview_when_shopify_forbids_the_app_is_409(fresh_api, shop):
    shop.fail = lambda request: 403  # HTTP 403: a scope missing or the shop blocking the app, Shopify does not say
    fresh_api.settings.shopify_shop = shop.url
    fresh_api.settings.shopify_access_token = SecretStr("shpat_good")
    error = assert_error(fresh_api.post(PREVIEW, role="editor"), 409, "shopify_auth")
    assert "scope" in error["message"]


@pytest.mark.parametrize("bulk", [False, True], ids=["paged", "bulk"])
def test_tag_preview_when_the_app_lacks_a_scope_is_409(fresh_api, shop, bulk):
    """A real missing scope: the app has no read_products, so Shopify answers the products query with a
    GraphQL error whose `extensions.code` is ACCESS_DENIED (a bulk operation over products ends FAILED with
    errorCode ACCESS_DENIED)."""
    shop.scopes.remove("read_products")
    shop.deny_products = True
    if not bulk:
        shop.bulk_user_error = "A bulk query operation for this app and shop is already in progress"  # read page by page
    fresh_api.settings.shopify_shop = shop.url
    fresh_api.settings.shopify_access_token = SecretStr("shpat_good")
    error = assert_error(fresh_api.post(PREVIEW, role="editor"), 409, "shopify_access_denied")
    assert "read_products" in error["message"]
    if not bulk:
        assert "Access denied for products field" in error["message"]  # Shopify's own words reach the operator


def test_sync_from_shopify_without_credentials_is_409(fresh_api):
    runs_before = fresh_api.get("/api/sync/runs").json()["items"]
    fresh_api.settings.sync_source = "shopify"
    fresh_api.settings.shopify_shop = None
    error = assert_error(fresh_api.post("/api/sync", role="editor"), 409, "configuration")
    assert "shopify_shop" in error["message"]
    assert fresh_api.get("/api/sync/runs").json()["items"] == runs_before  # no run was started

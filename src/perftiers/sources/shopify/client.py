"""One shop's Admin GraphQL API over HTTP: authentication, cost-based throttling, retries, and
errors that say what to fix.

* Authentication: a static Admin API access token (custom apps made in the Shopify admin), or a
  Dev Dashboard app's client ID and secret exchanged for a token at the first call (the client
  credentials grant; such tokens last 24 hours, and a 401 refreshes the token once). Tokens and
  secrets are sent only to the shop, never to bulk-operation download URLs, and are never logged
  or put into an error message.
* Throttling: every response carries `extensions.cost.throttleStatus`; when the bucket holds
  less than the last query's requested cost the next call waits until it has refilled. A
  `THROTTLED` error waits the same way and retries; HTTP 429 honours `Retry-After`.
* Transient failures (network errors, HTTP 5xx, `INTERNAL_SERVER_ERROR`) are retried with
  exponential backoff, then raise `ShopifyUnavailable` (retryable: nothing was committed, the
  next sync starts from the saved position).

Errors:

    ShopifyError (502)           a response perftiers cannot use
    └── ShopifyUnavailable       retries exhausted; retryable
    ShopifyAuthError (500)       bad, expired or revoked token / client credentials (ConfigurationError)
    ShopifyAccessDenied (500)    a missing access scope, e.g. read_all_orders (ConfigurationError)
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, Callable, Iterator

import httpx
from pydantic import SecretStr

from perftiers.errors import ConfigurationError, PerftiersError

log = logging.getLogger("perftiers.sources.shopify")

TOKEN_HEADER = "X-Shopify-Access-Token"
_HTTP_HINTS = {
    402: "the shop is frozen (unpaid plan); reactivate it in Shopify",
    403: "forbidden: the app lacks a scope or the shop blocks the app",
    404: "no such shop or API version: check shopify_shop and shopify_api_version",
    423: "the shop is locked",
}
_SHOP = re.compile(r"(?:https?://)?(?:admin\.shopify\.com/store/)?([a-z0-9][a-z0-9-]*)(?:\.myshopify\.com)?")


class ShopifyError(PerftiersError):
    status_code = 502
    code = "shopify_error"


class ShopifyUnavailable(ShopifyError):
    code = "shopify_unavailable"
    retryable = True


class ShopifyAuthError(ConfigurationError):
    code = "shopify_auth"


class ShopifyAccessDenied(ConfigurationError):
    code = "shopify_access_denied"


class QueryTooCostly(ShopifyError):
    """MAX_COST_EXCEEDED: the caller asks for smaller pages."""


def shop_url(shop: str) -> str:
    """`my-store`, `my-store.myshopify.com` or its admin URL -> `https://my-store.myshopify.com`.
    Any other `http(s)://` URL (a proxy, a test server) is used as given."""
    s = shop.strip().rstrip("/")
    low = s.lower()
    if low.startswith(("http://", "https://")) and ".myshopify.com" not in low and "admin.shopify.com" not in low:
        return s
    m = _SHOP.fullmatch(low)
    if not m:
        raise ConfigurationError(f"shopify_shop {shop!r} is not a shop: use my-store or my-store.myshopify.com")
    return f"https://{m.group(1)}.myshopify.com"


def _messages(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
    return str(errors)


def _codes(errors: Any) -> set[str]:
    if not isinstance(errors, list):
        return set()
    return {str((e.get("extensions") or {}).get("code")) for e in errors if isinstance(e, dict)}


class AdminClient:
    """Calls one shop's GraphQL Admin API. `sleep` is injectable so tests need not wait."""

    def __init__(
        self,
        base_url: str,
        api_version: str,
        *,
        access_token: SecretStr | None = None,
        client_id: str | None = None,
        client_secret: SecretStr | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 5,
        max_throttle_waits: int = 30,
        timeout: float = 120.0,
    ):
        if access_token is None and not (client_id and client_secret):
            raise ConfigurationError("Shopify needs an access token, or a client ID and client secret")
        self.base_url = base_url
        self.endpoint = f"{base_url}/admin/api/{api_version}/graphql.json"
        self._static_token = access_token
        self._client_id, self._client_secret = client_id, client_secret
        self._token: str | None = access_token.get_secret_value() if access_token else None
        self.granted_scopes: set[str] | None = None
        self.sleep = sleep
        self.max_retries, self.max_throttle_waits = max_retries, max_throttle_waits
        self.http = httpx.Client(timeout=timeout, headers={"User-Agent": "perftiers"})
        self._wait_next = 0.0
        self.calls = 0
        self.waited = 0.0

    def close(self) -> None:
        self.http.close()

    # -- authentication -------------------------------------------------------------------

    def _access_token(self) -> str:
        if self._token is None:
            self._token = self._client_credentials_token()
        return self._token

    def _client_credentials_token(self) -> str:
        assert self._client_id and self._client_secret
        try:
            resp = self.http.post(
                f"{self.base_url}/admin/oauth/access_token",
                data={"grant_type": "client_credentials", "client_id": self._client_id,
                      "client_secret": self._client_secret.get_secret_value()},
            )
        except httpx.TransportError as exc:
            raise ShopifyUnavailable(f"cannot reach {self.base_url} ({type(exc).__name__})") from None
        if resp.status_code >= 500:
            raise ShopifyUnavailable(f"{self.base_url} answered HTTP {resp.status_code} to the token request")
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200 or not body.get("access_token"):
            said = body.get("error_description") or body.get("error") or body.get("errors") or ""
            raise ShopifyAuthError(
                f"Shopify refused the client credentials (HTTP {resp.status_code}{': ' + str(said)[:200] if said else ''}). "
                "Check shopify_client_id and shopify_client_secret (Dev Dashboard > your app > Settings) "
                "and that the app is installed on this shop."
            )
        self.granted_scopes = {s.strip() for s in str(body.get("scope", "")).split(",") if s.strip()}
        return str(body["access_token"])

    def _unauthorized(self) -> ShopifyAuthError:
        if self._static_token is not None:
            what = ("the access token (shopify_access_token) is invalid, expired or revoked: create a new one "
                    "(Settings > Apps > Develop apps > your app > API credentials) or use a Dev Dashboard app "
                    "with shopify_client_id / shopify_client_secret")
        else:
            what = "a fresh token from the client credentials was rejected too: is the app still installed on this shop?"
        return ShopifyAuthError(f"Shopify answered 401 Unauthorized: {what}.")

    # -- GraphQL ----------------------------------------------------------------------------

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a successful response; throttling and transient failures are retried."""
        failures = throttled = 0
        refreshed = False
        while True:
            if self._wait_next > 0:
                self._pause(self._wait_next)
                self._wait_next = 0.0
            token = self._access_token()
            self.calls += 1
            try:
                resp = self.http.post(self.endpoint, json={"query": query, "variables": variables or {}},
                                      headers={TOKEN_HEADER: token})
            except httpx.TransportError as exc:
                failures += 1
                self._retry_or_raise(failures, f"network error ({type(exc).__name__})")
                continue
            status = resp.status_code
            if status == 401:
                if self._static_token is None and not refreshed:
                    refreshed, self._token = True, None
                    log.info("Shopify token expired; requesting a new one with the client credentials")
                    continue
                raise self._unauthorized()
            if status == 429 or status >= 500:
                failures += 1
                self._retry_or_raise(failures, f"HTTP {status}", resp.headers.get("Retry-After"))
                continue
            if status != 200:
                raise self._http_error(resp)
            try:
                body = resp.json()
            except ValueError:
                failures += 1
                self._retry_or_raise(failures, "a response that is not JSON")
                continue
            cost = (body.get("extensions") or {}).get("cost") or {}
            errors = body.get("errors")
            if errors:
                codes = _codes(errors)
                if "THROTTLED" in codes:
                    throttled += 1
                    if throttled > self.max_throttle_waits:
                        raise ShopifyUnavailable(f"Shopify kept throttling after {throttled - 1} waits")
                    self._pause(self._refill_seconds(cost) or min(60.0, 2.0 ** throttled))
                    continue
                if "ACCESS_DENIED" in codes:
                    raise ShopifyAccessDenied(
                        f"Shopify denied access: {_messages(errors)}. Add the missing access scope to the app "
                        "(read_products, read_orders, read_all_orders) and install it again."
                    )
                if "MAX_COST_EXCEEDED" in codes:
                    raise QueryTooCostly(_messages(errors))
                if "INTERNAL_SERVER_ERROR" in codes:
                    failures += 1
                    self._retry_or_raise(failures, "INTERNAL_SERVER_ERROR")
                    continue
                raise ShopifyError(f"Shopify rejected the query: {_messages(errors)}")
            self._wait_next = self._refill_seconds(cost)
            return body.get("data") or {}

    @staticmethod
    def _http_error(resp: httpx.Response) -> PerftiersError:
        hint = _HTTP_HINTS.get(resp.status_code)
        if hint:
            return ShopifyAuthError(f"Shopify answered HTTP {resp.status_code}: {hint}.")
        return ShopifyError(f"Shopify answered HTTP {resp.status_code}")

    @staticmethod
    def _refill_seconds(cost: dict[str, Any]) -> float:
        """Seconds until the bucket holds the last requested cost again (0 when it already does)."""
        status = cost.get("throttleStatus") or {}
        try:
            need = float(cost.get("requestedQueryCost") or 0)
            available = float(status["currentlyAvailable"])
            rate = float(status["restoreRate"])
        except (KeyError, TypeError, ValueError):
            return 0.0
        if rate <= 0 or available >= need:
            return 0.0
        return (need - available) / rate

    def _pause(self, seconds: float) -> None:
        self.waited += seconds
        self.sleep(seconds)

    def _retry_or_raise(self, failures: int, what: str, retry_after: str | None = None) -> None:
        if failures > self.max_retries:
            raise ShopifyUnavailable(
                f"Shopify did not answer properly after {failures} attempts (last: {what}); nothing was "
                "committed and the next sync starts again from the saved position"
            )
        try:
            wait = float(retry_after) if retry_after else 0.0
        except ValueError:
            wait = 0.0
        wait = wait or min(60.0, 2.0 ** (failures - 1))
        log.warning("Shopify: %s; retrying in %.1f s (attempt %d of %d)", what, wait, failures + 1, self.max_retries + 1)
        self._pause(wait)

    # -- bulk results -----------------------------------------------------------------------

    def jsonl(self, url: str) -> Iterator[dict[str, Any]]:
        """The objects of a bulk operation's JSONL file. The URL is pre-signed: no token is sent."""
        for attempt in range(1, self.max_retries + 2):
            started = False
            try:
                with self.http.stream("GET", url, follow_redirects=True) as resp:
                    if resp.status_code != 200:
                        raise httpx.HTTPStatusError(f"HTTP {resp.status_code}", request=resp.request, response=resp)
                    for line in resp.iter_lines():
                        if line.strip():
                            started = True
                            yield json.loads(line)
                return
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                if started:
                    raise ShopifyUnavailable(f"the bulk result download broke off ({type(exc).__name__})") from None
                self._retry_or_raise(attempt, f"bulk result download failed ({exc})")

    def upload(self, url: str, fields: dict[str, str], filename: str, content: bytes, mime: str) -> None:
        """POST a file to a staged upload target (multipart: its `fields`, then the file). The target
        is pre-signed: no token is sent."""
        for attempt in range(1, self.max_retries + 2):
            try:
                resp = self.http.post(url, data=fields, files={"file": (filename, content, mime)})
            except httpx.TransportError as exc:
                self._retry_or_raise(attempt, f"staged upload failed ({type(exc).__name__})")
                continue
            if resp.status_code < 300:
                return
            if resp.status_code < 500:
                raise ShopifyError(f"the staged upload target answered HTTP {resp.status_code}")
            self._retry_or_raise(attempt, f"staged upload answered HTTP {resp.status_code}")

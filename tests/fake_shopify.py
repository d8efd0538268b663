"""A stand-in for one shop's Admin API on 127.0.0.1, answering in the shapes Shopify documents.

It serves the GraphQL endpoint (`/admin/api/<version>/graphql.json`: shop info with access scopes,
bulk operations and their polling through `node(id:)`, paginated `products` / `orders` with
nested `lineItems`), bulk results as JSONL with `__parentId`, and the client credentials grant
(`/admin/oauth/access_token`). Tests change its data between syncs and switch on misbehaviour:
throttling, failing requests, expired tokens, missing scopes, failed bulk operations.

Tag writes: `tagsAdd` / `tagsRemove` (tags compared without case; `userErrors` for the products in
`tag_user_errors`), and bulk mutations: `stagedUploadsCreate` (BULK_MUTATION_VARIABLES) gives a
target on this server (`/staged-uploads`, a multipart POST with the file last, as cloud storage
takes it), `bulkOperationRunMutation` runs the uploaded JSONL (one at a time per shop; applied at
once, reported RUNNING for `polls_until_done` polls), `currentBulkOperation(type: MUTATION)`, and a
result JSONL with one line per input line (`__lineNumber`).
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timezone
from email.parser import BytesParser
from email.policy import HTTP
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs

INVALID_TOKEN = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


def gql_product(handle: str, title: str, *, status: str = "ACTIVE", updated: str, published: str | None = None,
                product_type: str = "Shirt", vendor: str = "Acme", tags: list[str] | None = None, pid: int = 0) -> dict:
    return {"id": f"gid://shopify/Product/{pid or abs(hash(handle)) % 10**9}", "handle": handle, "title": title,
            "vendor": vendor, "productType": product_type, "tags": tags or [], "status": status,
            "publishedAt": published, "createdAt": "2025-01-01T00:00:00Z", "updatedAt": updated}


def gql_line(lid: int, handle: str | None, qty: int, price: str, *, current: int | None = None, sku: str = "",
             name: str = "", discounts: tuple[str, ...] = (), currency: str = "USD") -> dict:
    return {
        "id": f"gid://shopify/LineItem/{lid}", "sku": sku or None, "name": name or (handle or "Custom item"),
        "quantity": qty, "currentQuantity": qty if current is None else current,
        "originalUnitPriceSet": {"shopMoney": {"amount": price, "currencyCode": currency}},
        "discountAllocations": [{"allocatedAmountSet": {"shopMoney": {"amount": d, "currencyCode": currency}}}
                                for d in discounts],
        "product": {"handle": handle} if handle else None,
    }


def gql_order(oid: int, name: str, processed: str, lines: list[dict], *, updated: str | None = None,
              cancelled: str | None = None, status: str = "PAID") -> dict:
    return {"id": f"gid://shopify/Order/{oid}", "name": name, "createdAt": processed, "processedAt": processed,
            "updatedAt": updated or processed, "cancelledAt": cancelled, "currencyCode": "USD",
            "displayFinancialStatus": status, "lineItems": lines}


def _cost(requested: int, available: float) -> dict:
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": min(requested, 12),
                     "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available,
                                        "restoreRate": 100.0}}}


def _window(filter_: str) -> tuple[str | None, str | None]:
    since = re.search(r"updated_at:>='([^']+)'", filter_)
    until = re.search(r"updated_at:<'([^']+)'", filter_)
    return (since.group(1) if since else None), (until.group(1) if until else None)


def _in(record: dict, since: str | None, until: str | None) -> bool:
    return (since is None or record["updatedAt"] >= since) and (until is None or record["updatedAt"] < until)


@dataclass
class FakeShopify:
    products: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    shop_created: str = "2025-01-01T00:00:00Z"
    timezone: str = "UTC"
    """The shop's `ianaTimezone`."""
    currency: str = "USD"
    scopes: list[str] = field(default_factory=lambda: ["read_products", "read_orders", "read_all_orders"])
    tokens: set[str] = field(default_factory=lambda: {"shpat_good"})
    client_id: str = "cid-123"
    client_secret: str = "csecret-456"
    # misbehaviour switches
    fail: Callable[[dict], int | None] | None = None
    """Called per GraphQL request ({'query', 'variables'}); an HTTP status makes that request fail."""
    throttle_next: int = 0
    low_bucket: bool = False
    bulk_user_error: str | None = None
    bulk_fail_code: str | None = None
    polls_until_done: int = 2
    children_first: bool = False
    deny_orders: bool = False
    deny_products: bool = False
    """Like deny_orders, for an app without read_products: `products` answers ACCESS_DENIED (a bulk
    operation over products fails with errorCode ACCESS_DENIED)."""
    expire_token_after: int | None = None
    tag_user_errors: dict[str, str] = field(default_factory=dict)
    """Product GID -> the userError message tagsAdd / tagsRemove answer for it."""
    # what happened
    requests: list[dict] = field(default_factory=list)
    token_requests: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.ops: dict[int, dict] = {}
        self.uploads: dict[str, bytes] = {}
        self.tag_mutations: list[dict] = []
        """Every tagsAdd / tagsRemove applied, per product or as a bulk line: {name, id, tags}."""
        self.graphql_calls = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with fake.lock:
                    status, payload, headers = fake.handle_post(self.path, dict(self.headers), body)
                self._send(status, payload, headers)

            def do_GET(self) -> None:
                with fake.lock:
                    fake.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
                    m = re.fullmatch(r"/bulk/(\d+)\.jsonl", self.path)
                    op = fake.ops.get(int(m.group(1))) if m else None
                if op is None:
                    self._send(404, {"errors": "Not Found"}, {})
                    return
                self._send(200, op["jsonl"], {"Content-Type": "application/jsonl"})

            def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> "FakeShopify":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- requests ---------------------------------------------------------------------------

    def handle_post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        if path == "/admin/oauth/access_token":
            return self.access_token(body)
        if path == "/staged-uploads":
            return self.receive_upload(headers, body)
        if not re.fullmatch(r"/admin/api/\d{4}-\d{2}/graphql\.json", path):
            return 404, {"errors": "Not Found"}, {}
        request = json.loads(body)
        self.requests.append({"method": "POST", "path": path, "headers": headers, **request})
        token = headers.get("X-Shopify-Access-Token")
        if token not in self.tokens:
            return 401, INVALID_TOKEN, {}
        self.graphql_calls += 1
        if self.expire_token_after is not None and self.graphql_calls > self.expire_token_after:
            self.tokens.discard(token)
            self.expire_token_after = None
            return 401, INVALID_TOKEN, {}
        failed = self.fail(request) if self.fail else None
        if failed:
            return failed, "<html><body>Service unavailable</body></html>" if failed >= 500 else {"errors": "Throttled"}, \
                {"Content-Type": "text/html"} if failed >= 500 else {"Retry-After": "3"}
        if self.throttle_next:
            self.throttle_next -= 1
            return 200, {"errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": _cost(252, 50.0)}, {}
        query, variables = request["query"], request.get("variables") or {}
        data = self.answer(query, variables)
        if isinstance(data, tuple):
            return data
        return 200, {"data": data, "extensions": _cost(50, 20.0 if self.low_bucket else 1990.0)}, {}

    def access_token(self, body: bytes) -> tuple[int, Any, dict[str, str]]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        self.requests.append({"method": "POST", "path": "/admin/oauth/access_token", "form": form})
        if form.get("grant_type") != "client_credentials" or form.get("client_id") != self.client_id \
                or form.get("client_secret") != self.client_secret:
            return 400, {"error": "invalid_client", "error_description": "Client authentication failed"}, {}
        self.token_requests += 1
        token = f"shpat_cc_{self.token_requests}"
        self.tokens.add(token)
        return 200, {"access_token": token, "scope": ",".join(self.scopes), "expires_in": 86399}, {}

    def answer(self, query: str, variables: dict) -> Any:
        if "stagedUploadsCreate" in query:
            return self.stage(variables["input"])
        if "bulkOperationRunMutation" in query:
            return self.run_bulk_mutation(variables["mutation"], variables["stagedUploadPath"])
        if "currentBulkOperation" in query:
            return {"currentBulkOperation": self.current_mutation()}
        for name in ("tagsAdd", "tagsRemove"):
            if f"{name}(" in query:
                return {name: self.tag(name, variables)}
        if "currentAppInstallation" in query and "shop {" not in query:
            return {"currentAppInstallation": {"accessScopes": [{"handle": s} for s in self.scopes]}}
        if "bulkOperationRunQuery" in query:
            return self.run_bulk(variables["query"])
        if "node(id:" in query and "BulkOperation" in query:
            return {"node": self.poll(int(variables["id"].rsplit("/", 1)[1]))}
        if "shop {" in query:
            return {"shop": {"name": "Test Shop", "createdAt": self.shop_created, "currencyCode": self.currency,
                             "ianaTimezone": self.timezone},
                    "currentAppInstallation": {"accessScopes": [{"handle": s} for s in self.scopes]}}
        if "node(id:" in query and "lineItems" in query:
            order = next(o for o in self.orders if o["id"] == variables["id"])
            return {"node": {"lineItems": self._line_page(order, variables["lines"], variables.get("after"))}}
        if "orders(" in query:
            if self.deny_orders:
                return self.denied("orders", "read_orders", " Also: Orders older than 60 days require `read_all_orders`.")
            return {"orders": self._page(self.orders, variables, lines=variables["lines"])}
        if "products(" in query:
            if self.deny_products:
                return self.denied("products", "read_products")
            return {"products": self._page(self.products, variables)}
        return 200, {"errors": [{"message": "unknown query"}]}, {}

    def denied(self, field_name: str, scope: str, more: str = "") -> tuple[int, Any, dict[str, str]]:
        return 200, {"errors": [{"message": f"Access denied for {field_name} field. Required access: `{scope}` "
                                            f"access scope.{more}",
                                 "locations": [{"line": 2, "column": 3}], "path": [field_name],
                                 "extensions": {"code": "ACCESS_DENIED",
                                                "documentation": "https://shopify.dev/api/usage/access-scopes",
                                                "requiredAccess": f"`{scope}` access scope."}}],
                     "data": None, "extensions": _cost(50, 1990.0)}, {}

    def _page(self, records: list[dict], variables: dict, lines: int | None = None) -> dict:
        since, until = _window(variables["query"])
        matching = sorted((r for r in records if _in(r, since, until)), key=lambda r: (r["updatedAt"], r["id"]))
        start = int(variables["after"].split(":")[1]) if variables.get("after") else 0
        chunk = matching[start:start + variables["first"]]
        nodes = []
        for r in chunk:
            node = {k: v for k, v in r.items() if k != "lineItems"}
            if lines is not None:
                node["lineItems"] = self._line_page(r, lines, None)
            nodes.append(node)
        end = start + len(chunk)
        return {"pageInfo": {"hasNextPage": end < len(matching), "endCursor": f"c:{end}" if chunk else None},
                "nodes": nodes}

    @staticmethod
    def _line_page(order: dict, first: int, after: str | None) -> dict:
        start = int(after.split(":")[1]) if after else 0
        chunk = order["lineItems"][start:start + first]
        end = start + len(chunk)
        return {"pageInfo": {"hasNextPage": end < len(order["lineItems"]), "endCursor": f"l:{end}"},
                "nodes": chunk}

    # -- bulk operations --------------------------------------------------------------------

    def run_bulk(self, bulk_query: str) -> Any:
        if self.bulk_user_error:
            return {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": [
                {"field": ["query"], "message": self.bulk_user_error}]}}
        n = len(self.ops) + 1
        resource = "orders" if re.search(r"\borders\(", bulk_query) else "products"
        filter_ = json.loads(re.search(r'query: ("(?:[^"\\]|\\.)*")', bulk_query).group(1))
        self.ops[n] = {"resource": resource, "window": _window(filter_), "polls": 0, "status": "CREATED",
                       "jsonl": ""}
        return {"bulkOperationRunQuery": {"bulkOperation": {"id": f"gid://shopify/BulkOperation/{n}",
                                                            "status": "CREATED"}, "userErrors": []}}

    def poll(self, n: int) -> dict:
        op = self.ops[n]
        if op.get("kind") == "mutation":
            return self.poll_mutation(n)
        op["polls"] += 1
        base = {"id": f"gid://shopify/BulkOperation/{n}", "errorCode": None, "objectCount": "0", "url": None,
                "partialDataUrl": None}
        if op["polls"] < self.polls_until_done:
            return {**base, "status": "RUNNING"}
        if self.bulk_fail_code:
            return {**base, "status": "FAILED", "errorCode": self.bulk_fail_code,
                    "partialDataUrl": f"{self.url}/bulk/{n}.jsonl"}
        since, until = op["window"]
        if op["resource"] == "products" and self.deny_products or op["resource"] == "orders" and self.deny_orders:
            return {**base, "status": "FAILED", "errorCode": "ACCESS_DENIED"}
        if op["resource"] == "products":
            rows = [p for p in self.products if _in(p, since, until)]
        else:
            rows = []
            for o in (o for o in self.orders if _in(o, since, until)):
                parent = {k: v for k, v in o.items() if k != "lineItems"}
                children = [{**li, "__parentId": o["id"]} for li in o["lineItems"]]
                rows += children + [parent] if self.children_first else [parent] + children
        op["jsonl"] = "".join(json.dumps(r) + "\n" for r in rows)
        return {**base, "status": "COMPLETED", "objectCount": str(len(rows)),
                "fileSize": str(len(op["jsonl"])) if rows else None,
                "url": f"{self.url}/bulk/{n}.jsonl" if rows else None}

    # -- tags -------------------------------------------------------------------------------

    def product(self, gid: str) -> dict | None:
        return next((p for p in self.products if p["id"] == gid), None)

    def tag(self, name: str, variables: dict) -> dict:
        """tagsAdd / tagsRemove on one product, as Shopify answers them."""
        gid = variables.get("id")
        product = self.product(gid)
        if product is None:
            return {"node": None, "userErrors": [{"field": ["id"], "message": "Product does not exist"}]}
        if gid in self.tag_user_errors:
            return {"node": None, "userErrors": [{"field": ["tags"], "message": self.tag_user_errors[gid]}]}
        raw = variables.get("tags") or []
        tags = [t.strip() for item in ([raw] if isinstance(raw, str) else raw) for t in item.split(",") if t.strip()]
        have = product["tags"]
        if name == "tagsAdd":
            for t in tags:
                if t.casefold() not in {h.casefold() for h in have}:
                    have.append(t)
        else:
            gone = {t.casefold() for t in tags}
            product["tags"] = have = [h for h in have if h.casefold() not in gone]
        product["updatedAt"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.tag_mutations.append({"name": name, "id": gid, "tags": tags})
        return {"node": {"id": gid}, "userErrors": []}

    def stage(self, inputs: list[dict]) -> dict:
        targets, errors = [], []
        for item in inputs:
            if item.get("resource") != "BULK_MUTATION_VARIABLES" or item.get("httpMethod", "PUT") != "POST":
                errors.append({"field": ["input"], "message": "this stand-in stages BULK_MUTATION_VARIABLES by POST only"})
                continue
            key = f"tmp/21759409/bulk/{len(self.uploads) + len(targets) + 1}/{item['filename']}"
            targets.append({"url": f"{self.url}/staged-uploads", "resourceUrl": None, "parameters": [
                {"name": "key", "value": key}, {"name": "Content-Type", "value": item.get("mimeType", "text/jsonl")},
                {"name": "success_action_status", "value": "201"}, {"name": "acl", "value": "private"},
                {"name": "policy", "value": "eyJjb25kaXRpb25zIjpbXX0="}, {"name": "x-goog-signature", "value": "abc123"}]})
        return {"stagedUploadsCreate": {"stagedTargets": targets, "userErrors": errors}}

    def receive_upload(self, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        """The staged target: multipart/form-data, the signed fields first, the file last."""
        ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        self.requests.append({"method": "POST", "path": "/staged-uploads", "headers": headers})
        if not ctype.startswith("multipart/form-data"):
            return 400, "<Error><Code>InvalidArgument</Code></Error>", {"Content-Type": "application/xml"}
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body)
        parts = list(message.iter_parts())
        fields = {p.get_param("name", header="content-disposition"): p.get_content() for p in parts[:-1]}
        if not parts or parts[-1].get_param("name", header="content-disposition") != "file" or not fields.get("key"):
            return 400, "<Error><Code>InvalidArgument</Code><Message>file must come last</Message></Error>", \
                {"Content-Type": "application/xml"}
        self.uploads[fields["key"]] = parts[-1].get_payload(decode=True)
        return 201, "<PostResponse></PostResponse>", {"Content-Type": "application/xml"}

    def _mutation_ops(self) -> list[int]:
        return [n for n, op in self.ops.items() if op.get("kind") == "mutation"]

    def run_bulk_mutation(self, mutation: str, path: str) -> dict:
        def refused(message: str, code: str) -> dict:
            return {"bulkOperationRunMutation": {"bulkOperation": None, "userErrors": [
                {"field": None, "message": message, "code": code}]}}

        running = [n for n in self._mutation_ops() if self.ops[n]["polls"] < self.polls_until_done]
        if running:
            return refused(f"A bulk mutation operation for this app and shop is already in progress: "
                           f"gid://shopify/BulkOperation/{running[-1]}.", "OPERATION_IN_PROGRESS")
        if path not in self.uploads:
            return refused("The JSONL file could not be found. Try uploading the file again, and check that "
                           "you've entered the URL correctly for the stagedUploadPath mutation argument.",
                           "NO_SUCH_FILE")
        name = next((m for m in ("tagsAdd", "tagsRemove") if f"{m}(" in mutation), None)
        if name is None:
            return refused("this stand-in runs tagsAdd and tagsRemove only", "INVALID_MUTATION")
        results = []
        for i, line in enumerate(self.uploads[path].decode().splitlines()):
            if line.strip():
                results.append({"data": {name: self.tag(name, json.loads(line))}, "__lineNumber": i})
        n = len(self.ops) + 1
        self.ops[n] = {"kind": "mutation", "polls": 0, "jsonl": "".join(json.dumps(r) + "\n" for r in results),
                       "count": len(results)}
        return {"bulkOperationRunMutation": {"bulkOperation": {"id": f"gid://shopify/BulkOperation/{n}",
                                                               "status": "CREATED"}, "userErrors": []}}

    def poll_mutation(self, n: int) -> dict:
        op = self.ops[n]
        op["polls"] += 1
        base = {"id": f"gid://shopify/BulkOperation/{n}", "errorCode": None, "objectCount": "0", "url": None,
                "partialDataUrl": None}
        if op["polls"] < self.polls_until_done:
            return {**base, "status": "RUNNING"}
        return {**base, "status": "COMPLETED", "objectCount": str(op["count"]),
                "url": f"{self.url}/bulk/{n}.jsonl" if op["count"] else None}

    def current_mutation(self) -> dict | None:
        ops = self._mutation_ops()
        return self.poll_mutation(ops[-1]) if ops else None

    # -- inspection -------------------------------------------------------------------------

    def graphql_requests(self) -> list[dict]:
        return [r for r in self.requests if r["method"] == "POST" and "query" in r]

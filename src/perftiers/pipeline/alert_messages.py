"""What a webhook delivery sends: the body in the subscription's format, and its signature.

- `json`: `{"id", "type", "created_at", "data"}`, signed like Stripe signs: the header
  `X-Perftiers-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`
  (docs/webhooks.md shows how to verify it and refuse replays).
- `slack`: an incoming-webhook message, `{"text": <fallback>, "blocks": [...]}` (Block Kit header,
  mrkdwn sections of at most 3,000 characters, a context line; at most 50 blocks).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from perftiers import rules
from perftiers.metadata.webhooks import TEST_EVENT, TIER_ENTERED, TIER_EVENTS

SIGNATURE_HEADER = "X-Perftiers-Signature"
TIER_LABELS = {t.key: t.plural for t in rules.TIER_TABLE}
SLACK_SECTION_LIMIT = 3000
SLACK_PER_TIER = 20
"""Products a Slack message names per tier; the rest are counted ("and 12 more")."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def json_body(event_id: str, kind: str, created_at: datetime, data: dict[str, Any]) -> bytes:
    return json.dumps({"id": event_id, "type": kind, "created_at": created_at.isoformat(), "data": data},
                      separators=(",", ":"), sort_keys=True).encode()


def _escape(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(label: str, url: str | None) -> str:
    label = _escape(label).replace("|", "/")
    return f"<{url}|{label}>" if url else label


def _sections(lines: list[str]) -> list[dict[str, Any]]:
    """mrkdwn sections holding `lines`, each under Slack's 3,000-character limit."""
    blocks, chunk = [], ""
    for line in lines:
        line = line[: SLACK_SECTION_LIMIT - 10]
        if chunk and len(chunk) + 1 + len(line) > SLACK_SECTION_LIMIT:
            blocks.append(chunk)
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        blocks.append(chunk)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": b}} for b in blocks]


def slack_body(kind: str, data: dict[str, Any]) -> bytes:
    if kind in TIER_EVENTS:
        message = _slack_tiers(kind, data)
    elif kind == TEST_EVENT:
        text = "perftiers test event: this Slack webhook works."
        message = {"text": text, "blocks": _sections([text])}
    else:
        message = _slack_failure(kind, data)
    message["blocks"] = message["blocks"][:50]
    return json.dumps(message, separators=(",", ":")).encode()


def _slack_tiers(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    products = data["products"]
    verb = "entered" if kind == TIER_ENTERED else "left"
    total = data.get("total", len(products))
    title = f"{total} product{'s' if total != 1 else ''} {verb} a tier"
    lines: list[str] = []
    for tier, label in TIER_LABELS.items():
        moved = [p for p in products if tier in p["tiers"]]
        if not moved:
            continue
        lines.append(f"*{label} ({len(moved)} {verb})*")
        lines += [f"• {_link(p['product_name'], p.get('url'))}" for p in moved[:SLACK_PER_TIER]]
        if len(moved) > SLACK_PER_TIER:
            lines.append(f"… and {len(moved) - SLACK_PER_TIER} more")
    if data.get("truncated"):
        lines.append(f"… {data['total'] - len(products)} more products are not listed")
    context = f"as of {data.get('as_of')} · refresh {data.get('run_id')}"
    if data.get("dashboard_url"):
        context += f" · {_link('open perftiers', data['dashboard_url'])}"
    return {"text": f"perftiers: {title} (as of {data.get('as_of')})",
            "blocks": [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
                       *_sections(lines)[:47],
                       {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}]}


def _slack_failure(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    what = {"sync.failed": "Sync", "refresh.failed": "Refresh", "tags.failed": "Shopify tag push"}.get(kind, kind)
    title = f"{what} failed"
    error = _escape(str(data.get("error") or "no error message"))[: SLACK_SECTION_LIMIT - 10]
    context = f"run {data.get('run_id')} · trigger {data.get('trigger')} · started {data.get('started_at')}"
    if data.get("dashboard_url"):
        context += f" · {_link('open perftiers', data['dashboard_url'])}"
    return {"text": f"perftiers: {title}: {data.get('error')}"[:500],
            "blocks": [{"type": "header", "text": {"type": "plain_text", "text": title}},
                       {"type": "section", "text": {"type": "mrkdwn", "text": f"```{error}```"}},
                       {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}]}

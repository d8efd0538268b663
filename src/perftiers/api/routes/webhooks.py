"""`/api/webhooks`: alert subscriptions (admin only), their delivery log and a test event.

The signing secret is in the creation answer only. A URL is checked (http(s), public address
unless `webhooks_allow_private_targets`) when it is saved; the worker checks it again before each
delivery (`pipeline.webhook_targets`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from perftiers.api.deps import AdminDep, MetaDbDep, SettingsDep
from perftiers.api.models.common import ErrorBody
from perftiers.api.models.webhooks import (
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryList,
    WebhookList,
    WebhookTestQueued,
    WebhookUpdate,
)
from perftiers.errors import Conflict
from perftiers.metadata import webhooks
from perftiers.pipeline import webhook_targets
from perftiers.settings import Settings

router = APIRouter(prefix="/api/webhooks", tags=["alerts (webhooks)"])
SubId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Subscription id.")]
NOT_FOUND = {404: {"model": ErrorBody, "description": "No such subscription"}}


def _check(settings: Settings, url: str) -> str:
    webhook_targets.check(url, allow_private=settings.webhooks_allow_private_targets)
    return url.strip()


@router.get("", response_model=WebhookList, summary="Subscriptions (never their secrets)")
def list_webhooks(_: AdminDep, db: MetaDbDep) -> dict:
    return {"items": webhooks.list_all(db)}


@router.post("", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED,
             summary="Subscribe a URL; the answer holds the signing secret, shown this once")
def create_webhook(principal: AdminDep, body: WebhookCreate, db: MetaDbDep, settings: SettingsDep) -> dict:
    sub, secret = webhooks.create(db, url=_check(settings, body.url), events=body.events, tiers=body.tiers,
                                  fmt=body.format, created_by=principal.name, enabled=body.enabled)
    return {**sub, "secret": secret}


@router.get("/{sub_id}", response_model=Webhook, responses=NOT_FOUND, summary="One subscription")
def get_webhook(_: AdminDep, sub_id: SubId, db: MetaDbDep) -> dict:
    return webhooks.get(db, sub_id)


@router.patch("/{sub_id}", response_model=Webhook, responses=NOT_FOUND,
              summary="Change a subscription's URL, events, tiers, format or enabled flag")
def update_webhook(_: AdminDep, sub_id: SubId, body: WebhookUpdate, db: MetaDbDep, settings: SettingsDep) -> dict:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("url") is not None:
        changes["url"] = _check(settings, changes["url"])
    return webhooks.update(db, sub_id, changes)


@router.delete("/{sub_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND,
               summary="Delete a subscription and its delivery log")
def delete_webhook(_: AdminDep, sub_id: SubId, db: MetaDbDep) -> Response:
    webhooks.delete(db, sub_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{sub_id}/deliveries", response_model=WebhookDeliveryList, responses=NOT_FOUND,
            summary="The delivery log, newest first: status, attempts, last HTTP status and error")
def list_deliveries(_: AdminDep, sub_id: SubId, db: MetaDbDep,
                    limit: Annotated[int, Query(ge=1, le=200, description="How many deliveries.")] = 50) -> dict:
    return {"items": webhooks.deliveries(db, sub_id, limit)}


@router.post("/{sub_id}/test", response_model=WebhookTestQueued, status_code=status.HTTP_202_ACCEPTED,
             responses={**NOT_FOUND, 409: {"model": ErrorBody, "description": "The subscription is disabled"}},
             summary="Queue a `webhook.test` event for this subscription (see its delivery log)")
def send_test(_: AdminDep, sub_id: SubId, db: MetaDbDep, request: Request) -> dict:
    if not webhooks.get(db, sub_id)["enabled"]:
        raise Conflict("the subscription is disabled; enable it first", details={"id": sub_id})
    event_id, delivery_id = webhooks.enqueue_test(db, sub_id)
    worker = getattr(request.app.state, "alerts", None)
    if worker is not None:
        worker.wake()
    return {"event_id": event_id, "delivery_id": delivery_id}

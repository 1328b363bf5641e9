"""Web push routes: the VAPID public key (public) and a fan's subscriptions per device."""
from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from musicconnect import NotFound, Problem
from musicconnect.web import get_platform, public, scope

from . import push

router = APIRouter()

_B64URL = r"^[A-Za-z0-9_-]+={0,2}$"


class VapidKeyOut(BaseModel):
    public_key: str = Field(description="base64url of the uncompressed P-256 point: the browser's "
                                        "`applicationServerKey` for `pushManager.subscribe()`")


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")
    p256dh: str = Field(min_length=80, max_length=120, pattern=_B64URL,
                        description="the browser's P-256 public key (base64url, uncompressed point)")
    auth: str = Field(min_length=16, max_length=40, pattern=_B64URL, description="the 16-octet auth secret (base64url)")


class SubscriptionIn(BaseModel):
    """What `PushSubscription.toJSON()` gives in the browser."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "endpoint": "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",
        "expirationTime": None,
        "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
                 "auth": "tBHItJI5svbpez7KI4CCXg"}}]})
    endpoint: str = Field(min_length=12, max_length=push.MAX_ENDPOINT, pattern=r"^https?://",
                          description="the push service URL of this device (https)")
    expirationTime: int | None = None  # noqa: N815 - the browser's name
    keys: PushKeys


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    endpoint: str
    created_at: datetime
    last_success_at: datetime | None = None


def _out(row) -> SubscriptionOut:
    return SubscriptionOut(id=row.id, endpoint=row.endpoint, created_at=row.created_at,
                           last_success_at=row.last_success_at)


@router.get("/push/vapid-public-key", response_model=VapidKeyOut, dependencies=[Depends(public)])
def vapid_public_key(platform=Depends(get_platform)):
    """The deployment's VAPID public key (RFC 8292), generated once and never changed."""
    return VapidKeyOut(public_key=push.vapid(platform).public_key)


@router.get("/push/subscriptions", response_model=list[SubscriptionOut])
def list_subscriptions(actor=Depends(scope("notify:read")), platform=Depends(get_platform)):
    """The caller's push subscriptions (one per device)."""
    return [_out(r) for r in push.subscriptions_of(platform, actor.user_id)]


@router.post("/push/subscriptions", response_model=SubscriptionOut, status_code=201,
             responses={200: {"model": SubscriptionOut, "description": "this endpoint was already registered: updated"},
                        422: {"description": "`invalid-push-subscription`: bad endpoint or keys (`errors`)"}})
def subscribe(body: SubscriptionIn, request: Request, response: Response, actor=Depends(scope("notify:write")),
              platform=Depends(get_platform)):
    """Register this device for web push (the browser's subscription; a known endpoint is updated)."""
    try:
        row, created = push.save_subscription(platform, actor.user_id, body.endpoint, body.keys.p256dh,
                                              body.keys.auth, request.headers.get("user-agent"))
    except push.InvalidSubscription as exc:
        raise Problem(422, "invalid-push-subscription", str(exc), errors=exc.errors) from None
    if not created:
        response.status_code = 200
    return _out(row)


@router.delete("/push/subscriptions/{subscription_id}", status_code=204, responses={404: {"description": "not yours"}})
def unsubscribe_device(subscription_id: uuid.UUID, actor=Depends(scope("notify:write")),
                       platform=Depends(get_platform)):
    """Remove one of the caller's push subscriptions (the device stops getting pushes)."""
    if not push.delete_subscription(platform, actor.user_id, subscription_id):
        raise NotFound("push subscription")
    return Response(status_code=204)

"""The contract between the notification pipeline and its delivery channels.

A channel turns one :class:`Delivery` (a row of ``notify_deliveries``: one notification of one kind
for one recipient on one channel) into something the recipient sees. The pipeline calls
``deliver`` synchronously from a job (``notify.deliver``), after the row was inserted
idempotently, so a channel is called at most once per successful delivery row:

* return a :class:`DeliveryResult` (``ok=True``; ``detail`` is logged / stored) on success;
* raise :class:`TemporaryFailure` when trying again later may work (SMTP down, 5xx, timeout):
  the job retries with back-off (the core jobs' retry support) and the row stays ``pending``;
* raise :class:`PermanentFailure` (``reason``) when it never will (a 404/410 push subscription,
  a hard bounce): the row is marked ``failed`` with the reason and the address / subscription is
  disabled (the channel does its own disabling; email addresses also go to the suppression list).

A channel may also offer ``deliver_many(platform, deliveries) -> list`` (one ``DeliveryResult`` or
exception *instance* per delivery, in order): the pipeline then hands it a whole claimed batch, so
it can read what it needs in a few queries and send concurrently (the push channel does).

Channels register themselves in :data:`CHANNELS` (``{"inbox": ..., "push": ..., "email": ...}``);
the pipeline only creates deliveries for channels present there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Delivery:
    """One notification for one recipient on one channel (a ``notify_deliveries`` row).

    ``id`` is the row's uuid (string) and doubles as the idempotency key a channel may hand to
    its provider. ``url`` is the page to open (relative to the site, or absolute); ``data`` the
    event data the templates saw (JSON-able); ``unsubscribe_url`` the one-click unsubscribe link
    for this recipient and kind (``None`` for the inbox)."""

    id: str
    recipient_id: str
    kind: str
    channel: str
    title: str
    body: str
    url: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool = True
    detail: str = ""


class TemporaryFailure(Exception):
    """Delivery failed but may succeed later: the job is retried with back-off."""


class PermanentFailure(Exception):
    """Delivery can never succeed for this address / subscription: the row is marked failed
    with ``reason`` and the channel disables the address."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@runtime_checkable
class Channel(Protocol):
    id: str  # "inbox" | "push" | "email"

    def deliver(self, platform: Any, delivery: Delivery) -> DeliveryResult: ...


#: channel id -> channel; filled at import by the channel modules (inbox here in the plugin,
#: push and email by their modules), read by the pipeline
CHANNELS: dict[str, Channel] = {}


def register_channel(channel: Channel) -> Channel:
    CHANNELS[channel.id] = channel
    return channel

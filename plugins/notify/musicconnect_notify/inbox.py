"""The in-app inbox channel: a delivery row of channel ``inbox`` is the notification itself (the
batch inserts it as ``sent``); delivering one again only repeats the live message on the fan's
open sockets."""
from __future__ import annotations

from .channels import Delivery, DeliveryResult, register_channel


class InboxChannel:
    id = "inbox"

    def deliver(self, platform, delivery: Delivery) -> DeliveryResult:
        from .pipeline import live

        live(platform, [(delivery.recipient_id, {"type": "notification", "id": delivery.id, "kind": delivery.kind,
                                                 "title": delivery.title, "body": delivery.body, "url": delivery.url})])
        return DeliveryResult(True, "inbox")


INBOX = register_channel(InboxChannel())

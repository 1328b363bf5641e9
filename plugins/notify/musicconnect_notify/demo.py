"""Demo data: the demo fan has a few unread notifications waiting in the inbox."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from .models import Delivery


def seed(platform, session, demo) -> None:
    fan, artist = demo["fan"], demo["artist_profile"]
    if session.scalar(select(Delivery.id).where(Delivery.recipient_id == fan.id, Delivery.object_key.like("demo:%"))):
        return
    now = platform.clock.now()
    name = artist.name
    for i, (kind, title, body, url) in enumerate([
        ("fanclub.new_post", f"{name} posted for members", "A new post is waiting in your fan club feed.",
         f"/artists/{artist.id}"),
        ("streaming.new_release", f"New from {name}", "A new track is out: listen now.", f"/artists/{artist.id}"),
        ("notify.artist_message", f"{name}: thank you!", "Thanks for being here from the start. More soon.",
         f"/artists/{artist.id}"),
    ]):
        session.add(Delivery(id=uuid.uuid4(), kind=kind, object_key=f"demo:{i}", recipient_id=fan.id, channel="inbox",
                             artist_id=artist.id, title=title, body=body, url=url, data={}, status="sent",
                             created_at=now - timedelta(hours=3 - i), sent_at=now - timedelta(hours=3 - i)))

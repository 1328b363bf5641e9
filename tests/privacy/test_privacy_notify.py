"""With notify enabled, a finished export is a notification to its owner (inbox), not to others."""
from __future__ import annotations

import pytest


@pytest.fixture
def mc_plugins():
    return ["privacy", "notify"]


def test_privacy_export_ready_is_notified(mc_platform, mc_client, mc_users):
    fan, other = mc_users.fan, mc_users.make()
    assert "privacy.export_ready" in mc_platform.notification_kinds()
    assert mc_client.post("/api/v1/privacy/exports", headers=fan.headers).status_code == 202
    mc_platform.jobs.wait_idle()
    items = mc_client.get("/api/v1/notify/inbox", headers=fan.headers).json()["items"]
    ready = [i for i in items if i["kind"] == "privacy.export_ready"]
    assert len(ready) == 1 and ready[0]["title"] == "Your data export is ready" and ready[0]["url"] == "/privacy"
    with mc_platform.read() as s:
        from musicconnect_privacy.exports import Export
        from sqlalchemy import select

        exp = s.scalar(select(Export).where(Export.user_id == fan.id))
    assert exp.expires_at.strftime("%Y-%m-%d") in ready[0]["body"]
    others = mc_client.get("/api/v1/notify/inbox", headers=other.headers).json()["items"]
    assert not [i for i in others if i["kind"] == "privacy.export_ready"]

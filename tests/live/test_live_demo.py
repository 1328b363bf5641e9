"""The live plugin's demo data: a scheduled party in a few days and a past one with its recap and
chat history, seeded once (idempotent)."""
from __future__ import annotations

from musicconnect.seed import seed_demo


def test_demo_parties_recap_and_history(mc_platform, mc_client):
    demo = seed_demo(mc_platform)
    seed_demo(mc_platform)  # idempotent
    artist = demo.artist_profile.id
    got = mc_client.get(f"/api/v1/live/artists/{artist}/parties").json()["parties"]
    assert sorted(p["status"] for p in got) == ["ended", "scheduled"]
    upcoming = next(p for p in got if p["status"] == "scheduled")
    past = next(p for p in got if p["status"] == "ended")
    assert upcoming["rsvps"] >= 1 and upcoming["starts_at"] > mc_platform.clock.now().isoformat()[:19]
    recap = mc_client.get(f"/api/v1/live/parties/{past['id']}/recap").json()
    assert recap["peak_listeners"] >= 1 and recap["messages"] == 11
    assert len(recap["listeners"]) >= 1 and max(m["listeners"] for m in recap["listeners"]) == recap["peak_listeners"]
    msgs = mc_client.get(f"/api/v1/live/rooms/party-{past['id']}/messages").json()["messages"]
    assert len(msgs) == 11 and msgs[0]["text"].startswith("Welcome")


import pytest  # noqa: E402


@pytest.mark.mc_plugins("live", "streaming")
def test_demo_parties_play_the_streaming_demo_tracks(mc_platform, mc_client):
    demo = seed_demo(mc_platform)
    got = mc_client.get(f"/api/v1/live/artists/{demo.artist_profile.id}/parties").json()["parties"]
    for party in got:
        assert party["playlist"] and all(t["title"] for t in party["playlist"])

"""The abuse screens where people write: a live chat burst (REST and the room socket) and a
fan-club comment burst get 429 ``activity-limited`` with Retry-After and an ``abuse`` case; the
chat's moderators are exempt; a normal pace is never limited."""
from __future__ import annotations

import uuid
from datetime import timedelta

from helpers import problem


def _chat(client, user, artist_id, text):
    return client.post(f"/api/v1/live/rooms/artist-{artist_id}/messages", json={"text": text}, headers=user.headers)


def _abuse_cases(client, admin):
    r = client.get("/api/v1/moderation/cases?kind=abuse", headers=admin.headers)
    assert r.status_code == 200, r.text
    return r.json()["cases"]


def test_a_chat_burst_is_limited_over_rest_and_the_socket(mc_client, mc_users, mc_platform, mc_clock):
    artist_id = mc_users.artist.artist_id
    fan = mc_users.fan
    codes = []
    for i in range(11):  # 11 lines in 25 s: under the chat's own flood limit (5 per 10 s), over 10 a minute
        r = _chat(mc_client, fan, artist_id, f"line {i}")
        codes.append(r.status_code)
        mc_clock.advance(seconds=2.5)
    assert codes == [201] * 10 + [429], codes
    body = problem(r, 429, "activity-limited")
    assert 1 <= int(r.headers["Retry-After"]) <= 60 and body["retry_after"] == int(r.headers["Retry-After"])
    assert "within a minute" in body["detail"]
    r = mc_client.get(f"/api/v1/live/rooms/artist-{artist_id}/messages")
    assert [m["text"] for m in r.json()["messages"]] == [f"line {i}" for i in range(10)]  # the refused line is not kept
    # over the room socket: an error frame with the same slug, the line is not delivered
    with mc_client.websocket_connect(f"/api/v1/live/artists/{artist_id}/room/socket", headers=fan.headers) as ws:
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"type": "chat", "text": "one more"})
        err = ws.receive_json()
        assert err["type"] == "error" and err["problem"] == "activity-limited" and err["status"] == 429
        assert err["retry_after"] >= 1
    [case] = _abuse_cases(mc_client, mc_users.admin)
    assert case["subject_id"] == str(fan.id) and case["reason"] == "message-burst" and case["data"]["flags"] == 2
    assert case["data"]["first"]["kind"] == "chat.sent"
    # the artist (a moderator of their room) is exempt; the fan may write again a minute later
    for i in range(15):
        assert _chat(mc_client, mc_users.artist, artist_id, f"artist {i}").status_code == 201
    mc_clock.advance(seconds=61)
    fan.renew(mc_platform)
    assert _chat(mc_client, fan, artist_id, "back").status_code == 201


def test_a_comment_burst_is_limited(mc_client, mc_users, mc_platform, mc_clock):
    from musicconnect.models import ContentItem

    artist = mc_users.artist
    with mc_platform.session() as s:
        item = ContentItem(id=uuid.uuid4(), artist_id=artist.artist_id, kind="post", title="News", status="ready",
                           visibility="public", publish_at=mc_platform.clock.now() - timedelta(days=1), data={})
        s.add(item)
    url = f"/api/v1/fanclub/content/{item.id}/comments"
    codes = []
    for i in range(12):
        r = mc_client.post(url, json={"body": f"thanks {i}"}, headers=artist.headers)
        codes.append(r.status_code)
    assert codes == [201] * 10 + [429, 429], codes
    problem(r, 429, "activity-limited")
    assert int(r.headers["Retry-After"]) >= 1
    r = mc_client.get(url, headers=artist.headers)
    assert len(r.json()["comments"]) == 10
    [case] = _abuse_cases(mc_client, mc_users.admin)
    assert case["subject_id"] == str(artist.id) and case["data"]["first"]["kind"] == "comment.created"
    mc_clock.advance(seconds=61)
    artist.renew(mc_platform)
    assert mc_client.post(url, json={"body": "later"}, headers=artist.headers).status_code == 201

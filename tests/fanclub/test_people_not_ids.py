"""Issue 12, "people, not ids": wherever the fan club shows a person (backstage posts and replies,
comments, DMs, the top-fans metric) it gives their display name, never their email; a fan who
chose to be anonymous (``PUT /me/privacy``) is "A fan" without name or id to everyone else, and
lists of people cost one query for all of them."""
from __future__ import annotations

from musicconnect import db as mcdb
from musicconnect.testing import make_user

BASE = "/api/v1/fanclub"


def _comp(client, artist, email, tier_id):
    r = client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=artist.headers,
                    json={"email": email, "tier_id": str(tier_id)})
    assert r.status_code == 201, r.text


def _queries(client, p, url, headers) -> int:
    p.cache.clear()
    mcdb.RECORDER = recorded = []
    try:
        r = client.get(url, headers=headers)
    finally:
        mcdb.RECORDER = None
    assert r.status_code == 200, r.text
    return sum(u.queries for u in recorded)


def _name(user) -> str:
    return user.email.split("@")[0]


def test_backstage_shows_names_and_hides_the_anonymous(env):
    client, p, artist, fan, tiers = env
    aid = artist.artist_id
    other = make_user(p, "fan")
    for u in (fan, other):
        _comp(client, artist, u.email, tiers["superfan"].id)
    post = client.post(f"{BASE}/artists/{aid}/backstage", headers=artist.headers, json={"body": "Encore?"}).json()
    assert post["author"] == {"id": str(artist.id), "name": _name(artist), "anonymous": False}
    for u in (fan, other):
        r = client.post(f"{BASE}/artists/{aid}/backstage/{post['id']}/replies", headers=u.headers, json={"body": "yes"})
        assert r.status_code == 201 and r.json()["author"]["name"] == _name(u)
    assert client.put(f"{BASE}/me/privacy", headers=other.headers, json={"anonymous": True}).json() == {"anonymous": True}
    assert client.get(f"{BASE}/me/privacy", headers=other.headers).json() == {"anonymous": True}

    seen_by_fan = client.get(f"{BASE}/artists/{aid}/backstage", headers=fan.headers).json()
    replies = {r["body"] and (r["author"]["name"], r["author_id"], r["author"]["anonymous"]) for r in seen_by_fan[0]["replies"]}
    assert replies == {(_name(fan), str(fan.id), False), ("A fan", None, True)}
    assert other.email not in str(seen_by_fan) and _name(other) not in str(seen_by_fan)
    # the anonymous fan sees themselves as themselves
    own = client.get(f"{BASE}/artists/{aid}/backstage", headers=other.headers).json()
    assert _name(other) in {r["author"]["name"] for r in own[0]["replies"]}
    # and may change their mind
    client.put(f"{BASE}/me/privacy", headers=other.headers, json={"anonymous": False})
    again = client.get(f"{BASE}/artists/{aid}/backstage", headers=fan.headers).json()
    assert {r["author"]["name"] for r in again[0]["replies"]} == {_name(fan), _name(other)}


def test_backstage_queries_do_not_grow_with_posts_or_people(env):
    client, p, artist, fan, tiers = env
    aid = artist.artist_id
    _comp(client, artist, fan.email, tiers["superfan"].id)

    def thread(n_fans):
        post = client.post(f"{BASE}/artists/{aid}/backstage", headers=artist.headers, json={"body": "hi"}).json()
        for _ in range(n_fans):
            u = make_user(p, "fan")
            _comp(client, artist, u.email, tiers["superfan"].id)
            client.post(f"{BASE}/artists/{aid}/backstage/{post['id']}/replies", headers=u.headers, json={"body": "o/"})

    thread(1)
    before = _queries(client, p, f"{BASE}/artists/{aid}/backstage", fan.headers)
    for _ in range(3):
        thread(3)
    after = _queries(client, p, f"{BASE}/artists/{aid}/backstage", fan.headers)
    assert after <= before, (before, after)


def test_comments_carry_their_authors(env):
    client, p, artist, fan, tiers = env
    aid = artist.artist_id
    other = make_user(p, "fan")
    post = client.post(f"{BASE}/artists/{aid}/posts", headers=artist.headers, data={"title": "Hi", "body": "x"}).json()
    for u in (fan, other):
        assert client.post(f"{BASE}/artists/{aid}/join", headers=u.headers).status_code == 201
    made = client.post(f"{BASE}/content/{post['id']}/comments", headers=fan.headers, json={"body": "first"}).json()
    assert made["author"]["name"] == _name(fan)
    client.put(f"{BASE}/me/privacy", headers=other.headers, json={"anonymous": True})
    client.post(f"{BASE}/content/{post['id']}/comments", headers=other.headers, json={"body": "second"})
    listed = client.get(f"{BASE}/content/{post['id']}/comments").json()["comments"]  # anonymous visitor
    # both at one frozen instant: the order between them is the ids'
    assert sorted((c["author"]["name"], c["user_id"] or "") for c in listed) == sorted([(_name(fan), str(fan.id)),
                                                                                       ("A fan", "")])


def test_dms_and_inbox_name_both_sides(env):
    client, p, artist, fan, tiers = env
    aid = artist.artist_id
    _comp(client, artist, fan.email, tiers["superfan"].id)
    sent = client.post(f"{BASE}/artists/{aid}/messages", headers=fan.headers, json={"body": "hello"}).json()
    assert sent["sender_name"] == _name(fan)
    reply = client.post(f"{BASE}/artists/{aid}/conversations/{fan.id}/messages", headers=artist.headers,
                        json={"body": "hi!"}).json()
    assert reply["sender_name"] == "Club"  # the artist's name
    thread = client.get(f"{BASE}/artists/{aid}/messages", headers=fan.headers).json()
    assert sorted(m["sender_name"] for m in thread) == sorted([_name(fan), "Club"])  # one frozen instant
    inbox = client.get(f"{BASE}/artists/{aid}/conversations", headers=artist.headers).json()
    assert inbox[0]["display_name"] == _name(fan)


def test_top_fans_metric_names_fans(env):
    client, p, artist, fan, tiers = env
    aid = artist.artist_id
    other = make_user(p, "fan")
    _comp(client, artist, fan.email, tiers["superfan"].id)
    _comp(client, artist, other.email, tiers["supporter"].id)
    client.put(f"{BASE}/me/privacy", headers=other.headers, json={"anonymous": True})
    r = client.get(f"/api/v1/artists/{aid}/metrics", headers=artist.headers, params={"metric": "top_fans"})
    top = r.json()["metrics"][0]["value"]
    assert [(f["name"], f["user_id"], f["tier_rank"]) for f in top] == [(_name(fan), str(fan.id), 2), ("A fan", None, 1)]

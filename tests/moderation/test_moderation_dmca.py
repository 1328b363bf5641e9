"""Copyright notices end to end through the HTTP API: the six elements of a notice and the four
of a counter-notice are each refused by field; a valid notice takes the content down at once,
tells the uploader and records a strike; a counter-notice restores it exactly 10 business days
later unless a suit is recorded; three strikes open a repeat-infringer case a moderator decides
(terminate, then reinstate); a notice naming what is already down strikes nobody; the audit log
has it all."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from helpers import problem

NOTICES = "/api/v1/moderation/dmca/notices"


def _post(client, artist, title="Stolen Song"):
    r = client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                    json={"kind": "post", "title": title, "data": {"body": "la la la"}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _notice(item_ids, **over):
    body = {"signature": "Rita Rights", "copyrighted_work": "My song “Original” (2019), ISRC US-XXX-19-00001",
            "infringing_material": [f"https://music.example.com/content/{i}" for i in item_ids],
            "complainant_name": "Rita Rights", "complainant_address": "1 Main St, Springfield, IL 62701",
            "complainant_phone": "+1 555 0100", "complainant_email": "rita@example.org",
            "good_faith": True, "accurate_under_penalty": True}
    body.update(over)
    return body


def _counter(**over):
    body = {"signature": "Arty Artist", "material": "My post “Stolen Song”, at /content/… before removal",
            "good_faith_mistake": True, "name": "Arty Artist", "address": "2 Side St, Portland, OR 97201",
            "phone": "+1 555 0199", "consent_jurisdiction": True, "accept_service": True}
    body.update(over)
    return body


def _at(platform, clock, when, *users):
    """Move the frozen clock and renew the users' access tokens (they expire in minutes)."""
    clock.set(when) if isinstance(when, datetime) else clock.advance(**when)
    for user in users:
        user.renew(platform)


def _inbox(client, user):
    return client.get("/api/v1/notify/inbox", headers=user.headers).json()["items"]


@pytest.mark.parametrize("field,value,element", [
    ("signature", "", "(i)"), ("copyrighted_work", "  ", "(ii)"), ("infringing_material", [], "(iii)"),
    ("complainant_name", "", "(iv)"), ("complainant_address", "", "(iv)"), ("complainant_phone", "", "(iv)"),
    ("complainant_email", "not-an-email", "(iv)"), ("good_faith", False, "(v)"),
    ("accurate_under_penalty", False, "(vi)")])
def test_each_missing_element_of_a_notice_is_refused_by_field(mc_client, mc_users, field, value, element):
    item = _post(mc_client, mc_users.artist)
    body = problem(mc_client.post(NOTICES, json=_notice([item], **{field: value})), 422, "dmca-notice-incomplete")
    assert [(e["field"], e["element"][:len(element)]) for e in body["errors"]] == [(field, element)]
    assert mc_client.get(f"/api/v1/content/{item}").status_code == 200  # nothing was taken down


def test_unknown_material_is_refused_and_nothing_is_taken_down(mc_client, mc_users):
    item = _post(mc_client, mc_users.artist)
    body = problem(mc_client.post(NOTICES, json=_notice([item, "00000000-0000-4000-8000-000000000000"])), 422,
                   "dmca-notice-incomplete")
    assert [e["field"] for e in body["errors"]] == ["infringing_material"]
    assert body["errors"][0]["unknown"] == ["https://music.example.com/content/00000000-0000-4000-8000-000000000000"]
    body = problem(mc_client.post(NOTICES, json=_notice([], infringing_material=["https://elsewhere.example/x"])),
                   422)
    assert body["errors"][0]["field"] == "infringing_material"
    assert mc_client.get(f"/api/v1/content/{item}").status_code == 200


def test_notices_are_rate_limited_per_address(mc_client, mc_platform):
    per_hour = mc_platform.plugin_settings("moderation").dmca_notices_per_hour
    for _ in range(per_hour):
        problem(mc_client.post(NOTICES, json={}), 422)
    r = mc_client.post(NOTICES, json={})
    assert problem(r, 429, "rate-limited")["retry_after"] >= 1 and r.headers["Retry-After"]


def test_notice_takes_down_tells_the_uploader_and_a_counter_restores_after_10_business_days(
        mc_client, mc_users, mc_platform, mc_clock):
    from musicconnect_moderation import dmca

    artist, admin = mc_users.artist, mc_users.admin
    item, other = _post(mc_client, artist), _post(mc_client, artist, "Mine")
    users = (artist, admin, mc_users.fan)
    _at(mc_platform, mc_clock, datetime(2026, 6, 5, 9, 30, tzinfo=timezone.utc), *users)  # a Friday
    r = mc_client.post(NOTICES, json=_notice([item, item]))  # named twice: one item
    assert r.status_code == 201, r.text
    notice = r.json()
    assert notice["content_ids"] == [item]
    assert mc_client.get(f"/api/v1/content/{item}", headers=mc_users.fan.headers).status_code == 404
    assert mc_client.get(f"/api/v1/content/{other}").status_code == 200
    mc_platform.jobs.wait_idle(30)
    told = [n for n in _inbox(mc_client, artist) if n["kind"] == "moderation.dmca.takedown"]
    assert len(told) == 1 and "Stolen Song" in told[0]["title"]
    assert "rita@example.org" in told[0]["body"] and "complainant's own words" in told[0]["body"]
    assert "+1 555 0100" not in told[0]["body"]  # the full contact is on the counter-notice page
    assert told[0]["url"] == f"/copyright/counter?notice={notice['id']}"
    view = mc_client.get(f"{NOTICES}/{notice['id']}", headers=artist.headers).json()
    assert view["strike"] == "active" and [i["status"] for i in view["items"]] == ["taken_down"]
    # only the uploader sees it and may counter it
    problem(mc_client.get(f"{NOTICES}/{notice['id']}", headers=mc_users.fan.headers), 404, "dmca-notice-not-found")
    problem(mc_client.post(f"{NOTICES}/{notice['id']}/counter", headers=mc_users.fan.headers, json=_counter()), 404)
    problem(mc_client.post(f"{NOTICES}/{notice['id']}/counter", json=_counter()), 401)

    _at(mc_platform, mc_clock, datetime(2026, 6, 12, 10, 0, tzinfo=timezone.utc), *users)  # the next Friday
    r = mc_client.post(f"{NOTICES}/{notice['id']}/counter", headers=artist.headers, json=_counter())
    assert r.status_code == 201, r.text
    counter = r.json()
    assert counter["status"] == "pending" and counter["restore_at"].startswith("2026-06-26T10:00")  # Friday + 2 weeks
    problem(mc_client.post(f"{NOTICES}/{notice['id']}/counter", headers=artist.headers, json=_counter()), 409,
            "dmca-counter-exists")
    queue = mc_client.get("/api/v1/moderation/cases?kind=dmca-counter", headers=admin.headers).json()["cases"]
    assert len(queue) == 1 and queue[0]["data"]["operator_must_forward"] is True
    assert queue[0]["data"]["forward_to"]["email"] == "rita@example.org"
    assert queue[0]["decisions"] == ["suit-filed", "restore-now", "reject-counter"]

    mc_clock.set(datetime(2026, 6, 26, 9, 59, 59, tzinfo=timezone.utc))  # a second before
    assert dmca.restore_due(mc_platform) == 0
    assert mc_client.get(f"/api/v1/content/{item}").status_code == 404
    _at(mc_platform, mc_clock, datetime(2026, 6, 26, 10, 0, tzinfo=timezone.utc), *users)
    assert dmca.restore_due(mc_platform) == 1
    assert mc_client.get(f"/api/v1/content/{item}").json()["status"] == "ready"
    assert dmca.restore_due(mc_platform) == 0  # once
    view = mc_client.get(f"{NOTICES}/{notice['id']}", headers=artist.headers).json()
    assert view["strike"] == "withdrawn" and view["counter"]["status"] == "restored"
    mc_platform.jobs.wait_idle(30)
    assert any(n["kind"] == "moderation.dmca.restored" for n in _inbox(mc_client, artist))
    assert mc_client.get("/api/v1/moderation/cases?kind=dmca-counter", headers=admin.headers).json()["cases"] == []

    log = mc_client.get(f"/api/v1/moderation/audit?subject_id={notice['id']}", headers=admin.headers).json()
    actions = [e["action"] for e in reversed(log)]
    assert actions == ["dmca.notice-received", "case.opened", "dmca.taken-down", "dmca.restored"]
    log = mc_client.get(f"/api/v1/moderation/audit?subject_id={counter['id']}", headers=admin.headers).json()
    assert [e["action"] for e in reversed(log)] == ["case.opened", "dmca.counter-received", "case.decided"]
    log = mc_client.get(f"/api/v1/moderation/audit?subject_id={artist.id}", headers=admin.headers).json()
    assert [e["action"] for e in reversed(log)] == ["dmca.strike", "dmca.strike-withdrawn"]


def test_each_missing_element_of_a_counter_notice_is_refused_and_a_suit_keeps_it_down(
        mc_client, mc_users, mc_platform, mc_clock):
    from musicconnect_moderation import dmca

    artist, admin = mc_users.artist, mc_users.admin
    item = _post(mc_client, artist)
    notice = mc_client.post(NOTICES, json=_notice([item])).json()
    url = f"{NOTICES}/{notice['id']}/counter"
    for field, value, element in [("signature", "", "(A)"), ("material", "", "(B)"),
                                  ("good_faith_mistake", False, "(C)"), ("name", "", "(D)"), ("address", " ", "(D)"),
                                  ("phone", "", "(D)"), ("consent_jurisdiction", False, "(D)"),
                                  ("accept_service", False, "(D)")]:
        body = problem(mc_client.post(url, headers=artist.headers, json=_counter(**{field: value})), 422,
                       "dmca-counter-notice-incomplete")
        assert [(e["field"], e["element"][:3]) for e in body["errors"]] == [(field, element)]
    counter = mc_client.post(url, headers=artist.headers, json=_counter()).json()
    case = mc_client.get("/api/v1/moderation/cases?kind=dmca-counter", headers=admin.headers).json()["cases"][0]
    r = mc_client.post(f"/api/v1/moderation/cases/{case['id']}/decision", headers=admin.headers,
                       json={"decision": "suit-filed", "note": "complainant filed in N.D. Cal."})
    assert r.status_code == 200, r.text
    _at(mc_platform, mc_clock, {"days": 30}, artist, admin)
    assert dmca.restore_due(mc_platform) == 0
    assert mc_client.get(f"/api/v1/content/{item}").status_code == 404
    view = mc_client.get(f"{NOTICES}/{notice['id']}", headers=artist.headers).json()
    assert view["counter"]["status"] == "suit-filed" and view["strike"] == "active"
    log = mc_client.get(f"/api/v1/moderation/audit?subject_id={counter['id']}", headers=admin.headers).json()
    assert [e["action"] for e in reversed(log)] == ["case.opened", "dmca.counter-received", "dmca.suit-filed",
                                                    "case.decided"]


def test_a_rejected_notice_restores_without_a_strike_and_restore_now(mc_client, mc_users):
    artist, admin = mc_users.artist, mc_users.admin
    first, second = _post(mc_client, artist, "One"), _post(mc_client, artist, "Two")
    n1 = mc_client.post(NOTICES, json=_notice([first])).json()
    n2 = mc_client.post(NOTICES, json=_notice([second])).json()
    cases = {c["subject_id"]: c for c in mc_client.get("/api/v1/moderation/cases?kind=dmca-notice",
                                                        headers=admin.headers).json()["cases"]}
    assert cases[n1["id"]]["decisions"] == ["uphold", "reject"] and cases[n1["id"]]["user_id"] == str(artist.id)
    r = mc_client.post(f"/api/v1/moderation/cases/{cases[n1['id']]['id']}/decision", headers=admin.headers,
                       json={"decision": "reject"})
    assert r.status_code == 200
    assert mc_client.get(f"/api/v1/content/{first}").status_code == 200
    assert mc_client.get(f"{NOTICES}/{n1['id']}", headers=artist.headers).json()["strike"] == "withdrawn"
    mc_client.post(f"{NOTICES}/{n2['id']}/counter", headers=artist.headers, json=_counter())
    case = mc_client.get("/api/v1/moderation/cases?kind=dmca-counter", headers=admin.headers).json()["cases"][0]
    r = mc_client.post(f"/api/v1/moderation/cases/{case['id']}/decision", headers=admin.headers,
                       json={"decision": "restore-now"})
    assert r.status_code == 200
    assert mc_client.get(f"/api/v1/content/{second}").status_code == 200


def test_three_strikes_open_a_case_terminate_is_a_decision_and_reinstate_undoes_it(
        mc_client, mc_users, mc_platform, mc_clock):
    artist, admin = mc_users.artist, mc_users.admin
    keep = _post(mc_client, artist, "Untouched")
    items = [_post(mc_client, artist, f"Copy {n}") for n in range(4)]
    now = mc_clock.now()
    mc_clock.advance(days=-366)  # a strike of more than a year ago has expired
    assert mc_client.post(NOTICES, json=_notice([items[0]])).status_code == 201
    mc_clock.set(now)
    artist.renew(mc_platform)
    admin.renew(mc_platform)
    mc_client.post(NOTICES, json=_notice([items[1]]))
    mc_client.post(NOTICES, json=_notice([items[2]]))
    repeat = "/api/v1/moderation/cases?kind=repeat-infringer"
    assert mc_client.get(repeat, headers=admin.headers).json()["cases"] == []  # 2 active strikes
    r = mc_client.post(NOTICES, json=_notice([items[3]]))
    assert r.status_code == 201
    # the third strike terminates nothing by itself: a case waits for a moderator
    assert mc_client.get("/api/v1/me", headers=artist.headers).status_code == 200
    assert mc_client.get(f"/api/v1/content/{keep}").status_code == 200
    queue = mc_client.get(repeat, headers=admin.headers).json()["cases"]
    assert len(queue) == 1 and queue[0]["subject_id"] == str(artist.id) and queue[0]["data"]["strikes"] == 3
    assert queue[0]["decisions"] == ["terminate", "dismiss"]
    r = mc_client.post(f"/api/v1/moderation/cases/{queue[0]['id']}/decision", headers=admin.headers,
                       json={"decision": "terminate"})
    assert r.status_code == 200, r.text
    assert mc_client.get("/api/v1/me", headers=artist.headers).status_code == 401  # terminated
    assert mc_client.get(f"/api/v1/content/{keep}").status_code == 404  # all their content is down
    r = mc_client.post("/api/v1/auth/login", json={"email": artist.email, "password": artist.password})
    assert r.status_code == 401
    log = mc_client.get(f"/api/v1/moderation/audit?subject_id={artist.id}", headers=admin.headers).json()
    assert log[0]["action"] == "case.decided" and log[1]["action"] == "dmca.account-terminated"
    assert log[1]["actor_id"] == str(admin.id) and keep in log[1]["data"]["content_ids"]
    assert [e["data"]["strikes"] for e in reversed(log) if e["action"] == "dmca.strike"] == [1, 1, 2, 3]

    # reinstating: admins only; the account is back, so is what the termination took down
    reinstate = f"/api/v1/moderation/dmca/users/{artist.id}/reinstate"
    problem(mc_client.post(reinstate, headers=mc_users.fan.headers), 403)
    r = mc_client.post(reinstate, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert keep in r.json()["restored"] and items[3] not in r.json()["restored"]
    assert mc_client.get(f"/api/v1/content/{keep}").status_code == 200
    assert mc_client.get(f"/api/v1/content/{items[3]}").status_code == 404  # the notice's own take-down stands
    r = mc_client.post("/api/v1/auth/login", json={"email": artist.email, "password": artist.password})
    assert r.status_code == 200, r.text
    problem(mc_client.post(reinstate, headers=admin.headers), 409, "dmca-not-terminated")
    problem(mc_client.post("/api/v1/moderation/dmca/users/00000000-0000-4000-8000-000000000000/reinstate",
                           headers=admin.headers), 404, "user-not-found")
    log = mc_client.get(f"/api/v1/moderation/audit?subject_id={artist.id}", headers=admin.headers).json()
    assert log[0]["action"] == "dmca.account-reinstated" and log[0]["actor_id"] == str(admin.id)


def test_a_dismissed_repeat_infringer_case_leaves_the_account(mc_client, mc_users):
    artist, admin = mc_users.artist, mc_users.admin
    for n in range(3):
        assert mc_client.post(NOTICES, json=_notice([_post(mc_client, artist, f"Song {n}")])).status_code == 201
    case = mc_client.get("/api/v1/moderation/cases?kind=repeat-infringer", headers=admin.headers).json()["cases"][0]
    r = mc_client.post(f"/api/v1/moderation/cases/{case['id']}/decision", headers=admin.headers,
                       json={"decision": "dismiss"})
    assert r.status_code == 200, r.text
    assert mc_client.get("/api/v1/me", headers=artist.headers).status_code == 200


def test_notices_naming_what_is_already_down_strike_nobody(mc_client, mc_users, mc_platform):
    """Three anonymous notices naming the same track: one take-down, one strike, no case."""
    artist, admin = mc_users.artist, mc_users.admin
    item = _post(mc_client, artist)
    ids = [mc_client.post(NOTICES, json=_notice([item])).json()["id"] for _ in range(3)]
    mc_platform.jobs.wait_idle(30)
    log = mc_client.get(f"/api/v1/moderation/audit?subject_id={artist.id}", headers=admin.headers).json()
    assert [e["data"]["strikes"] for e in log if e["action"] == "dmca.strike"] == [1]
    assert mc_client.get("/api/v1/moderation/cases?kind=repeat-infringer", headers=admin.headers).json()["cases"] == []
    queue = mc_client.get("/api/v1/moderation/cases?kind=dmca-notice", headers=admin.headers).json()["cases"]
    assert [c["subject_id"] for c in queue] == [ids[0]]
    told = [n for n in _inbox(mc_client, artist) if n["kind"] == "moderation.dmca.takedown"]
    assert len(told) == 1
    later = mc_client.get(f"/api/v1/moderation/audit?subject_id={ids[1]}", headers=admin.headers).json()
    assert [e["action"] for e in reversed(later)] == ["dmca.notice-received", "dmca.nothing-taken-down"]


def test_the_complainants_words_are_relayed_capped_and_on_one_line(mc_client, mc_users, mc_platform):
    artist = mc_users.artist
    item = _post(mc_client, artist)
    lure = "URGENT\n\nyour account is suspended, log in at https://evil.example/login " + "x" * 1000
    assert mc_client.post(NOTICES, json=_notice([item], copyrighted_work=lure)).status_code == 201
    mc_platform.jobs.wait_idle(30)
    body = [n for n in _inbox(mc_client, artist) if n["kind"] == "moderation.dmca.takedown"][0]["body"]
    assert "\n" not in body and "x" * 300 not in body and "complainant's own words" in body
    assert "URGENT your account is suspended" in body


def test_a_material_reference_longer_than_2000_characters_is_refused(mc_client, mc_users):
    item = _post(mc_client, mc_users.artist)
    ref = f"https://music.example.com/content/{item}?" + "a" * 2000
    problem(mc_client.post(NOTICES, json=_notice([], infringing_material=[ref])), 422)
    assert mc_client.get(f"/api/v1/content/{item}").status_code == 200


def test_the_rate_limit_counts_an_ipv6_64_as_one_sender_and_the_sender_is_an_hmac(mc_platform):
    import hashlib

    from musicconnect_moderation.dmca import sender_key, sender_net

    assert sender_net("2001:db8:0:1::5") == sender_net("2001:db8:0:1:ffff:ffff:ffff:9") == "2001:db8:0:1::/64"
    assert sender_net("2001:db8:0:2::5") != sender_net("2001:db8:0:1::5")
    assert sender_net("192.0.2.7") != sender_net("192.0.2.8")
    assert sender_net("::ffff:192.0.2.7") == "192.0.2.7"
    assert sender_key(mc_platform, "2001:db8:0:1::5") == sender_key(mc_platform, "2001:db8:0:1::6")
    key = sender_key(mc_platform, "192.0.2.7")
    assert key != hashlib.sha256(b"mc-dmca\x00192.0.2.7").hexdigest()[:32]
    assert all(key != hashlib.sha256(v).hexdigest()[:32] for v in (b"192.0.2.7", b"mc-dmca\x00192.0.2.7"))


def test_ipv6_senders_of_one_64_share_the_rate_limit(mc_app, mc_platform):
    from starlette.testclient import TestClient

    per_hour = mc_platform.plugin_settings("moderation").dmca_notices_per_hour
    for n in range(per_hour):
        with TestClient(mc_app, client=(f"2001:db8:0:1::{n + 1:x}", 5000)) as c:
            problem(c.post(NOTICES, json={}), 422)
    with TestClient(mc_app, client=("2001:db8:0:1::ffff", 5000)) as c:
        problem(c.post(NOTICES, json={}), 429, "rate-limited")
    with TestClient(mc_app, client=("2001:db8:0:2::1", 5000)) as c:
        problem(c.post(NOTICES, json={}), 422)  # another /64


def test_a_concurrent_second_counter_notice_is_a_409_not_a_500(mc_client, mc_users, monkeypatch):
    from musicconnect_moderation import dmca

    artist = mc_users.artist
    notice = mc_client.post(NOTICES, json=_notice([_post(mc_client, artist)])).json()
    url = f"{NOTICES}/{notice['id']}/counter"
    assert mc_client.post(url, headers=artist.headers, json=_counter()).status_code == 201
    # the race: the other counter-notice commits between this one's check and its insert
    monkeypatch.setattr(dmca, "_counter_exists", lambda *a: False)
    problem(mc_client.post(url, headers=artist.headers, json=_counter()), 409, "dmca-counter-exists")


def test_the_uploaders_row_is_locked_before_strikes_are_counted(mc_client, mc_users, mc_platform):
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from musicconnect.models import User

    artist = mc_users.artist
    item = _post(mc_client, artist)
    seen = []

    def watch(state):
        stmt = state.statement
        if getattr(stmt, "_for_update_arg", None) is not None and User.__table__ in stmt.get_final_froms():
            seen.append(stmt)

    event.listen(Session, "do_orm_execute", watch)
    try:
        assert mc_client.post(NOTICES, json=_notice([item])).status_code == 201
    finally:
        event.remove(Session, "do_orm_execute", watch)
    assert seen, "no SELECT ... FOR UPDATE of the uploader's row"


@pytest.mark.parametrize("start,expected", [
    ("2026-06-05T09:30", "2026-06-19T09:30"),  # Friday -> the Friday two weeks later
    ("2026-06-03T12:00", "2026-06-17T12:00"),  # Wednesday -> Wednesday
    ("2026-06-06T08:00", "2026-06-19T08:00"),  # Saturday: the weekend does not count
    ("2026-06-07T23:00", "2026-06-19T23:00"),  # Sunday
])
def test_ten_business_days_skip_weekends(start, expected):
    from musicconnect_moderation.dmca import business_days_after

    at = datetime.fromisoformat(start).replace(tzinfo=timezone.utc)
    assert business_days_after(at, 10) == datetime.fromisoformat(expected).replace(tzinfo=timezone.utc)

"""One-click unsubscribe (RFC 8058) through the HTTP API: signed, expiring links; the POST works
without signing in, at once and idempotently; GET only shows a page; forged or expired → 400."""
from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from musicconnect_notify import unsubscribe as unsub
from musicconnect_notify.models import Preference

pytestmark = pytest.mark.mc_plugins("notify")

ONE_CLICK = {"content": b"List-Unsubscribe=One-Click", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


def path_of(url: str) -> str:
    assert url.startswith("http://testserver/api/v1/notify/unsubscribe/")
    return url.removeprefix("http://testserver")


def prefs(platform, user_id) -> Preference | None:
    with platform.read() as s:
        return s.get(Preference, user_id)


def test_one_click_post_without_auth_is_immediate_and_idempotent(mc_client, mc_platform, mc_users):
    fan = mc_users.fan
    url = path_of(unsub.url_for(mc_platform, fan.id, "fanclub_post"))
    assert prefs(mc_platform, fan.id) is None
    r = mc_client.post(url, **ONE_CLICK)  # no Authorization header: the token is the authority
    assert r.status_code == 200, r.text
    assert r.json() == {"unsubscribed": True, "kind": "fanclub_post", "changed": True}
    p = prefs(mc_platform, fan.id)
    assert p.channels == {"fanclub_post": {"email": False}} and p.email_opt_out is False
    # a second click (mail clients retry) answers 200 and changes nothing
    again = mc_client.post(url, **ONE_CLICK)
    assert again.status_code == 200 and again.json()["changed"] is False
    assert prefs(mc_platform, fan.id).channels == {"fanclub_post": {"email": False}}
    # another fan is untouched
    assert prefs(mc_platform, mc_users.make("fan").id) is None


def test_unsubscribe_keeps_other_preferences(mc_client, mc_platform, mc_users):
    fan = mc_users.fan
    with mc_platform.session() as s:
        s.add(Preference(user_id=fan.id, channels={"release": {"push": True, "email": True}}, muted={},
                         quiet_start="22:00", quiet_end="07:00", updated_at=mc_platform.clock.now()))
    assert mc_client.post(path_of(unsub.url_for(mc_platform, fan.id, "release")), **ONE_CLICK).status_code == 200
    p = prefs(mc_platform, fan.id)
    assert p.channels == {"release": {"push": True, "email": False}}
    assert (p.quiet_start, p.quiet_end) == ("22:00", "07:00")


def test_all_sets_the_global_email_opt_out(mc_client, mc_platform, mc_users):
    fan = mc_users.fan
    r = mc_client.post(path_of(unsub.url_for(mc_platform, fan.id)), **ONE_CLICK)
    assert r.status_code == 200 and r.json()["kind"] == "all"
    assert prefs(mc_platform, fan.id).email_opt_out is True


def test_get_shows_a_confirmation_page_and_changes_nothing(mc_client, mc_platform, mc_users):
    fan = mc_users.fan
    url = path_of(unsub.url_for(mc_platform, fan.id, "release"))
    r = mc_client.get(url, headers={"Accept": "text/html"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "<form method=post>" in page and "<button type=submit>Unsubscribe</button>" in page
    assert "List-Unsubscribe" in page and "One-Click" in page
    assert "release" in page
    assert prefs(mc_platform, fan.id) is None  # a link scanner following the GET unsubscribes nobody
    # the page's button: a browser form POST answers a page
    done = mc_client.post(url, data={"List-Unsubscribe": "One-Click"}, headers={"Accept": "text/html"})
    assert done.status_code == 200 and done.headers["content-type"].startswith("text/html")
    assert "You are unsubscribed" in done.text
    assert prefs(mc_platform, fan.id).channels["release"]["email"] is False


def _forge(token: str) -> str:
    payload, mac = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4)))
    raw[0] ^= 1
    return f"{payload}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


def _other_user(platform, token: str, user_id) -> str:
    """The payload rewritten to name another user, keeping the original MAC."""
    payload, mac = token.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    _, rest = raw.split(".", 1)
    swapped = f"{user_id.hex}.{rest}".encode()
    return f"{base64.urlsafe_b64encode(swapped).rstrip(b'=').decode()}.{mac}"


@pytest.mark.parametrize("method", ["get", "post"])
def test_forged_token_is_400_with_sign_in(mc_client, mc_platform, mc_users, method):
    fan, victim = mc_users.fan, mc_users.make("fan")
    token = unsub.make_token(mc_platform, fan.id, "release")
    for bad in (_forge(token), _other_user(mc_platform, token, victim.id), "abcdefghijk.lmnopqrstu"):
        r = getattr(mc_client, method)(f"/api/v1/notify/unsubscribe/{bad}", headers={"Accept": "application/json"})
        assert r.status_code == 400, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == "/problems/invalid-unsubscribe-link"
        assert r.json()["sign_in_url"] == "http://testserver/"
        page = getattr(mc_client, method)(f"/api/v1/notify/unsubscribe/{bad}", headers={"Accept": "text/html"})
        assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
        assert "Sign in" in page.text and "href='http://testserver/'" in page.text
    assert prefs(mc_platform, fan.id) is None and prefs(mc_platform, victim.id) is None


def test_token_of_another_deployment_is_refused(mc_client, mc_make_platform, mc_platform, mc_users):
    other = mc_make_platform(migrate_db=False, secret_key=SecretStr("another-deployment-secret-0123456789abcdef"))
    token = unsub.make_token(other, mc_users.fan.id, "release")
    r = mc_client.post(f"/api/v1/notify/unsubscribe/{token}", **ONE_CLICK)
    assert r.status_code == 400 and r.json()["type"] == "/problems/invalid-unsubscribe-link"
    assert prefs(mc_platform, mc_users.fan.id) is None


def test_expired_token_is_400(mc_client, mc_platform, mc_users, mc_clock):
    fan = mc_users.fan
    url = path_of(unsub.url_for(mc_platform, fan.id, "release"))
    mc_clock.advance(days=179)
    assert mc_client.get(url).status_code == 200  # still valid just before the end
    mc_clock.advance(days=2)
    r = mc_client.post(url, **ONE_CLICK)
    assert r.status_code == 400
    assert r.json()["type"] == "/problems/unsubscribe-link-expired"
    page = mc_client.get(url, headers={"Accept": "text/html"})
    assert page.status_code == 400 and "expired" in page.text and "Sign in" in page.text
    assert prefs(mc_platform, fan.id) is None


def test_malformed_path_is_refused(mc_client):
    assert mc_client.post("/api/v1/notify/unsubscribe/no-dot-here", **ONE_CLICK).status_code == 422


def test_tokens_round_trip_and_refuse_bad_kinds(mc_platform, mc_users):
    fan = mc_users.fan
    what = unsub.read_token(mc_platform, unsub.make_token(mc_platform, fan.id, "live.party_starting"))
    assert (what.user_id, what.kind) == (fan.id, "live.party_starting")
    with pytest.raises(ValueError):
        unsub.make_token(mc_platform, fan.id, "Bad Kind!")

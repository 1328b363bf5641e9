"""Identity through the HTTP API: register, login, refresh rotation, logout, throttling, errors."""
from __future__ import annotations

import jwt
import pytest

from helpers import bearer, problem, register


def test_register_login_me_roundtrip(mc_client):
    out = register(mc_client, "Nova@Example.com", role="artist", artist_name="Nova Lane", display_name="Nova")
    assert out["user"]["email"] == "nova@example.com"
    assert out["user"]["role"] == "artist"
    assert out["user"]["artist"]["slug"] == "nova-lane"
    r = mc_client.post("/api/v1/auth/login", json={"email": "nova@example.com", "password": "a-long-passphrase"})
    assert r.status_code == 200
    tokens = r.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    me = mc_client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == out["user"]["id"]
    assert me.json()["artist"]["name"] == "Nova Lane"


def test_artist_gets_default_tiers(mc_client):
    out = register(mc_client, "tiers@example.com", role="artist")
    tiers = mc_client.get(f"/api/v1/artists/{out['user']['artist']['id']}/tiers").json()
    assert [(t["key"], t["rank"], t["price_amount"], t["currency"]) for t in tiers] == [
        ("free", 0, 0, "USD"), ("supporter", 1, 500, "USD"), ("superfan", 2, 1000, "USD")]
    assert [t["perks"] for t in tiers] == [{}, {}, {}]  # bare: perks belong to the plugins that honour them


def test_duplicate_email_409_and_nothing_written(mc_client, mc_platform):
    register(mc_client, "dup@example.com")
    body = problem(mc_client.post("/api/v1/auth/register", json={"email": "DUP@example.com", "password": "another-pass-1"}),
                   409, "email-taken")
    assert "dup@example.com" in body["detail"]
    from sqlalchemy import func, select

    from musicconnect.models import User
    with mc_platform.session() as s:
        assert s.scalar(select(func.count()).select_from(User).where(User.email == "dup@example.com")) == 1


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@b.com", "a b@c.com", ""])
def test_malformed_email_422(mc_client, email):
    problem(mc_client.post("/api/v1/auth/register", json={"email": email, "password": "a-long-passphrase"}),
            422, "validation")


@pytest.mark.parametrize("password", ["short", "password123", "aaaaaaaaaaaa", "weakling@example.com"])
def test_weak_password_422_and_no_user(mc_client, mc_platform, password):
    problem(mc_client.post("/api/v1/auth/register", json={"email": "weakling@example.com", "password": password}),
            422, "weak-password")
    from sqlalchemy import select

    from musicconnect.models import User
    with mc_platform.session() as s:
        assert s.scalar(select(User).where(User.email == "weakling@example.com")) is None


def test_admin_role_cannot_be_self_registered(mc_client):
    problem(mc_client.post("/api/v1/auth/register",
                           json={"email": "x@example.com", "password": "a-long-passphrase", "role": "admin"}), 422)


def test_wrong_password_401(mc_client):
    register(mc_client, "wp@example.com")
    problem(mc_client.post("/api/v1/auth/login", json={"email": "wp@example.com", "password": "nope-nope-nope"}),
            401, "unauthorized")
    problem(mc_client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": "nope-nope-nope"}),
            401, "unauthorized")


def test_bad_tokens_401(mc_client, mc_platform):
    problem(mc_client.get("/api/v1/me"), 401, "unauthorized")
    problem(mc_client.get("/api/v1/me", headers=bearer("garbage")), 401, "unauthorized")
    problem(mc_client.get("/api/v1/me", headers={"Authorization": "Basic Zm9vOmJhcg=="}), 401)
    forged = jwt.encode({"sub": "00000000-0000-0000-0000-000000000000", "role": "admin", "iat": 1, "exp": 4102444800,
                         "typ": "access"}, "not-the-platform-key-but-long-enough-for-hs256", algorithm="HS256")
    problem(mc_client.get("/api/v1/me", headers=bearer(forged)), 401, "unauthorized")


def test_expired_access_token_401(mc_client, mc_clock):
    tokens = register(mc_client, "exp@example.com")["tokens"]
    assert mc_client.get("/api/v1/me", headers=bearer(tokens["access_token"])).status_code == 200
    mc_clock.advance(seconds=901)
    problem(mc_client.get("/api/v1/me", headers=bearer(tokens["access_token"])), 401, "token-expired")


def test_refresh_rotates_and_reuse_revokes_family(mc_client):
    tokens = register(mc_client, "rot@example.com")["tokens"]
    r1 = mc_client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r1.status_code == 200
    second = r1.json()
    assert second["refresh_token"] != tokens["refresh_token"]
    # replaying the spent token: stolen-token detection revokes the whole family...
    problem(mc_client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
            401, "refresh-token-reused")
    # ...so the legitimate newer token is dead too
    problem(mc_client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401)


def test_refresh_token_expires(mc_client, mc_clock):
    tokens = register(mc_client, "rexp@example.com")["tokens"]
    mc_clock.advance(days=31)
    problem(mc_client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401, "token-expired")


def test_logout_revokes_refresh(mc_client):
    tokens = register(mc_client, "out@example.com")["tokens"]
    assert mc_client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}).status_code == 204
    problem(mc_client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)
    problem(mc_client.post("/api/v1/auth/refresh", json={"refresh_token": "mcr_unknown"}), 401)


def test_repeated_failed_logins_are_throttled(mc_client):
    register(mc_client, "brute@example.com")
    for _ in range(5):
        problem(mc_client.post("/api/v1/auth/login", json={"email": "brute@example.com", "password": "wrong-guess-1"}), 401)
    body = problem(mc_client.post("/api/v1/auth/login",
                                  json={"email": "brute@example.com", "password": "a-long-passphrase"}), 429, "login-throttled")
    assert body["retry_after"] >= 1
    # other accounts are unaffected
    register(mc_client, "other@example.com")
    assert mc_client.post("/api/v1/auth/login",
                          json={"email": "other@example.com", "password": "a-long-passphrase"}).status_code == 200


def test_password_change_signs_out_other_sessions(mc_client):
    tokens = register(mc_client, "pw@example.com")["tokens"]
    h = bearer(tokens["access_token"])
    problem(mc_client.patch("/api/v1/me", headers=h, json={"current_password": "wrong", "new_password": "brand-new-pass"}), 401)
    r = mc_client.patch("/api/v1/me", headers=h, json={"current_password": "a-long-passphrase",
                                                       "new_password": "brand-new-pass", "display_name": "Renamed"})
    assert r.status_code == 200 and r.json()["display_name"] == "Renamed"
    assert mc_client.get("/api/v1/me", headers=h).json()["display_name"] == "Renamed"  # cache refreshed
    problem(mc_client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)
    assert mc_client.post("/api/v1/auth/login", json={"email": "pw@example.com", "password": "brand-new-pass"}).status_code == 200


def test_disabled_account_loses_access_at_once(mc_client, mc_platform):
    out = register(mc_client, "ban@example.com")
    h = bearer(out["tokens"]["access_token"])
    assert mc_client.get("/api/v1/me", headers=h).status_code == 200
    import uuid

    from musicconnect.models import User
    with mc_platform.session() as s:
        s.get(User, uuid.UUID(out["user"]["id"])).is_active = False
    mc_platform.forget_user(uuid.UUID(out["user"]["id"]))
    problem(mc_client.get("/api/v1/me", headers=h), 401)
    problem(mc_client.post("/api/v1/auth/login", json={"email": "ban@example.com", "password": "a-long-passphrase"}), 401)


def test_passwords_are_argon2id(mc_platform, mc_users):
    from musicconnect.models import User
    with mc_platform.session() as s:
        assert s.get(User, mc_users.fan.id).password_hash.startswith("$argon2id$")

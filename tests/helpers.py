"""Small helpers shared by test modules."""
from __future__ import annotations


def problem(resp, status: int, type_: str | None = None) -> dict:
    """Assert an RFC 9457 problem response and return its body."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers["content-type"]
    body = resp.json()
    assert body["status"] == status and body["title"]
    if type_ is not None:
        assert body["type"] == f"/problems/{type_}", body
    return body


def register(client, email: str, password: str = "a-long-passphrase", role: str = "fan", **extra) -> dict:
    r = client.post("/api/v1/auth/register", json={"email": email, "password": password, "role": role, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

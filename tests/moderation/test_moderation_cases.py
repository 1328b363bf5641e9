"""The review queue and the audit log: admins only; a decision closes a case once, with one of
its kind's decisions; the CLI lists and decides."""
from __future__ import annotations

from typer.testing import CliRunner

from helpers import problem


def _file_case(platform, **kw):
    from musicconnect_moderation import cases

    with platform.session() as s:
        case = cases.open_case(platform, s, kw.pop("kind", "abuse"), "user", kw.pop("subject", "u-1"),
                               reason=kw.pop("reason", "play-farming"), score=0.9, **kw)
        return str(case.id)


def test_the_queue_is_for_admins_and_a_case_is_decided_once(mc_client, mc_users, mc_platform):
    first = _file_case(mc_platform)
    again = _file_case(mc_platform)  # the same open subject: deduplicated
    assert first == again
    problem(mc_client.get("/api/v1/moderation/cases"), 401)
    problem(mc_client.get("/api/v1/moderation/cases", headers=mc_users.fan.headers), 403)
    queue = mc_client.get("/api/v1/moderation/cases", headers=mc_users.admin.headers).json()["cases"]
    assert [(c["id"], c["kind"], c["reason"], c["decisions"]) for c in queue] == [
        (first, "abuse", "play-farming", queue[0]["decisions"])]
    r = mc_client.post(f"/api/v1/moderation/cases/{first}/decision", headers=mc_users.admin.headers,
                       json={"decision": "no-such-thing"})
    assert problem(r, 422)["type"] == "/problems/invalid-decision"
    decision = queue[0]["decisions"][0]
    r = mc_client.post(f"/api/v1/moderation/cases/{first}/decision", headers=mc_users.admin.headers,
                       json={"decision": decision, "note": "looked at it"})
    assert r.status_code == 200 and r.json()["status"] == "decided" and r.json()["decision"] == decision
    r = mc_client.post(f"/api/v1/moderation/cases/{first}/decision", headers=mc_users.admin.headers,
                       json={"decision": decision})
    assert problem(r, 409)["type"] == "/problems/case-decided"
    assert mc_client.get("/api/v1/moderation/cases", headers=mc_users.admin.headers).json()["cases"] == []
    log = mc_client.get("/api/v1/moderation/audit?subject_id=u-1", headers=mc_users.admin.headers).json()
    assert [e["action"] for e in log] == ["case.decided", "case.opened"]
    assert log[0]["actor_id"] == str(mc_users.admin.id) and log[0]["data"]["note"] == "looked at it"
    problem(mc_client.get("/api/v1/moderation/audit", headers=mc_users.artist.headers), 403)


def test_cli_lists_the_queue_and_decides(mc_platform, monkeypatch):
    from musicconnect_moderation.cli import make_app

    case_id = _file_case(mc_platform, subject="u-2", reason="dm-spam")
    app = make_app(mc_platform)
    runner = CliRunner()
    out = runner.invoke(app, ["queue"])
    assert out.exit_code == 0 and case_id in out.output and "dm-spam" in out.output
    bad = runner.invoke(app, ["decide", "not-a-case", "dismiss"])
    assert bad.exit_code == 1 and "is not a case id" in bad.output
    decisions = __import__("json").loads(runner.invoke(app, ["queue", "--json"]).output.splitlines()[0])["decisions"]
    wrong = runner.invoke(app, ["decide", case_id, "explode"])
    assert wrong.exit_code == 1 and "is decided with one of" in wrong.output
    ok = runner.invoke(app, ["decide", case_id, decisions[0], "--note", "ops"])
    assert ok.exit_code == 0, ok.output
    assert runner.invoke(app, ["queue"]).output.strip() == "the queue is empty"


def test_cli_decide_locks_the_case_row(mc_platform, monkeypatch):
    """Two operators deciding one case at once: the CLI reads the case FOR UPDATE (as the API does),
    so the second waits and then finds it decided instead of applying a second decision."""
    from sqlalchemy.orm import Session

    from musicconnect_moderation.cases import Case
    from musicconnect_moderation.cli import make_app

    case_id = _file_case(mc_platform, subject="u-3", reason="dm-spam")
    seen: list = []
    real_get = Session.get

    def spy(self, entity, ident, *args, **kwargs):
        if entity is Case:
            seen.append(kwargs.get("with_for_update"))
        return real_get(self, entity, ident, *args, **kwargs)

    monkeypatch.setattr(Session, "get", spy)
    app = make_app(mc_platform)
    ok = CliRunner().invoke(app, ["decide", case_id, "clear"])
    assert ok.exit_code == 0, ok.output
    assert seen and all(seen), f"the CLI read the case without a row lock: {seen}"
    again = CliRunner().invoke(app, ["decide", case_id, "clear"])
    assert again.exit_code == 1 and "already decided" in again.output

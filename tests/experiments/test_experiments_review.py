"""Review findings on experiments: no event after the stop counts; count/sum metrics are capped per
user (one fan's hundreds of events cannot move a variant's mean); the database filters to exposed
users and aggregates per user; results wait for the exposure writer only briefly; an exposure
batch survives a user deleted before it is written."""
from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy import delete, event, func, select

from musicconnect.contracts import Actor
from musicconnect.models import User

FLAG = {"key": "cta", "kind": "string", "variants": {"control": "Join", "bold": "Join the crew"},
        "default_variant": "control"}


def _users(platform, n, seed):
    ids = [uuid.UUID(int=(seed << 96) + i + 1) for i in range(n)]
    with platform.session() as s:
        s.add_all([User(id=u, email=f"rv{seed}-{i}@example.com", password_hash="x", display_name=f"rv {i}",
                        role="fan") for i, u in enumerate(ids)])
    return ids


def _start(client, admin, metrics, key="cta-test"):
    assert client.post("/api/v1/flags", json=FLAG, headers=admin).status_code == 201
    spec = {"key": key, "flag_key": "cta", "control": "control", "weights": {"control": 50, "bold": 50},
            "metrics": metrics}
    r = client.post("/api/v1/experiments", json=spec, headers=admin)
    assert r.status_code == 201, r.text
    assert client.post(f"/api/v1/experiments/{key}/start", headers=admin).status_code == 200


def _metric(doc, name):
    m = next(m for m in doc["metrics"] if m["name"] == name)
    return m, {r["variant"]: r for r in m["variants"]}


def test_events_after_the_stop_never_count(mc_client, mc_platform, mc_users, mc_clock):
    p, admin = mc_platform, mc_users.admin.headers
    _start(mc_client, admin, [{"name": "converted", "event": "sim.converted"},
                              {"name": "plays", "event": "play.completed", "kind": "count"}])
    users = _users(p, 60, seed=11)
    for u in users:
        p.flags.variant("cta", Actor(u, "fan"))
    mc_clock.advance(seconds=5)
    with p.session() as s:
        for u in users:
            p.emit(s, "play.completed", actor_id=u)
    mc_clock.advance(seconds=5)
    assert mc_client.post("/api/v1/experiments/cta-test/stop", headers=admin).status_code == 200
    mc_clock.advance(seconds=5)
    with p.session() as s:  # after the stop: conversions and more plays
        for u in users:
            p.emit(s, "sim.converted", actor_id=u)
            for _ in range(4):
                p.emit(s, "play.completed", actor_id=u)
    doc = mc_client.get("/api/v1/experiments/cta-test/results", headers=admin).json()
    _, converted = _metric(doc, "converted")
    _, plays = _metric(doc, "plays")
    assert all(r["mean"] == 0 for r in converted.values()), converted
    assert all(r["mean"] == 1 for r in plays.values()), plays


def test_one_heavy_user_is_capped(mc_client, mc_platform, mc_users, mc_clock):
    p, admin = mc_platform, mc_users.admin.headers
    _start(mc_client, admin, [
        {"name": "plays", "event": "play.completed", "kind": "count"},  # default: the 99th percentile
        {"name": "plays_raw", "event": "play.completed", "kind": "count", "cap_percentile": 1},
        {"name": "plays_cap3", "event": "play.completed", "kind": "count", "cap": 3, "cap_percentile": 1},
        {"name": "spent", "event": "sim.paid", "kind": "sum", "user_field": "user_id", "value_field": "amount",
         "cap": 10},
        {"name": "early", "event": "sim.paid", "kind": "binomial", "user_field": "user_id", "window_hours": 0.01}])
    users = _users(p, 300, seed=12)
    served = {u: p.flags.variant("cta", Actor(u, "fan")) for u in users}
    heavy = next(u for u in users[2:] if served[u] == "bold")
    mc_clock.advance(seconds=5)
    with p.session() as s:
        for u in users:
            p.emit(s, "play.completed", actor_id=u)
        for _ in range(499):  # one fan replaying a track in a loop
            p.emit(s, "play.completed", actor_id=heavy)
        p.emit(s, "sim.paid", data={"user_id": str(heavy), "amount": 500})
        p.emit(s, "sim.paid", data={"user_id": str(users[0]), "amount": "junk"})  # not a number: 0
    mc_clock.advance(seconds=60)
    with p.session() as s:  # paid, but outside the 36 s window of "early"
        p.emit(s, "sim.paid", data={"user_id": str(users[1]), "amount": 4})
    doc = mc_client.get("/api/v1/experiments/cta-test/results", headers=admin).json()
    n_bold = sum(v == "bold" for v in served.values())
    m, plays = _metric(doc, "plays")
    assert m["cap"] == 1 and plays["bold"]["mean"] == 1 == plays["control"]["mean"]
    assert not plays["bold"].get("significant")
    m, raw = _metric(doc, "plays_raw")
    assert m["cap"] is None and abs(raw["bold"]["mean"] - (n_bold + 499) / n_bold) < 1e-9
    m, cap3 = _metric(doc, "plays_cap3")
    assert m["cap"] == 3 and abs(cap3["bold"]["mean"] - (n_bold + 2) / n_bold) < 1e-9
    m, spent = _metric(doc, "spent")
    assert m["cap"] == 10  # sum: no default percentile, the absolute cap only
    spent_total = spent["bold"]["mean"] * n_bold + spent["control"]["mean"] * (len(users) - n_bold)
    assert abs(spent_total - (10 + 4)) < 1e-9  # 500 capped at 10, "junk" is 0, users[1]'s 4
    _, early = _metric(doc, "early")
    early_total = early["bold"]["mean"] * n_bold + early["control"]["mean"] * (len(users) - n_bold)
    assert round(early_total) == 2  # heavy and users[0] within the window; users[1] after it


def test_the_database_filters_and_aggregates_per_user(mc_client, mc_platform, mc_users, mc_clock):
    from musicconnect_experiments.experiments import _metric_values, get

    p, admin = mc_platform, mc_users.admin.headers
    _start(mc_client, admin, [{"name": "plays", "event": "play.completed", "kind": "count"},
                              {"name": "spent", "event": "sim.paid", "kind": "sum", "user_field": "user_id",
                               "value_field": "amount"}])
    exposed = _users(p, 40, seed=13)
    strangers = _users(p, 100, seed=14)  # never exposed: their events must never reach Python
    for u in exposed:
        p.flags.variant("cta", Actor(u, "fan"))
    mc_clock.advance(seconds=5)
    with p.session() as s:
        for u in exposed[:30]:
            for _ in range(5):
                p.emit(s, "play.completed", actor_id=u)
                p.emit(s, "sim.paid", data={"user_id": str(u), "amount": 2})
        for u in strangers:
            for _ in range(5):
                p.emit(s, "play.completed", actor_id=u)
                p.emit(s, "sim.paid", data={"user_id": str(u), "amount": 2})
    from musicconnect_experiments.experiments import exposure_log

    exposure_log(p).flush()
    statements = []

    def seen(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    with p.read() as s:
        e = get(s, "cta-test")
        event.listen(p.db.engine, "before_cursor_execute", seen)
        try:
            plays = _metric_values(s, e, e.metrics[0])
            spent = _metric_values(s, e, e.metrics[1])
        finally:
            event.remove(p.db.engine, "before_cursor_execute", seen)
    assert len(plays) == 30 and {v for _, v in plays} == {5.0}  # one row per exposed user with events
    assert len(spent) == 30 and {v for _, v in spent} == {10.0}
    reads = [q for q in statements if "domain_events" in q]  # (other threads may query meanwhile)
    assert len(reads) == 2 and all("experiments_exposures" in q and "GROUP BY" in q for q in reads), reads


def test_results_wait_for_the_exposure_writer_only_briefly(mc_platform):
    from musicconnect.flags import Exposure
    from musicconnect_experiments import experiments as ex

    p = mc_platform
    log_ = ex.ExposureLog(p)
    release = threading.Event()
    log_.write = lambda batch: release.wait(10)  # a database that hangs
    log_(Exposure("x", "cta", "control", uuid.uuid4(), p.clock.now()))
    t0 = time.monotonic()
    assert log_.flush(0.2) is False
    assert time.monotonic() - t0 < 2
    release.set()
    assert log_.flush(5) is True
    assert ex.FLUSH_TIMEOUT <= 5


def test_a_deleted_user_does_not_lose_the_batch(mc_client, mc_platform, mc_users):
    from musicconnect_experiments.experiments import ExposureLog, ExposureRow, exposure_log

    p, admin = mc_platform, mc_users.admin.headers
    _start(mc_client, admin, [{"name": "converted", "event": "sim.converted"}])
    users = _users(p, 20, seed=15)
    seen = []
    p.flags.add_exposure_listener(seen.append)
    try:
        for u in users:
            p.flags.variant("cta", Actor(u, "fan"))
    finally:
        p.flags.remove_exposure_listener(seen.append)
    exposure_log(p).flush()  # the plugin's own writer has logged them: start from none
    with p.session() as s:
        s.execute(delete(ExposureRow))
    with p.session() as s:  # the account is deleted before the writer runs
        s.execute(delete(User).where(User.id == users[3]))
    written = ExposureLog(p).write(seen)
    with p.read() as s:
        stored = s.scalar(select(func.count()).select_from(ExposureRow).where(ExposureRow.user_id != users[3]))
    assert written == 19 and stored == 19

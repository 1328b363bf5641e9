"""An experiment end to end: a flag and an experiment made over HTTP, users evaluated (the flags
service and GET /api/v1/me/flags), their first exposures logged exactly once, conversions as
domain events, results over HTTP and the CLI with a known true effect; guardrail harm, a broken
allocation caught by the SRM check, stop, the privacy hooks."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from helpers import bearer, problem
from musicconnect.contracts import Actor
from musicconnect.models import User
from musicconnect.testing import concurrently

BIN = Path(sys.executable).parent / "musicconnect"
FLAG = {"key": "cta", "kind": "string", "variants": {"control": "Join", "bold": "Join the crew"},
        "default_variant": "control", "client_visible": True}
EXPERIMENT = {"key": "cta-test", "flag_key": "cta", "control": "control", "weights": {"control": 50, "bold": 50},
              "metrics": [{"name": "converted", "event": "sim.converted"},
                          {"name": "plays", "event": "play.completed", "kind": "count", "guardrail": True,
                           "threshold": 0.05}]}


def _users(platform, n, seed):
    ids = [uuid.UUID(int=(seed << 96) + i + 1) for i in range(n)]
    with platform.session() as s:
        s.add_all([User(id=u, email=f"sim{seed}-{i}@example.com", password_hash="x", display_name=f"sim {i}",
                        role="fan") for i, u in enumerate(ids)])
    return ids


def _setup(client, admin, experiment=EXPERIMENT):
    assert client.post("/api/v1/flags", json=FLAG, headers=admin).status_code == 201
    r = client.post("/api/v1/experiments", json=experiment, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "draft"
    r = client.post(f"/api/v1/experiments/{experiment['key']}/start", headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "running", r.text


def _exposures(platform):
    from musicconnect_experiments.experiments import ExposureRow

    with platform.read() as s:
        return s.scalar(select(func.count()).select_from(ExposureRow))


def test_simulated_experiment_with_a_known_effect(mc_client, mc_platform, mc_users, mc_clock, proc_env):
    p, admin = mc_platform, mc_users.admin.headers
    _setup(mc_client, admin)
    rng = np.random.default_rng(19)
    users = _users(p, 600, seed=1)
    rates = {"control": 0.10, "bold": 0.30}  # the true effect: +200 % conversion; plays unchanged
    with p.session() as s:  # events before exposure never count
        for u in users[:100]:
            p.emit(s, "sim.converted", actor_id=u)
    mc_clock.advance(seconds=5)
    served = {}
    for u in users:
        served[u] = p.flags.variant("cta", Actor(u, "fan"))
        p.flags.variant("cta", Actor(u, "fan"))  # a second evaluation: still one exposure
    # a real fan through HTTP too: the client-visible flag, evaluated and exposed
    r = mc_client.get("/api/v1/me/flags", headers=mc_users.fan.headers)
    assert r.json()["cta"]["variant"] in ("control", "bold")
    served[mc_users.fan.id] = r.json()["cta"]["variant"]
    truth = {"control": [], "bold": []}  # what the simulation did: the API must find exactly this
    with p.session() as s:
        for u, variant in served.items():
            converted = rng.random() < rates[variant]
            truth[variant].append(converted)
            if converted:
                p.emit(s, "sim.converted", actor_id=u)
            for _ in range(rng.poisson(3.0)):
                p.emit(s, "play.completed", actor_id=u)
    r = mc_client.get("/api/v1/experiments/cta-test/results", headers=admin)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert _exposures(p) == len(served) == 601
    counts = {v["variant"]: v["users"] for v in doc["variants"]}
    assert sum(counts.values()) == 601 and all(n > 240 for n in counts.values())
    assert counts == {v: len(truth[v]) for v in counts}
    assert not doc["srm"]["mismatch"] and doc["srm"]["p_value"] > 0.001
    converted = next(m for m in doc["metrics"] if m["name"] == "converted")
    bold = next(r for r in converted["variants"] if r["variant"] == "bold")
    control = next(r for r in converted["variants"] if r["variant"] == "control")
    # exactly the simulated conversions after exposure (the 100 earlier ones never count)
    assert abs(control["mean"] - np.mean(truth["control"])) < 1e-12
    assert abs(bold["mean"] - np.mean(truth["bold"])) < 1e-12
    assert bold["significant"] and bold["p_value"] < 0.01 and bold["lift_ci"][0] > 0  # detected
    # the true lift (+200 %) is inside the 99.9 % interval (the 95 % coverage rate itself is
    # measured over hundreds of simulated experiments in test_experiments_stats.py)
    wide = mc_client.get("/api/v1/experiments/cta-test/results?alpha=0.001", headers=admin).json()
    wide_bold = next(r for m in wide["metrics"] if m["name"] == "converted" for r in m["variants"]
                     if r["variant"] == "bold")
    assert wide_bold["lift_ci"][0] <= 2.0 <= wide_bold["lift_ci"][1], wide_bold
    assert wide_bold["lift_ci"][1] - wide_bold["lift_ci"][0] > bold["lift_ci"][1] - bold["lift_ci"][0]
    plays = next(m for m in doc["metrics"] if m["name"] == "plays")
    assert plays["guardrail"] and plays["status"] == "ok" and doc["guardrails"] == "ok"

    # the same results from the CLI (another process, the same database)
    env = {**proc_env, "MC_ENV": "test"}
    out = subprocess.run([str(BIN), "experiments", "results", "cta-test", "--json"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["variants"] == doc["variants"]
    text = subprocess.run([str(BIN), "experiments", "results", "cta-test"], env=env, capture_output=True,
                          text=True, timeout=120).stdout
    assert "lift" in text and "guardrails: ok" in text and "SRM p=" in text

    # stop: the flag's rule goes (everyone gets the default), results stay readable
    r = mc_client.post("/api/v1/experiments/cta-test/stop", headers=admin)
    assert r.json()["status"] == "stopped"
    assert mc_client.get("/api/v1/flags/cta", headers=admin).json()["rules"] == []
    assert p.flags.variant("cta", Actor(uuid.uuid4(), "fan")) == "control"
    problem(mc_client.post("/api/v1/experiments/cta-test/stop", headers=admin), 409, "experiment-state")
    assert mc_client.get("/api/v1/experiments/cta-test/results", headers=admin).status_code == 200


def test_guardrail_harm_and_sample_ratio_mismatch(mc_client, mc_platform, mc_users):
    p, admin = mc_platform, mc_users.admin.headers
    _setup(mc_client, admin)
    rng = np.random.default_rng(5)
    users = _users(p, 800, seed=2)
    served = {u: p.flags.variant("cta", Actor(u, "fan")) for u in users}
    with p.session() as s:
        for u, variant in served.items():  # the bold copy costs plays: 3.0 -> 2.0 per user
            for _ in range(rng.poisson(3.0 if variant == "control" else 2.0)):
                p.emit(s, "play.completed", actor_id=u)
    doc = mc_client.get("/api/v1/experiments/cta-test/results", headers=admin).json()
    plays = next(m for m in doc["metrics"] if m["name"] == "plays")
    assert plays["status"] == "harm" and doc["guardrails"] == "harm"
    assert not doc["srm"]["mismatch"]

    # broken allocation: a bug drops a third of the bold users' exposures
    from musicconnect_experiments.experiments import ExposureRow

    with p.session() as s:
        bold = list(s.scalars(select(ExposureRow).where(ExposureRow.variant == "bold")))
        for row in bold[: len(bold) // 3]:
            s.delete(row)
    doc = mc_client.get("/api/v1/experiments/cta-test/results", headers=admin).json()
    assert doc["srm"]["mismatch"] and doc["srm"]["p_value"] < 0.001


def test_first_exposure_is_logged_once_under_concurrency(mc_client, mc_platform, mc_users, mc_make_platform):
    from musicconnect_experiments.experiments import ExposureLog, exposure_log

    p, admin = mc_platform, mc_users.admin.headers
    _setup(mc_client, admin)
    users = _users(p, 50, seed=3)
    # many threads evaluate the same users at once
    concurrently(16, lambda i: [p.flags.variant("cta", Actor(u, "fan")) for u in users])
    exposure_log(p).flush()
    assert _exposures(p) == 50
    # two processes (two logs, no shared memory) writing the same first exposures at once
    other = mc_make_platform(migrate_db=False)
    seen = []
    other.flags.add_exposure_listener(seen.append)
    for u in _users(p, 30, seed=4):
        other.flags.variant("cta", Actor(u, "fan"))
    logs = [ExposureLog(p), ExposureLog(other)]
    written = concurrently(8, lambda i: logs[i % 2].write(seen))
    assert sum(written) == 30 and _exposures(p) == 80
    first = {u: v for u, v in ((x.user_id, x.variant) for x in seen)}
    assert len(first) == 30


def test_validation_scopes_and_privacy(mc_client, mc_platform, mc_users):
    p, admin = mc_platform, mc_users.admin.headers
    assert mc_client.post("/api/v1/flags", json=FLAG, headers=admin).status_code == 201
    bad = {**EXPERIMENT, "weights": {"control": 50, "huge": 50}}
    problem(mc_client.post("/api/v1/experiments", json=bad, headers=admin), 422, "validation")
    problem(mc_client.post("/api/v1/experiments", json={**EXPERIMENT, "flag_key": "nope"}, headers=admin), 422)
    problem(mc_client.post("/api/v1/experiments", json=EXPERIMENT, headers=mc_users.fan.headers), 403)
    problem(mc_client.get("/api/v1/experiments/cta-test/results", headers=admin), 404, "experiment-not-found")
    assert mc_client.post("/api/v1/experiments", json=EXPERIMENT, headers=admin).status_code == 201
    problem(mc_client.post("/api/v1/experiments", json=EXPERIMENT, headers=admin), 409, "experiment-exists")
    second = {**EXPERIMENT, "key": "cta-other"}
    assert mc_client.post("/api/v1/experiments", json=second, headers=admin).status_code == 201
    assert mc_client.post("/api/v1/experiments/cta-test/start", headers=admin).status_code == 200
    problem(mc_client.post("/api/v1/experiments/cta-other/start", headers=admin), 409, "experiment-state")
    problem(mc_client.post("/api/v1/experiments/cta-test/start", headers=admin), 409, "experiment-state")
    # an admin looking at what a user gets is no exposure
    r = mc_client.get(f"/api/v1/flags/cta/evaluate?user_id={mc_users.artist.id}", headers=admin)
    assert r.json()["experiment"] == "cta-test"
    from musicconnect_experiments.experiments import exposure_log

    exposure_log(p).flush()
    assert _exposures(p) == 0
    # the fan's exposure is in their export and goes with their erasure
    fan = mc_users.fan
    assert mc_client.get("/api/v1/me/flags", headers=bearer(fan.access_token)).status_code == 200
    exposure_log(p).flush()
    with p.session() as s:
        user = s.get(User, fan.id)
        parts = dict(p.export_user_data(s, user))
        assert parts["experiments"].records["experiment_exposures"][0]["experiment"] == "cta-test"
        from musicconnect_experiments.experiments import erase_user

        assert erase_user(s, user) == 1


def test_cli_creates_starts_and_stops(mc_client, mc_platform, mc_users, proc_env, tmp_path):
    assert mc_client.post("/api/v1/flags", json=FLAG, headers=mc_users.admin.headers).status_code == 201
    env = {**proc_env, "MC_ENV": "test"}

    def run(*args, ok=True):
        r = subprocess.run([str(BIN), "experiments", *args], env=env, capture_output=True, text=True, timeout=120)
        assert (r.returncode == 0) == ok, (args, r.stdout, r.stderr)
        return r

    spec = tmp_path / "exp.json"
    spec.write_text(json.dumps(EXPERIMENT))
    assert "created cta-test (draft)" in run("create", f"@{spec}").stdout
    r = run("create", json.dumps({**EXPERIMENT, "key": "x", "weights": {"control": 1}}), ok=False)
    assert r.stderr.startswith("error: ") and r.stderr.strip().count("\n") == 0
    run("start", "cta-test")
    r = run("start", "cta-test", ok=False)
    assert "only a draft starts" in r.stderr
    rows = [json.loads(line) for line in run("list", "--json").stdout.splitlines()]
    assert [(x["key"], x["status"]) for x in rows] == [("cta-test", "running")]
    mc_platform.flags.refresh()  # the CLI is another process (embedded: no pub/sub between them)
    assert mc_client.get("/api/v1/flags/cta", headers=mc_users.admin.headers).json()["rules"][0]["experiment"] == "cta-test"
    run("stop", "cta-test")
    run("results", "nope", ok=False)

"""The workers' sweep for jobs whose broker message was lost (``Jobs.resend_stale``): what the
Redis-restart drill found — a webhook acknowledged while Redis was down was stored, its job row
queued, and its message never reached Redis, so nothing ever processed it."""
from __future__ import annotations

import types

from musicconnect import JobSpec, hookimpl
from musicconnect.models import Job


def _platform(mc_make_platform, runs):
    mod = types.SimpleNamespace(register_jobs=hookimpl(lambda platform: [JobSpec("lost", lambda ctx: runs.append(1))]))
    return mc_make_platform(extra_plugins=[("drillsweep", mod)], entry_points=False)


def _queued(p) -> int:
    """Messages waiting on the job's queue (the embedded stub broker, or Redis in the distributed pass)."""
    broker = p.jobs.broker
    if isinstance(broker.queues, dict):
        return broker.queues["mc.drillsweep"].qsize()
    return broker.client.llen(f"{broker.namespace}:mc.drillsweep")


def test_a_queued_job_whose_message_was_lost_is_sent_again_once(mc_make_platform, mc_clock):
    runs: list[int] = []
    p = _platform(mc_make_platform, runs)
    job = p.jobs.enqueue("drillsweep.lost")
    p.jobs.broker.flush_all()  # the message is gone (Redis restarted without persistence)
    assert _queued(p) == 0
    assert p.jobs.resend_stale() == 0  # young: its message may still be on its way
    mc_clock.advance(seconds=p.settings.job_resend_seconds + 1)
    assert p.jobs.resend_stale() == 1
    assert _queued(p) == 1
    assert p.jobs.resend_stale() == 0  # claimed by this sweep: not sent twice
    p.jobs._run("drillsweep.lost", job)  # the re-sent message is delivered
    assert runs == [1]
    with p.session() as s:
        assert s.get(Job, job).state == "succeeded"
    mc_clock.advance(seconds=p.settings.job_resend_seconds + 1)
    assert p.jobs.resend_stale() == 0  # finished jobs are never sent again


def test_a_running_job_is_sent_again_only_once_silent_past_its_lease(mc_make_platform, mc_clock):
    runs: list[int] = []
    p = _platform(mc_make_platform, runs)
    job = p.jobs.enqueue("drillsweep.lost")
    p.jobs.broker.flush_all()
    mc_clock.advance(seconds=1)  # (the same updated_at as at enqueue would let the model's onupdate stamp it)
    with p.session() as s:
        row = s.get(Job, job)
        row.state, row.updated_at = "running", mc_clock.now()  # a worker took it, then died with Redis
    mc_clock.advance(seconds=p.settings.job_lease_seconds - 1)
    assert p.jobs.resend_stale() == 0  # its runner may be alive
    mc_clock.advance(seconds=max(p.settings.job_resend_seconds, p.settings.job_lease_seconds) + 1)
    assert p.jobs.resend_stale() == 1
    with p.session() as s:
        assert s.get(Job, job).state == "queued"
    p.jobs._run("drillsweep.lost", job)
    assert runs == [1]

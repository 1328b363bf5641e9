"""A running job's lease is renewed by its process, not by the job: a long job that reports no
progress is never started a second time by the lost-message sweep or a duplicate delivery, and an
attempt that was taken over cannot overwrite the newer attempt's outcome."""
from __future__ import annotations

import types

from musicconnect import JobSpec, hookimpl
from musicconnect.models import Job


def _platform(mc_make_platform, fn):
    mod = types.SimpleNamespace(register_jobs=hookimpl(lambda platform: [JobSpec("long", fn)]))
    return mc_make_platform(extra_plugins=[("leasex", mod)], entry_points=False)


def _stale(p) -> int:
    return max(p.settings.job_resend_seconds, p.settings.job_lease_seconds) + 1


def test_a_long_silent_job_is_not_started_again_while_its_process_runs_it(mc_make_platform, mc_clock):
    runs: list[int] = []
    box: dict = {}

    def fn(ctx):
        runs.append(ctx.attempt)
        if len(runs) == 1:  # eleven minutes pass without a progress report
            p = box["p"]
            mc_clock.advance(seconds=_stale(p))
            assert p.jobs.resend_stale() == 0  # this process's own sweep knows the job is alive
            assert p.jobs.heartbeat() == 1  # the lease thread renews it
            p.jobs._run("leasex.long", ctx.job_id)  # a duplicate delivery meanwhile: skipped, not run

    p = box["p"] = _platform(mc_make_platform, fn)
    job = p.jobs.enqueue("leasex.long")
    p.jobs.broker.flush_all()
    p.jobs._run("leasex.long", job)
    assert runs == [1]
    with p.session() as s:
        row = s.get(Job, job)
        assert (row.state, row.attempts) == ("succeeded", 1)
    assert p.jobs.heartbeat() == 0  # nothing held once it ended


def test_another_workers_sweep_sees_a_renewed_job_as_alive(mc_make_platform, mc_clock):
    box: dict = {}

    def fn(ctx):
        p = box["p"]
        for _ in range(3):  # half an hour of silence, the lease thread renewing every while
            mc_clock.advance(seconds=_stale(p) - 2)
            assert p.jobs.heartbeat() == 1
            held, p.jobs._held = p.jobs._held, set()  # look from another worker process
            try:
                assert p.jobs.resend_stale() == 0
            finally:
                p.jobs._held = held

    p = box["p"] = _platform(mc_make_platform, fn)
    job = p.jobs.enqueue("leasex.long")
    p.jobs.broker.flush_all()
    p.jobs._run("leasex.long", job)
    with p.session() as s:
        assert s.get(Job, job).state == "succeeded"


def test_an_attempt_taken_over_does_not_overwrite_the_newer_attempts_outcome(mc_make_platform, mc_clock):
    outcomes: list[str] = []
    box: dict = {}

    def fn(ctx):
        p = box["p"]
        if ctx.attempt == 1:
            # this runner was cut off from the database past its lease: another worker takes over
            mc_clock.advance(seconds=_stale(p))
            held, p.jobs._held = p.jobs._held, set()
            try:
                assert p.jobs.resend_stale() == 1
                p.jobs._run("leasex.long", ctx.job_id)
            finally:
                p.jobs._held = held
            outcomes.append("first ends")
            raise RuntimeError("the first runner fails late")
        outcomes.append("second succeeds")

    p = box["p"] = _platform(mc_make_platform, fn)
    job = p.jobs.enqueue("leasex.long")
    p.jobs.broker.flush_all()
    try:
        p.jobs._run("leasex.long", job)
    except RuntimeError:
        pass
    assert outcomes == ["second succeeds", "first ends"]
    with p.session() as s:
        row = s.get(Job, job)
        assert (row.state, row.attempts) == ("succeeded", 2)

"""Review: two workers summarising the same artist's week at once emit one summary. The second
worker runs exactly between the first one's check and its write (the worst moment)."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import select, update

from musicconnect import PermanentJobError
from musicconnect.models import Artist, DomainEvent

from musicconnect_analytics import summary

MONDAY = datetime(2026, 5, 25, tzinfo=timezone.utc)  # 2026-W22; the fixtures' clock is 2026-06-01


def test_two_workers_at_the_worst_moment_emit_one_summary(mc_platform, mc_users, monkeypatch):
    p, a = mc_platform, mc_users.artist.artist_id
    with p.session() as s:
        s.execute(update(Artist).where(Artist.id == a).values(created_at=MONDAY))
    label, start, end = summary.iso_week("2026-W22")
    real_emit = summary.emit
    results: list = []
    entered = threading.Event()

    def second_worker():
        entered.set()
        results.append(summary.summarise(p, a, label, start, end))

    def emit_with_a_rival(*args, **kwargs):
        if not entered.is_set():
            rival = threading.Thread(target=second_worker)
            rival.start()
            rival.join(timeout=1.5)  # the rival waits for our lock (fixed) or emits now (the race)
            monkeypatch.setattr(summary, "_rival", rival, raising=False)
        return real_emit(*args, **kwargs)

    monkeypatch.setattr(summary, "emit", emit_with_a_rival)
    first = summary.summarise(p, a, label, start, end)
    summary._rival.join(timeout=20)
    assert not summary._rival.is_alive()
    with p.read() as s:
        n = len(list(s.scalars(select(DomainEvent.id).where(DomainEvent.type == summary.EVENT,
                                                            DomainEvent.artist_id == a))))
    assert n == 1
    assert sorted([first, *results]) == [False, True]


def test_a_malformed_artist_id_fails_the_job_for_good(mc_platform):
    class Ctx:
        platform = mc_platform

        def progress(self, *a):
            pass

    with pytest.raises(PermanentJobError, match="not an artist id"):
        summary.weekly_summary(Ctx(), week="2026-W22", artist_id="nope")

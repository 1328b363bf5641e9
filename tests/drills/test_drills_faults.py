"""The failure drills, short form (scripts/drills.py; the long form is bench/drills.py).

Distributed pass only: it starts its OWN PostgreSQL cluster, Redis and S3 server (moto behind a
fault-injecting proxy), two API processes behind a TCP balancer and two workers, so it can kill,
pause and restart them without disturbing the suite's shared services. A small population plays a
gated track, uploads, writes DMs and delivers signed webhooks while each fault is injected for a
few seconds; then nothing may be lost and every fault's errors must stop soon after it cleared.
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not os.environ.get("MC_TEST_DATABASE_URL") or not shutil.which("redis-server"),
    reason="distributed pass only (MC_TEST_ONLY=distributed python3 scripts/test.py -q tests/drills)")

HOLD, OBSERVE = 3.0, 8.0
RECOVERY_BOUND = 10.0  # seconds after a fault cleared by which clients see no more errors


def _drills():
    spec = importlib.util.spec_from_file_location("mc_drills", ROOT / "scripts" / "drills.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mc_drills"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_drills_lose_nothing_and_recover(tmp_path):
    drills = _drills()
    result = asyncio.run(drills.run(list(drills.FAULTS), baseline=4, hold=HOLD, observe=OBSERVE, players=2,
                                    dm_senders=3, publish_timeout=120))
    print(drills.table(result))
    lost = result["lost"]
    assert result["baseline_errors"] == 0
    assert lost["uploads_accepted"] >= 5
    assert lost["uploads_unpublished"] == [], "an accepted upload was never published"
    assert lost["webhooks_acked"] >= 20
    assert lost["webhooks_unprocessed"] == 0, "an acknowledged webhook was never processed"
    assert lost["webhooks_never_acked"] == 0 and lost["webhooks_stored_twice"] == 0
    assert lost["dms_acked"] >= 5
    assert lost["dms_missing"] == 0 and lost["dms_duplicated"] == 0, "an acknowledged DM was lost or stored twice"
    windows = {w["fault"]: w for w in result["windows"]}
    assert set(windows) == set(drills.FAULT_NAMES.values())
    for w in windows.values():
        assert w["first_success_s"] is not None, w
        if w["last_error_s"] is not None:
            assert w["last_error_s"] <= w["fault_seconds"] + RECOVERY_BOUND, w
    # the object store's errors reach the players (their segments come from it): the drill bites;
    # an upload refused meanwhile is a retryable 503 storage-unavailable, never a 500
    s3 = windows["object store errors"]
    assert s3["errors"] > 0
    assert not [k for k in s3["kinds"] if k.startswith("upload") and k != "upload: http 503"], s3["kinds"]
    # the API process died with DMs in flight: their posts broke, and none was stored twice (above)
    assert windows["kill -9 an API process"]["errors"] > 0

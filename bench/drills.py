#!/usr/bin/env python3
"""Benchmark: the failure drills, long form — the distributed topology as processes on this machine
(PostgreSQL, Redis, moto behind a fault proxy, two API processes behind a TCP balancer, two
workers), a small load-test population, and five faults one after the other: kill -9 an API
process, kill -9 a worker mid-transcode, restart Redis, pause PostgreSQL, object store errors.
Prints a table (errors clients saw and their kinds, slowest request, first success, last error,
back to the normal rate, the interrupted transcode's publication) and what was lost (nothing,
or the run exits 1).

    .venv/bin/python bench/drills.py [--hold 10] [--observe 20] [--faults api,worker,redis,postgres,s3] \
        [--json figures.json]

The machinery is scripts/drills.py (the test suite runs its short form: tests/drills).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    spec = importlib.util.spec_from_file_location("mc_drills", ROOT / "scripts" / "drills.py")
    drills = importlib.util.module_from_spec(spec)
    sys.modules["mc_drills"] = drills
    spec.loader.exec_module(drills)
    return drills.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())

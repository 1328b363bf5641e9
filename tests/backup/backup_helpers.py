"""Helpers of the backup tests: a deployment's environment for `musicconnect` subprocesses, and
running them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from musicconnect.testing import TEST_S3

BIN = Path(sys.executable).parent / "musicconnect"
CHEAP = {"MC_ARGON2_TIME_COST": "1", "MC_ARGON2_MEMORY_COST": "1024", "MC_LOG_LEVEL": "WARNING"}


def deployment_env(data_dir: Path, database_url: str | None, bucket: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    env.update(CHEAP, MC_DATA_DIR=str(data_dir))
    if database_url:
        env["MC_DATABASE_URL"] = database_url
    if bucket:
        env.update(MC_S3_BUCKET=bucket, MC_S3_ENDPOINT_URL=TEST_S3, MC_S3_ACCESS_KEY_ID="test",
                   MC_S3_SECRET_ACCESS_KEY="test")
    return env


def run(env: dict, *args: str, ok: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if ok:
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r


def one_line_error(r: subprocess.CompletedProcess, code: int = 1) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]

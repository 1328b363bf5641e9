"""`ruff check` passes on the whole tree with the configuration in pyproject.toml ([tool.ruff])."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_ruff_passes_on_the_tree():
    r = ruff(".")
    assert r.returncode == 0, "ruff check . found:\n" + r.stdout[-5000:] + r.stderr[-2000:]


def test_ruff_uses_the_project_configuration(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f():\n    return undefined_name\n")
    r = ruff("--config", str(ROOT / "pyproject.toml"), str(bad))
    assert r.returncode == 1 and "F401" in r.stdout and "F821" in r.stdout, r.stdout + r.stderr
    long_line = tmp_path / "long.py"
    long_line.write_text(f"X = {'1' * 150}\n")  # E501 is left to review
    assert ruff("--config", str(ROOT / "pyproject.toml"), str(long_line)).returncode == 0

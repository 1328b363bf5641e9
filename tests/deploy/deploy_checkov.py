"""checkov 3.3.30 in its own virtualenv (it pins packaging<24, which clashes with the project's
environment): created once under ~/.cache/musicconnect/checkov-3.3.30 and reused.

`python3 tests/deploy/deploy_checkov.py` provisions it (scripts/test.py does, before the suite);
tests/deploy/test_deploy_manifests.py calls `ensure()` too, so a plain pytest run works.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

VERSION = "3.3.30"


def home() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "musicconnect" / f"checkov-{VERSION}"


def ensure() -> Path:
    """The checkov executable, installing it first when missing (a venv is not relocatable, so it
    is built in place and marked complete only once pip succeeded)."""
    target = home()
    exe = target / "bin" / "checkov"
    if (target / ".complete").exists() and exe.exists():
        return exe
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True).create(target)
    subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                    f"checkov=={VERSION}"], check=True, env={**os.environ, "PIP_NO_INPUT": "1"})
    (target / ".complete").write_text(VERSION)
    return exe


if __name__ == "__main__":
    print(ensure())
    sys.exit(0)

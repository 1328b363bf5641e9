"""Creates .venv and installs every workspace member (editable) into it. Standard library only:
this runs on a fresh machine with nothing but Python and pip."""
from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"


def members() -> list[Path]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["musicconnect"]["workspace"]
    found = [ROOT / m for m in meta["members"]]
    found += sorted(p.parent for p in ROOT.glob(meta["plugins"] + "/pyproject.toml"))
    return found


def _fingerprint(extras: list[str]) -> str:
    h = hashlib.sha256(sys.version.encode())
    for m in members():
        h.update(str(m).encode())
        h.update((m / "pyproject.toml").read_bytes())
    h.update((ROOT / "pyproject.toml").read_bytes())
    h.update(",".join(extras).encode())
    return h.hexdigest()


def log(msg: str) -> None:
    print(f"[musicconnect] {msg}", flush=True)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortTimeout(RuntimeError):
    pass


def wait_port(port: int, timeout: float = 30) -> None:
    """Until something accepts connections on 127.0.0.1:``port``; :class:`PortTimeout` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise PortTimeout(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def install(with_test: bool) -> Path:
    """Idempotent: re-installs only when a pyproject changed."""
    extras = ["test"] if with_test else []
    stamp = VENV / ".mc-installed"
    fp = _fingerprint(extras)
    if PY.exists() and stamp.exists() and stamp.read_text() == fp:
        return PY
    if not PY.exists():
        log(f"creating {VENV.relative_to(ROOT)}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    args: list[str] = []
    for m in members():
        spec = f"{m}[postgres]" if m.name == "core" else str(m)
        args += ["-e", spec]
    if with_test:
        args += tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    log(f"installing {len(members())} workspace packages{' and test tools' if with_test else ''}")
    subprocess.run([*pip, *args], check=True, env={**os.environ, "PIP_NO_INPUT": "1"})
    stamp.write_text(fp)
    return PY

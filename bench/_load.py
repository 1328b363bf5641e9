"""Shared benchmark helpers: free ports, server processes, and a load run with wrk (Debian's
`wrk`, installed with apt-get when missing and root) reporting throughput and p50/p99."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        path = shutil.which("wrk")
    if not path:
        raise SystemExit("error: the benchmark needs wrk (apt-get install wrk)")
    return path


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # everything wrk counts as failed: non-2xx/3xx answers and socket errors
    timeouts: int = 0  # of those, requests still unanswered after wrk's --timeout


def wait_idle(url: str, timeout: float = 60, fast_ms: float = 100) -> None:
    """Wait until the server answers ``url`` within ``fast_ms`` again: after a run at 1,024
    connections its queue can take seconds to drain, and the next run must not inherit it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = time.perf_counter()
        try:
            httpx.get(url, timeout=10)
        except httpx.HTTPError:
            pass
        if (time.perf_counter() - t) * 1000 < fast_ms:
            return
        time.sleep(0.5)


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if m is None:
        raise ValueError(f"unreadable wrk latency {text!r}")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def load(url: str, *, connections: int = 64, seconds: int = 10, headers: dict[str, str] | None = None,
         threads: int = 1, timeout_s: int = 2) -> Result:
    cmd = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s", "--latency"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    if "Latency Distribution" not in out:
        raise SystemExit(f"unexpected wrk output:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    timeouts = 0
    if sock:
        errors += sum(int(x) for x in sock.groups())
        timeouts = int(sock.group(4))
    return Result(rps, p50, p99, errors, timeouts)


def serve(module_app: str, port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    """One uvicorn process (uvloop + httptools, no access log), as `musicconnect serve` runs."""
    return subprocess.Popen([sys.executable, "-m", "uvicorn", module_app, "--host", "127.0.0.1", "--port", str(port),
                             "--no-access-log", "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"],
                            env={**os.environ, **(env or {})})

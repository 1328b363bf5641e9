"""Small helpers shared by test modules."""
from __future__ import annotations

import os
import struct
import threading
import time
import zlib

import pytest


def problem(resp, status: int, type_: str | None = None) -> dict:
    """Assert an RFC 9457 problem response and return its body."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers["content-type"]
    body = resp.json()
    assert body["status"] == status and body["title"]
    if type_ is not None:
        assert body["type"] == f"/problems/{type_}", body
    return body


def register(client, email: str, password: str = "a-long-passphrase", role: str = "fan", **extra) -> dict:
    r = client.post("/api/v1/auth/register", json={"email": email, "password": password, "role": role, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def png_bomb(width: int, height: int) -> bytes:
    """A 1-bit PNG of ``width x height`` made of zeros: a few KB on the wire, made without ever
    holding the image in memory (one row at a time through zlib)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (width + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc/self/statm")


class PeakRSS:
    """The highest resident-set growth of this process (the server runs in it) while inside."""

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as fh:  # Linux: resident pages are the second field
            return int(fh.read().split()[1]) * PAGE

    def __enter__(self):
        self.base = self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 1024 / 1024


# ---------------------------------------------------------------- API processes (tests across processes)

def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_process(env: dict, port: int):
    """``musicconnect serve --port PORT`` in a child process (output kept for a failure message)."""
    import subprocess
    import sys
    from pathlib import Path

    binary = Path(sys.executable).parent / "musicconnect"
    return subprocess.Popen([str(binary), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_ready(proc, base: str, timeout: float = 90) -> None:
    """Until ``base``/healthz answers 200; fails with the process's output when it exits."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.stdout.read()
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the API process did not start"
        time.sleep(0.3)

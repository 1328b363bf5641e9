"""Fixtures for the web plugin's tests: the web plugin alone by default (the browser tests add
streaming), a real headless Chromium, screenshots, an in-process server. Helpers the tests import
(the third-party test plugins, ``Console``, ``sign_in``) live in ``web_helpers.py``."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def mc_plugins():
    return ["web"]


# --------------------------------------------------------------------------- the real browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--mute-audio"]


@pytest.fixture
def browser(tmp_path):
    """A fresh headless Chromium (Debian's: Playwright's own download is not available here)
    driven by Playwright; skips with the reason when either is missing."""
    import os
    import shutil

    path = os.environ.get("MC_TEST_CHROMIUM") or (CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"))
    if not path:
        pytest.skip("Chromium is not installed (apt-get install chromium; scripts/test.py does it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(str(tmp_path / "chromium-profile"), executable_path=path,
                                                    headless=True, args=CHROMIUM_ARGS,
                                                    viewport={"width": 1100, "height": 800})
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture
def shots(tmp_path):
    """``shots(page, "01-home")`` saves a full-page screenshot under this test's tmp dir."""
    folder = tmp_path / "screenshots"
    folder.mkdir()

    def take(page, name: str) -> Path:
        out = folder / f"{name}.png"
        page.screenshot(path=str(out), full_page=True)
        return out

    take.folder = folder
    return take


@pytest.fixture
def thread_server():
    """``thread_server(app)`` -> base URL: uvicorn serving an in-process app on a free port (for
    platforms with test plugins that a separate process could not load)."""
    import threading
    import time

    import uvicorn

    from helpers import free_port

    servers = []

    def start(app) -> str:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)

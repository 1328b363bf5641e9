#!/usr/bin/env python3
"""Install MusicConnect into .venv and run it with demo data (embedded default: SQLite, local
media, in-process jobs). Usage: python3 scripts/demo.py [--port 8000] [--host 127.0.0.1]"""
from __future__ import annotations

import os
import sys

from _workspace import ROOT, VENV, install, log

if __name__ == "__main__":
    install(with_test=False)
    args = sys.argv[1:]
    os.chdir(ROOT)
    log("starting: sign in as fan@demo.com, superfan@demo.com or artist@demo.com with password123; API docs at /docs")
    exe = str(VENV / "bin" / "musicconnect")
    os.execv(exe, [exe, "serve", "--demo", *args])

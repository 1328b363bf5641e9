"""Private scratch space: ``<data_dir>/tmp/streaming/<job>/``, never the shared ``/tmp``.

Transcodes write the track's AES key next to ffmpeg's output and uploads arrive as files, so
their working directories live under the data directory, in a directory of mode 0700 owned by the
process's user (checked each time, not assumed), one private directory per job or request.

Each directory holds an exclusive ``flock`` on its ``.lock`` file for as long as it is in use;
the kernel releases it when the process dies, however it dies. ``sweep`` (run at start-up)
removes every directory whose lock it can take, so what a crashed process left behind (keys,
partial uploads) goes, while the directories of live jobs, in this or another process sharing
the data directory, stay.
"""
from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not Linux/macOS
    fcntl = None

log = logging.getLogger("musicconnect.streaming")

LOCK = ".lock"
#: a directory without its lock file yet (just created) is left alone for this long
UNLOCKED_GRACE_SECONDS = 600


class UnsafeScratch(RuntimeError):
    """The scratch directory exists but is not private to this user."""


def _private_dir(path: Path) -> Path:
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeScratch(f"{path} is not a directory")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise UnsafeScratch(f"{path} belongs to another user")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)  # ours, but created looser (an older version, a umask): tighten it
        if stat.S_IMODE(os.lstat(path).st_mode) != 0o700:
            raise UnsafeScratch(f"{path} cannot be made private (mode 0700)")
    return path


def root(platform) -> Path:
    """``<data_dir>/tmp/streaming``, created mode 0700 and checked to be private."""
    base = Path(platform.settings.data_dir)
    _private_dir(base / "tmp")
    return _private_dir(base / "tmp" / "streaming")


class Scratch:
    """One private working directory (mode 0700), locked while in use; ``close()`` removes it."""

    def __init__(self, platform, kind: str):
        self.path = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=root(platform)))  # mkdtemp: mode 0700
        # the lock file appears under its name already locked (a sweep never sees it unlocked)
        self._fd: int | None = os.open(self.path / (LOCK + ".new"), os.O_CREAT | os.O_RDWR, 0o600)
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.rename(self.path / (LOCK + ".new"), self.path / LOCK)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is None:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._fd)  # the lock goes last: a sweep never races the removal
        self._fd = None


def sweep(platform) -> int:
    """Remove what dead processes left in the scratch space. Returns the entries removed."""
    base = root(platform)
    removed = 0
    for entry in base.iterdir():
        try:
            if entry.is_symlink() or not entry.is_dir():
                entry.unlink(missing_ok=True)
                removed += 1
                continue
            try:
                fd = os.open(entry / LOCK, os.O_RDWR)
            except FileNotFoundError:
                if time.time() - entry.stat().st_mtime < UNLOCKED_GRACE_SECONDS:
                    continue  # being created right now
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
                continue
            try:
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # a live job's
                elif time.time() - entry.stat().st_mtime < 24 * 3600:
                    continue
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
            finally:
                os.close(fd)
        except OSError:
            log.warning("could not sweep %s", entry, exc_info=True)
    if removed:
        log.info("removed %d leftover scratch director%s from %s", removed, "y" if removed == 1 else "ies", base)
    return removed

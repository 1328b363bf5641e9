"""HTTP routes of the streaming plugin (mounted at /api/v1/streaming), one module per purpose:
uploads (and audio replacement), track detail (with preview and waveform), downloads, and
plays. (The fast routes, master, variant and key, live in ``playback``; the core generates their
FastAPI copies.) They all add their routes
to the one ``router`` of ``common``, in this order."""
from __future__ import annotations

from . import uploads, detail, downloads, plays  # noqa: F401,I001 (the order routes are added in)
from .common import router

__all__ = ["router"]

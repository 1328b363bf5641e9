"""The coop plugin's periodic job: proposals past their deadline, notice periods, dissolutions."""
from __future__ import annotations

from musicconnect import JobSpec


def _sweep(ctx):
    from .governance import sweep

    return {"changed": sweep(ctx.platform)}


JOBS = [JobSpec("sweep", _sweep, max_retries=1, every_seconds=60)]

"""The co-op in the web app (docs/coop.md, "The co-op in the web app"): the public co-op page at
``/coop/<slug>``, the promotion slot in the artist page's ``artist`` slot and in the fan club
feed's ``feed`` slot, and the members' studio page ``/studio/coop``. ES modules in ``web/``, served by the web plugin."""
from __future__ import annotations

from pathlib import Path


def web_extensions(platform):
    return [{"kind": "assets", "directory": str(Path(__file__).parent / "web")},
            {"kind": "page", "path": "/coop", "module": "coop.js"},
            {"kind": "component", "slot": "artist", "module": "promo.js"},
            {"kind": "component", "slot": "feed", "module": "feedpromo.js"},
            {"kind": "page", "path": "/studio/coop", "module": "studio.js", "title": "Co-ops",
             "audience": "artists"}]

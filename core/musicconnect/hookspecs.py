"""The core's contract with plugins: every hook a plugin may implement.

Conventions
-----------
* Every hook takes ``platform`` (:class:`musicconnect.platform.Platform`) first.
* ``register_*`` hooks collect: each plugin returns a value or a list, the core gathers them
  and remembers which plugin gave what.
* ``on_*`` hooks are notifications: called one implementation at a time, after the change has
  committed; an exception is logged and isolated, never seen by the caller.
* ``check_access`` fails closed: an exception counts as a deny.
* Any hook may return an awaitable; the core awaits it (async plugins never block the loop).
* Specs may gain arguments in later versions, never lose them; implement only the arguments
  you need (pluggy passes by name).
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("musicconnect")


# --------------------------------------------------------------------------- extension points

@hookspec
def register_routes(platform):
    """Return a FastAPI ``APIRouter`` (or a list of them) for this plugin.

    Mounted at ``/api/v1/<plugin>`` with the plugin id as OpenAPI tag. While the plugin is
    disabled its routes answer 404 problem+json.
    """


@hookspec
def register_fast_routes(platform):
    """Return a list of :class:`musicconnect.fastpath.FastRoute` for this plugin's hottest
    endpoints (keys, playlists, segments). They are matched by exact template before FastAPI runs
    (no dependency injection, no middleware stack); handlers are ``async``, must not block, and
    raise ``Problem`` for errors. Declare the same endpoint in ``register_routes`` too, so that
    OpenAPI documents it. Paths are absolute; use ``/api/v1/<plugin>/...``.
    """


@hookspec
def register_commands(platform):
    """Return a ``typer.Typer`` app; it appears as ``musicconnect <plugin> ...``.

    ``platform`` is lazy here: touching ``platform.db`` connects, so only do it inside commands.
    """


@hookspec
def register_jobs(platform):
    """Return a list of :class:`musicconnect.contracts.JobSpec` this plugin runs in the background.

    The core binds them to its dramatiq broker as actors ``<plugin>.<name>`` on queue
    ``mc.<plugin>``; enqueue with ``platform.jobs.enqueue("<plugin>.<name>", ...)``.
    """


@hookspec
def register_migrations(platform):
    """Return the directory holding this plugin's Alembic revisions.

    Each plugin has its own history and version table ``alembic_version_<plugin>``; its tables
    are declared on :class:`musicconnect.db.Base` and may reference core tables, never another
    plugin's. ``musicconnect db upgrade`` runs the core first, then each enabled plugin.
    """


@hookspec
def register_scopes(platform):
    """Return ``{"area:verb": "what it allows", ...}``: the scopes this plugin's routes declare
    (``musicconnect.web.scope``), so personal API tokens can be given them. Collected; listed by
    ``GET /api/v1/scopes``; a token asking for a scope nobody declares is refused.
    """


@hookspec
def register_perks(platform):
    """Return ``{"perk_name": "what it gives and its value type"}``: the tier perks this plugin
    honours. Collected; a tier may only carry perks some enabled plugin declares (422
    ``unknown-perk`` otherwise); ``validate_perks`` then checks their values.
    """


@hookspec
def register_settings(platform):
    """Return a pydantic model class (usually ``musicconnect.PluginSettings``) for this plugin.

    Values come from ``MC_<PLUGIN>_<FIELD>`` variables, ``[plugins.<plugin>]`` in the TOML file and
    ``musicconnect plugins config``; validated when the plugin is enabled or configured. Read them
    with ``platform.plugin_settings("<plugin>")``.
    """


@hookspec
def on_startup(platform):
    """Called once when an API or worker process starts, after plugins are loaded."""


@hookspec
def on_shutdown(platform):
    """Called once when an API or worker process stops."""


@hookspec
def seed_demo(platform, session, demo):
    """Add this plugin's demo data. ``demo`` holds the seeded ``artist`` and ``fan`` users, the
    ``artist_profile`` and ``tiers`` (by key). Must be idempotent: called again on a seeded database.
    """


# --------------------------------------------------------------------------- content

@hookspec
def register_content_kinds(platform):
    """Return a list of :class:`musicconnect.contracts.ContentKind` this plugin offers.

    A content kind name belongs to one plugin; a second plugin claiming it is a load error.
    """


@hookspec
def on_content_created(platform, item):
    """A content item (``musicconnect.models.ContentItem``) was created. Notification."""


@hookspec
def on_content_published(platform, item):
    """A content item became ``ready`` (playable / readable). Notification."""


@hookspec
def on_content_updated(platform, item, changes):
    """A content item changed; ``changes`` maps field name to ``(old, new)``. Notification."""


@hookspec
def on_content_taken_down(platform, item, reason):
    """A content item was taken down: stop serving anything derived from it at once. Notification."""


@hookspec
def on_content_deleted(platform, item):
    """A content item is deleted (row already gone): clean up files and rows. Notification."""


@hookspec
def serialize_content(platform, item, viewer):
    """Return a dict of extra fields for ``item`` as seen by ``viewer`` (an ``Actor`` or ``None``),
    or ``None``. Results of all plugins are merged into the item's ``extra`` object."""


# --------------------------------------------------------------------------- access

@hookspec
def check_access(platform, actor, action, resource, context):
    """Vote on whether ``actor`` (``Actor`` or ``None`` for anonymous) may ``action``
    (``"view"``, ``"stream"``, ``"download"``, ``"comment"``...) on ``resource`` (``Resource``).

    Return ``Vote.ALLOW``, ``Vote.DENY`` or ``None`` (abstain). ``context`` (``AccessContext``)
    holds the actor's entitlements for the artist, the artist's tiers and the current time, so
    implementations need no I/O. Combination: any deny wins; otherwise at least one allow is
    needed; an exception counts as a deny.
    """


@hookspec
def extra_entitlements(platform, user_id, artist_id):
    """Return ``EntitlementInfo`` objects the user holds for the artist outside the core's
    entitlements table (e.g. a token held on a chain). Merged with the stored ones."""


@hookspec
def on_entitlement_changed(platform, entitlement, change):
    """An entitlement was granted, changed or revoked; ``change`` is ``"granted"``,
    ``"updated"`` or ``"revoked"`` and ``entitlement`` an ``EntitlementInfo``. Notification."""


@hookspec
def validate_perks(platform, rank, perks):
    """Check a tier's perks before they are saved (tier create / edit). Return an error message
    (or a list of them) for a configuration this plugin cannot honour, or ``None``. Any message
    rejects the change with 422 ``invalid-perks``."""


# --------------------------------------------------------------------------- payment

@hookspec
def register_payment_providers(platform):
    """Return a list of payment providers (see ``contracts.PaymentProvider``).

    Payments are dispatched to exactly one provider by its ``id``.
    """


@hookspec
def on_payment_event(platform, event):
    """A normalised subscription / payment fact (``PaymentEvent``) happened. Notification."""


@hookspec
def revenue_shares(platform, artist_id, amount, currency):
    """Return a list of ``RevenueShare`` slices this plugin takes from a payment of ``amount``
    (platform fee, co-op split...). All plugins' slices are collected; the artist keeps the rest."""


# --------------------------------------------------------------------------- analytics

@hookspec
def on_event(platform, event):
    """Every domain event (a ``musicconnect.events.Event``) after its transaction committed.

    The core's own sink has already written it to the events table. Notification.
    """


@hookspec
def register_metrics(platform):
    """Return a list of :class:`musicconnect.contracts.Metric` that artists' dashboards list
    and compute. Metric ids are global; prefer names like ``plays_30d``."""

"""The core's contract with plugins: every hook a plugin may implement.

Conventions
-----------
* Every hook takes ``platform`` (:class:`musicconnect.platform.Platform`) first.
* Every spec declares, in one place (its ``@spec(...)`` line), how the core calls it and what a
  failing implementation does; the declaration is appended to the spec's docstring and is what
  :class:`musicconnect.plugins.PluginRegistry` dispatches on. Calling conventions:

  - ``collect`` (``register_*``): every implementation answers; lists are flattened, ``None``
    dropped, and each item keeps the plugin it came from.
  - ``notify`` (``on_*``, ``seed_demo``): every implementation runs, for its side effects.
  - ``vote`` (``check_access``): every implementation votes; the caller combines the votes.
  - ``merge`` (``serialize_content``, ``extra_entitlements``): the answers make one value
    (dicts merged, the first in call order winning a key; sequences concatenated).
  - ``first-result``: pluggy's ``firstresult``: the call stops at the first non-``None`` answer.
    ``generate_text`` (a plugin's text generator takes over from the default).

  Failure policies (what an exception raised by one implementation does):

  - ``isolate``: logged with the plugin's name; that implementation contributes nothing, the
    others still run and the caller never sees the exception.
  - ``closed``: the call stops and raises :class:`musicconnect.plugins.HookFailed` (a 500
    ``plugin-failed`` problem), so the operation is refused and its transaction rolled back:
    money and validation hooks (``validate_perks``, ``revenue_shares``).
  - ``quarantine``: the plugin's implementations of the hook are switched off in this process
    (an ERROR log line, ``plugins list``, ``GET /api/v1/plugins`` and ``/readyz`` say so) and the
    others still count; a re-enable or a restart lifts it (``check_access``).

* Ordering, wrappers and ``firstresult`` are pluggy's: the core calls ``pm.hook.<name>(...)``.
  Later-registered implementations run first; ``tryfirst`` / ``trylast`` move one; ``wrapper=True``
  (and old-style ``hookwrapper=True``) implementations wrap the call and may change the result.
* Any hook may return an awaitable; the core awaits it (async plugins never block the loop).
* Specs may gain arguments in later versions, never lose them; implement only the arguments
  you need (pluggy passes by name).
"""
from __future__ import annotations

import enum
import sys
from dataclasses import dataclass
from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("musicconnect")

#: attribute holding a spec's :class:`Calling` declaration
CALLING_ATTR = "musicconnect_calling"


class Convention(str, enum.Enum):
    COLLECT = "collect"
    NOTIFY = "notify"
    VOTE = "vote"
    MERGE = "merge"
    FIRST_RESULT = "first-result"


class Failure(str, enum.Enum):
    ISOLATE = "isolate"
    CLOSED = "closed"
    QUARANTINE = "quarantine"


COLLECT, NOTIFY, VOTE, MERGE, FIRST_RESULT = Convention
ISOLATE, CLOSED, QUARANTINE = Failure

_SAYS = {
    COLLECT: "every implementation answers; lists are flattened, ``None`` dropped, each item keeps its plugin",
    NOTIFY: "every implementation runs",
    VOTE: "every implementation votes; the caller combines the votes",
    MERGE: "the answers are merged into one value",
    FIRST_RESULT: "the call stops at the first implementation that answers (not ``None``)",
    ISOLATE: "an exception is logged and that plugin contributes nothing",
    CLOSED: "an exception stops the operation (500 ``plugin-failed``; nothing is saved)",
    QUARANTINE: "an exception quarantines the plugin's implementation in this process "
                "(logged, shown by ``plugins list``, ``GET /api/v1/plugins`` and ``/readyz``); the others still count",
}


@dataclass(frozen=True)
class Calling:
    """How the core calls one hook: its convention and its failure policy (``merged``: the type
    a ``merge`` hook's answers make, ``dict`` or ``tuple``)."""

    convention: Convention
    failure: Failure
    merged: type | None = None

    def describe(self) -> str:
        merged = f" into a {self.merged.__name__}" if self.merged else ""
        return (f"Called as **{self.convention.value}**{merged}: {_SAYS[self.convention]}. "
                f"Failure policy **{self.failure.value}**: {_SAYS[self.failure]}.")


def spec(convention: Convention | str, failure: Failure | str = ISOLATE, *,
         merged: type | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a hook spec with its calling convention and failure policy (the one place both
    are stated). ``first-result`` specs become pluggy ``firstresult`` specs."""
    calling = Calling(Convention(convention), Failure(failure), merged)
    if (calling.convention is MERGE) != (merged is not None) or merged not in (None, dict, tuple):
        raise TypeError("merge hooks (and only they) declare merged=dict or merged=tuple")
    if calling.failure is QUARANTINE and calling.convention is not VOTE:
        raise TypeError("only vote hooks can quarantine (their callers combine what is left)")

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, CALLING_ATTR, calling)
        doc = (fn.__doc__ or "").rstrip()
        fn.__doc__ = f"{doc}\n\n    {calling.describe()}\n"
        return hookspec(firstresult=calling.convention is FIRST_RESULT)(fn)
    return mark


def declarations(namespace: Any) -> dict[str, Calling]:
    """``{hook: Calling}`` for every spec in ``namespace`` (a module or class of specs); a spec
    without a declaration is an error (each spec says how it is called)."""
    out: dict[str, Calling] = {}
    for name in dir(namespace):
        fn = getattr(namespace, name, None)
        if getattr(fn, "musicconnect_spec", None) is None:
            continue
        calling = getattr(fn, CALLING_ATTR, None)
        if not isinstance(calling, Calling):
            raise TypeError(f"hook spec {name} declares no calling convention: decorate it with "
                            f"@spec(convention, failure) instead of @hookspec")
        out[name] = calling
    return out


# --------------------------------------------------------------------------- extension points

@spec(COLLECT)
def register_routes(platform):
    """Return a FastAPI ``APIRouter`` (or a list of them) for this plugin.

    Mounted at ``/api/v1/<plugin>`` with the plugin id as OpenAPI tag. While the plugin is
    disabled its routes answer 404 problem+json.
    """


@spec(COLLECT)
def register_fast_routes(platform):
    """Return a list of :class:`musicconnect.fastpath.FastRoute` for this plugin's hottest
    endpoints (keys, playlists, segments). They are matched by exact template before FastAPI runs
    (no dependency injection, no middleware stack); handlers are ``async``, must not block, and
    raise ``Problem`` for errors. Declare the same endpoint in ``register_routes`` too, so that
    OpenAPI documents it. Paths are absolute; use ``/api/v1/<plugin>/...``.
    """


@spec(COLLECT)
def register_site_routes(platform):
    """Return an ``APIRouter`` (or a list) mounted at the site root instead of ``/api/v1/<plugin>``:
    pages and files a browser asks for by a fixed address (the web app's ``/``, ``/sw.js``).
    Mounted after the core's routes, so it never shadows them; a route under ``/api/`` is refused
    (logged, not mounted). Declare scopes as usual; while the plugin is disabled they answer 404.
    """


@spec(COLLECT)
def register_socket_routes(platform):
    """Return a list of :class:`musicconnect.realtime.SocketRoute`: this plugin's WebSocket
    endpoints (absolute paths, ``/api/v1/<plugin>/...``). Each declares its ``scope`` like an HTTP
    route (a route without one is not mounted); handlers are ``async def handler(sock)`` and the
    socket closes when they return. While the plugin is disabled its sockets are refused (close
    4404 ``plugin-disabled``). See docs/plugins.md, "Real-time sockets".
    """


@spec(COLLECT)
def register_commands(platform):
    """Return a ``typer.Typer`` app; it appears as ``musicconnect <plugin> ...``, or under the
    name the app was given (``typer.Typer(name="gdpr")``) when no core command or other plugin
    has it. A plugin may return several apps.

    ``platform`` is lazy here: touching ``platform.db`` connects, so only do it inside commands.
    """


@spec(COLLECT)
def register_jobs(platform):
    """Return a list of :class:`musicconnect.contracts.JobSpec` this plugin runs in the background.

    The core binds them to its dramatiq broker as actors ``<plugin>.<name>`` on queue
    ``mc.<plugin>``; enqueue with ``platform.jobs.enqueue("<plugin>.<name>", ...)``.
    """


@spec(COLLECT)
def register_migrations(platform):
    """Return the directory holding this plugin's Alembic revisions.

    Each plugin has its own history and version table ``alembic_version_<plugin>``; its tables
    are declared on :class:`musicconnect.db.Base` and may reference core tables, never another
    plugin's. ``musicconnect db upgrade`` runs the core first, then each enabled plugin.
    """


@spec(COLLECT)
def register_scopes(platform):
    """Return ``{"area:verb": "what it allows", ...}``: the scopes this plugin's routes declare
    (``musicconnect.web.scope``), so personal API tokens can be given them. Collected; listed by
    ``GET /api/v1/scopes``; a token asking for a scope nobody declares is refused.
    """


@spec(COLLECT)
def register_perks(platform):
    """Return ``{"perk_name": PerkSpec(type, "what it gives", min=..., max=...)}``: the tier perks
    this plugin honours, with their value type and limits (a plain description string is still
    accepted and allows any value). Collected; a tier may only carry perks some enabled plugin
    declares (422 ``unknown-perk``), with values that fit the spec (422 ``invalid-perks``);
    ``validate_perks`` then checks what a spec cannot say. ``GET /api/v1/perks`` lists them.
    """


@spec(COLLECT)
def register_settings(platform):
    """Return a pydantic model class (usually ``musicconnect.PluginSettings``) for this plugin.

    Values come from ``MC_<PLUGIN>_<FIELD>`` variables, ``[plugins.<plugin>]`` in the TOML file and
    ``musicconnect plugins config``; validated when the plugin is enabled or configured. Read them
    with ``platform.plugin_settings("<plugin>")``.
    """


@spec(COLLECT, CLOSED)
def register_state_files(platform):
    """Return the files (paths relative to ``settings.data_dir``, e.g. ``"nft-chain.sqlite"``)
    that hold this plugin's durable state besides the database and the storage, existing now:
    ``musicconnect backup`` copies them (a SQLite file through its online backup API, so one in
    use is copied consistently) and ``restore`` puts them back. An absolute path, ``..`` or a
    link leading out of the data dir refuses the backup; so does an exception (a backup never
    silently lacks a plugin's state).
    """


@spec(NOTIFY)
def on_startup(platform):
    """Called once when an API or worker process starts, after plugins are loaded."""


@spec(NOTIFY)
def on_shutdown(platform):
    """Called once when an API or worker process stops."""


@spec(NOTIFY)
def seed_demo(platform, session, demo):
    """Add this plugin's demo data. ``demo`` holds the seeded ``artist`` and ``fan`` users, the
    ``artist_profile`` and ``tiers`` (by key). Must be idempotent: called again on a seeded database.
    """


# --------------------------------------------------------------------------- content

@spec(COLLECT)
def register_content_kinds(platform):
    """Return a list of :class:`musicconnect.contracts.ContentKind` this plugin offers.

    A content kind name belongs to one plugin; a second plugin claiming it is a load error.
    """


@spec(NOTIFY)
def on_content_created(platform, item):
    """A content item (``musicconnect.models.ContentItem``) was created. Notification."""


@spec(NOTIFY)
def on_content_published(platform, item):
    """A content item became ``ready`` (playable / readable). Notification."""


@spec(NOTIFY)
def on_content_updated(platform, item, changes):
    """A content item changed; ``changes`` maps field name to ``(old, new)``. Notification."""


@spec(NOTIFY)
def on_content_taken_down(platform, item, reason):
    """A content item was taken down: stop serving anything derived from it at once. Notification."""


@spec(NOTIFY)
def on_content_deleted(platform, item):
    """A content item is deleted (row already gone): clean up files and rows. Notification."""


@spec(MERGE, merged=dict)
def serialize_content(platform, item, viewer):
    """Return a dict of extra fields for ``item`` as seen by ``viewer`` (an ``Actor`` or ``None``),
    or ``None``. Results of all plugins are merged into the item's ``extra`` object (a key two
    plugins give: the first in call order wins)."""


# --------------------------------------------------------------------------- access

@spec(VOTE, QUARANTINE)
def check_access(platform, actor, action, resource, context):
    """Vote on whether ``actor`` (``Actor`` or ``None`` for anonymous) may ``action``
    (``"view"``, ``"stream"``, ``"download"``, ``"comment"``...) on ``resource`` (``Resource``).

    Return ``Verdict.allow(reason)``, ``Verdict.deny(reason, problem="slug", **details)``,
    ``None`` (abstain) or a bare ``Vote``; the deciding rule's reason and problem type reach the
    client. The core's own rule (owners, admins, ``publish_at``, the tier rank rule) votes as
    ``core``; plugins add rules. ``context`` (``AccessContext``)
    holds the actor's entitlements for the artist, the artist's tiers and the current time, so
    implementations need no I/O. Combination: any deny wins; otherwise at least one allow is
    needed. A plugin whose ``check_access`` raises is quarantined (its votes are dropped from then
    on in this process) rather than denying everyone: owners, admins and the other plugins' rules
    keep working.
    """


@spec(MERGE, merged=tuple)
def extra_entitlements(platform, user_id, artist_id):
    """Return ``EntitlementInfo`` objects the user holds for the artist outside the core's
    entitlements table (e.g. a token held on a chain). Merged with the stored ones."""


@spec(NOTIFY)
def on_entitlement_changed(platform, entitlement, change):
    """An entitlement was granted, changed or revoked; ``change`` is ``"granted"``,
    ``"updated"`` or ``"revoked"`` and ``entitlement`` an ``EntitlementInfo``. Notification."""


@spec(COLLECT, CLOSED)
def validate_perks(platform, rank, perks):
    """Check a tier's perks before they are saved (tier create / edit). Return an error message
    (or a list of them) for a configuration this plugin cannot honour, or ``None``. Any message
    rejects the change with 422 ``invalid-perks``; an exception refuses it too (500
    ``plugin-failed``), so perks nobody could check are never saved."""


# --------------------------------------------------------------------------- payment

@spec(COLLECT)
def register_payment_providers(platform):
    """Return a list of payment providers (see ``contracts.PaymentProvider``).

    Payments are dispatched to exactly one provider by its ``id``.
    """


@spec(NOTIFY)
def on_payment_event(platform, event):
    """A normalised subscription / payment fact (``PaymentEvent``) happened. Notification."""


@spec(COLLECT, CLOSED)
def revenue_shares(platform, artist_id, amount, currency, payment):
    """Return a list of ``RevenueShare`` slices this plugin takes from a payment of ``amount``
    (platform fee, co-op split...). All plugins' slices are collected; the artist keeps the rest.
    An exception stops the payment from being recorded (it is retried later) instead of recording
    it without this plugin's slice.

    ``payment`` is the ``PaymentContext`` being recorded (provider, external_id, user, tier, paid
    period), or ``None`` for a preview (a checkout asking whether any slice has a payee). A slice
    with ``payee_artist_id`` is paid out to that artist by the plugin that took it."""


@spec(COLLECT, CLOSED)
def distribute_net(platform, artist_id, net, currency, payment):
    """Pay what an artist keeps to payees: called by ``platform.payments.split`` after every
    plugin's ``revenue_shares`` (the fees come first), with ``net`` = the amount less those
    shares. A plugin that answers for ``artist_id`` (a co-op's account: its members) returns
    ``RevenueShare`` slices that all have a ``payee_artist_id`` and sum to at most ``net``
    (exactly ``net`` for a co-op); others return ``[]``. ``payment`` is the ``PaymentContext``
    (``None`` for a preview: the payees shown make the provider charge on the platform).
    More than one plugin answering for one artist, a slice without a payee, a negative slice or
    a sum above ``net`` is a ``SplitError``; an exception stops the payment from being recorded
    (it is retried later)."""


# --------------------------------------------------------------------------- analytics

@spec(NOTIFY)
def on_event(platform, event):
    """Every domain event (a ``musicconnect.events.Event``) after its transaction committed.

    The core's own sink has already written it to the events table. Notification.
    """


@spec(COLLECT)
def register_metrics(platform):
    """Return a list of :class:`musicconnect.contracts.Metric` that artists' dashboards list
    and compute. Metric ids are global; prefer names like ``plays_30d``."""



# --------------------------------------------------------------------------- notifications

@spec(COLLECT)
def register_notification_kinds(platform):
    """Return a list of :class:`musicconnect.contracts.NotificationKind`: the notifications this
    plugin's domain events produce (trigger event type, template, who receives it, default
    channels, digestible or not). A notifications plugin reads them (``platform.notification_kinds()``)
    and never imports the plugin that declares them. Kind ids are global; prefer ``<plugin>.<what>``.
    """


@spec(COLLECT)
def audience_members(platform, artist_id, audience):
    """Return the user ids of ``audience`` of the artist ``artist_id`` (an iterable), or ``None``
    for an audience this plugin does not know. Audiences are strings: ``"followers"`` (a plugin
    that keeps follows), ``"members"`` (any current entitlement) and ``"tier:N"`` (a current
    entitlement of rank N or above; both answered by the core), ``"played:<content id>"`` and
    others added by plugins (analytics segments). The answers are united
    (``platform.audience_members(artist_id, audience)``).
    """


# --------------------------------------------------------------------------- web app

@spec(COLLECT)
def web_extensions(platform):
    """Return dicts declaring this plugin's screens in the web app (docs/web.md): ``{"kind":
    "page", "path": "/discover", "module": "discover.js", "title": "Discover"}`` (a client route
    whose ES module default-exports a Preact component), ``{"kind": "nav", "path", "title"}`` (a
    navigation link), ``{"kind": "component", "slot": "artist", "module"}`` (rendered in a named
    slot of a core screen) and ``{"kind": "assets", "directory": <path>}`` (a folder of ES modules,
    served under ``/static/ext/<plugin>/<digest>/``; a relative ``module`` is resolved there).
    ``"audience": "artists"`` on a page or nav entry shows its link only to signed-in artists, in
    the studio menu (default ``"everyone"``); the page's API still decides who may use it.
    """


# --------------------------------------------------------------------------- text generation

@spec(FIRST_RESULT)
def generate_text(platform, purpose, context):
    """Return the text of a short social-media post, or ``None`` to leave it to the next
    generator (the AI plugin's post drafts ask; its deterministic template is the default).
    ``purpose`` is ``"release"``, ``"milestone"`` or ``"party"``; ``context`` is a dict of facts
    the server established (``network``: ``x``, ``bluesky``, ``mastodon`` or ``instagram``;
    ``limit`` and ``counting``: the network's length rule; ``artist``, ``title``, ``link``,
    ``hashtags``, ``note`` and per-purpose figures). A local or hosted model may plug in here;
    text over the limit is shortened by the caller.
    """


# --------------------------------------------------------------------------- privacy and trust

@spec(COLLECT, CLOSED)
def export_user_data(platform, session, user):
    """Return this plugin's part of ``user``'s data export (GDPR Art. 15 and 20) as a
    ``musicconnect.contracts.ExportPart`` (JSON-able records by kind, files, notes), or ``None``
    when it holds nothing about them. ``user`` is the core's ``User`` row; read in ``session``.
    An export that would miss a part is not an export: a failure stops it.
    """


@spec(COLLECT, CLOSED)
def erase_user_data(platform, session, user):
    """Erase or anonymise every row this plugin holds about ``user`` (GDPR Art. 17) in
    ``session`` (one transaction across all plugins: a failure rolls every part back) and return
    a ``musicconnect.contracts.ErasureReport``: counts, the records kept and why (``Retained``:
    e.g. invoices for tax law), and the storage objects to delete after the commit. Aggregates
    that name nobody may stay. The core's own implementation runs last (it deletes the user).
    """


@spec(COLLECT)
def screen_audio(platform, session, item, audio_path):
    """Screen the audio of an upload before it is published (e.g. an audio fingerprint matched
    against other artists' tracks): return a ``musicconnect.contracts.Screening`` or ``None``.
    ``item`` is the content row, ``audio_path`` a local file of the decoded upload. The plugin
    that ingests audio calls it (``platform.screen_audio``) and honours the strictest verdict:
    ``block`` fails the upload with the reason, ``review`` holds it unpublished for a moderator.
    """


@spec(COLLECT)
def screen_activity(platform, kind, actor_id, context):
    """Screen one act of a person before it counts: ``kind`` names it (``play.counted``,
    ``dm.sent``, ``chat.sent``, ``comment.created``, ``account.created``), ``actor_id`` who did
    it (``None`` if anonymous), ``context`` a dict of facts the server established (address,
    artist_id, content_id, ...). Return a ``musicconnect.contracts.Screening`` or ``None``; the
    caller (``platform.screen_activity``) honours the strictest: ``flag`` lets it through but
    it is left out of counts (a flagged play is not counted), ``limit`` / ``block`` refuse it.
    Called on hot paths: answer from memory or a cache, never a slow query.
    """


#: ``{hook: Calling}`` for every core hook (the table the registry dispatches on)
CALLING = declarations(sys.modules[__name__])

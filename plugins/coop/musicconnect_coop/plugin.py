"""Hook implementations of the coop plugin (the entry point).

The feature modules in :data:`FEATURES` contribute ``router``, ``JOBS``, ``SETTINGS``,
``on_event``... through :func:`musicconnect.feature_hooks` (a missing module is skipped); hooks
that are not lists (privacy) are delegated to the module named in :data:`DELEGATED`."""
from __future__ import annotations

from musicconnect import feature_hooks

FEATURES = ("models", "ledger_models", "settings", "accounts", "governance", "splits", "ledger",
            "jobs", "page", "privacy", "api", "promo_models", "promo", "audience",
            "bundle_models", "bundles", "payouts", "sell_api")

SCOPES = {
    "coop:read": "see your co-ops, their members, proposals and votes",
    "coop:write": "found a co-op, invite, accept, propose, vote, leave",
}

#: hook name -> feature module that implements it (under the same name)
DELEGATED = {
    "export_user_data": "privacy",
    "erase_user_data": "privacy",
    "extra_entitlements": "bundles",
    "on_entitlement_changed": "bundles",
    "distribute_net": "payouts",
    "on_payment_event": "payouts",
    "web_extensions": "web",
}

globals().update(feature_hooks(__package__, FEATURES, scopes=SCOPES, delegated=DELEGATED))

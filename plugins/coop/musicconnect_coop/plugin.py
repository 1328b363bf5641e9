"""Hook implementations of the coop plugin (the entry point).

The feature modules in :data:`FEATURES` contribute ``router``, ``JOBS``, ``SETTINGS``,
``on_event``... through :func:`musicconnect.feature_hooks` (a missing module is skipped); hooks
that are not lists (privacy) are delegated to the module named in :data:`DELEGATED`."""
from __future__ import annotations

import importlib

from musicconnect import feature_hooks, hookimpl

FEATURES = ("models", "ledger_models", "settings", "accounts", "governance", "splits", "ledger",
            "jobs", "page", "privacy", "api", "promo_models", "promo", "audience",
            "bundle_models", "bundles", "payouts", "sell_api")

SCOPES = {
    "coop:read": "see your co-ops, their members, proposals and votes",
    "coop:write": "found a co-op, invite, accept, propose, vote, leave",
}

globals().update(feature_hooks(__package__, FEATURES, scopes=SCOPES))

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


def _delegate(hook_name: str, module_name: str) -> None:
    try:
        mod = importlib.import_module(f"{__package__}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{module_name}":
            raise
        return
    fn = getattr(mod, hook_name, None)
    if fn is None:
        return
    fn.__module__ = __name__
    globals()[hook_name] = hookimpl(fn)


for _hook, _module in DELEGATED.items():
    _delegate(_hook, _module)

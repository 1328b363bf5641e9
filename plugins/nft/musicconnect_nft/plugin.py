"""Hook implementations of the nft plugin (the entry point).

The feature modules in :data:`FEATURES` contribute ``router``, ``JOBS``, ``SETTINGS``,
``on_event``... through :func:`musicconnect.feature_hooks`; hooks that are not lists
(``extra_entitlements``, ``register_perks``, privacy) are delegated to the module named in
:data:`DELEGATED` when it defines a function of that name."""
from __future__ import annotations

from musicconnect import feature_hooks

FEATURES = ("models", "settings", "chain", "wallets", "criteria", "minting", "privacy",
            "siwe", "credentials", "status", "metadata", "perks", "api")

SCOPES = {
    "nft:read": "read your fan tokens, wallets and credentials",
    "nft:write": "link a wallet, manage your artist's collections and criteria",
}

#: hook name -> feature module that implements it (under the same name)
DELEGATED = {
    "extra_entitlements": "perks",
    "register_perks": "perks",
    "check_access": "perks",
    "export_user_data": "privacy",
    "erase_user_data": "privacy",
    "web_extensions": "api",
    "register_site_routes": "api",
    "register_state_files": "chain",
}

globals().update(feature_hooks(__package__, FEATURES, scopes=SCOPES, delegated=DELEGATED))

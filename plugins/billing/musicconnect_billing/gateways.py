"""Provider gateways by id: the calls the state machine makes to read a provider's truth."""
from __future__ import annotations

from typing import Any

from musicconnect import Problem


class StripeReader:
    def __init__(self, platform):
        from .stripe_gateway import StripeGateway

        self.api = StripeGateway(platform.plugin_settings("billing"))

    def fetch_subscription(self, sub_id: str, session=None) -> dict[str, Any]:
        return self.api.fetch_subscription(sub_id)

    def fetch_account(self, account_id: str, session=None) -> dict[str, Any]:
        return self.api.fetch_account(account_id)

    def charge_fee(self, ref: str) -> int | None:
        return self.api.charge_fee(ref)


def gateway(platform, provider: str):
    if provider == "stripe":
        return StripeReader(platform)
    if provider == "sandbox":
        from .sandbox import SandboxReader

        return SandboxReader(platform)
    raise Problem(404, "unknown-payment-provider", f"billing has no provider {provider!r}")

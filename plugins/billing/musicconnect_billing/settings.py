"""Billing settings (``[plugins.billing]`` in the config file, ``MC_BILLING_*`` in the environment)."""
from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr

from musicconnect import PluginSettings


class BillingSettings(PluginSettings):
    stripe_secret_key: SecretStr | None = Field(
        default=None, description="Stripe secret key (environment only); without it (and without the sandbox) "
                                  "the platform takes no payments")
    stripe_webhook_secrets: SecretStr | None = Field(
        default=None, description="webhook endpoint secrets, comma-separated: several are accepted during rotation")
    stripe_api_base: str | None = Field(default=None, description="another Stripe API address (tests, proxies)")
    stripe_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    platform_fee_percent: Decimal = Field(default=Decimal("10"), ge=0, le=100, decimal_places=2,
                                          description="the platform's application fee; artists may have an override")
    connect_country: str = Field(default="US", min_length=2, max_length=2)
    downgrade_at: Literal["period_end", "immediately"] = Field(
        default="period_end", description="when a downgrade takes the higher tier away (upgrades apply at once)")
    past_due_grace_days: int = Field(default=7, ge=0, le=60, description="access kept while a renewal is retried")
    renewal_leeway_hours: int = Field(default=24, ge=0, le=168, description="access kept past a period end while "
                                                                            "the renewal invoice is paid")
    sandbox: bool = Field(default=False, description="offer the offline sandbox provider, which grants paid tiers "
                                                      "without money (demos, tests; serve --demo turns it on); "
                                                      "never in production")
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)

    def webhook_secrets(self) -> list[str]:
        raw = self.stripe_webhook_secrets.get_secret_value() if self.stripe_webhook_secrets else ""
        return [s.strip() for s in raw.split(",") if s.strip()]

    @property
    def stripe_enabled(self) -> bool:
        return self.stripe_secret_key is not None and bool(self.stripe_secret_key.get_secret_value())

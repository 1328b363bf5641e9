"""The payment providers billing registers (``register_payment_providers``): Stripe, and the
offline sandbox. Anything that acts for a provider id asks the core's registry
(``platform.payments.provider(id)``), not this module: it only says which of billing's own
providers are on."""
from __future__ import annotations

from .sandbox_provider import SandboxProvider
from .stripe_provider import StripeProvider

STRIPE, SANDBOX = StripeProvider(), SandboxProvider()
OWN = (STRIPE.id, SANDBOX.id)  # billing's own: their events go through billing's ledger and state machine


def sandbox_on(platform, settings=None) -> bool:
    """The sandbox gives paid tiers away for nothing, so it runs only when asked for: the billing
    setting ``sandbox = true`` (``MC_BILLING_SANDBOX=true``, which ``serve --demo`` sets), and
    never in production. A platform without a Stripe key and without it takes no payments."""
    settings = settings or platform.plugin_settings("billing")
    return bool(settings.sandbox) and not platform.settings.is_production


def enabled(platform) -> list:
    settings = platform.plugin_settings("billing")
    out = []
    if settings.stripe_enabled:
        out.append(STRIPE)
    if sandbox_on(platform, settings):
        out.append(SANDBOX)
    return out

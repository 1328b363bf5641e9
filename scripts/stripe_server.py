"""A Stripe-API test server for the billing tests: localstripe, plus the endpoints it lacks.

Usage: ``python scripts/stripe_server.py --port N`` (binds 127.0.0.1 only, state in memory).

localstripe (PyPI) speaks a large part of Stripe's API over real HTTP. The billing plugin also
needs Prices, Checkout Sessions, Billing Portal sessions, Connect accounts and account links,
Transfers to connected accounts and their reversals (separate charges and transfers),
``application_fee_percent`` / ``transfer_data`` / ``proration_behavior`` on subscriptions, and the
events ``customer.subscription.updated``, ``invoice.paid``, ``charge.refunded`` and
``charge.dispute.created``. This server adds them with Stripe's documented request and response
shapes, sharing localstripe's object store, so every object lives in one place and ``GET
/v1/events`` lists them all. A Price is backed by a localstripe Plan of the same id.

Endpoints under ``/_test/`` stand in for what a person does on Stripe's hosted pages: pay a
Checkout Session, finish Connect onboarding, open a dispute, fail the next renewal. POST requests
follow Stripe's idempotency rules (``Idempotency-Key``: replayed answers, 400 on other parameters,
409 while the first is in flight).
"""
from __future__ import annotations

import argparse
import time

from aiohttp import web
from localstripe import resources as R
from localstripe import server as S
from localstripe.errors import UserError

R.Store.dump_to_disk = lambda self: None  # state stays in this process (localstripe pickles to /tmp)
R.Store.try_load_from_disk = lambda self: None

store = R.store
Event, StripeObject, schedule_webhook = R.Event, R.StripeObject, R.schedule_webhook


def _event(type_: str, obj, previous_attributes: dict | None = None):
    ev = Event(type_, obj)
    if previous_attributes is not None:
        ev.data["previous_attributes"] = previous_attributes
    schedule_webhook(ev)
    return ev


# ------------------------------------------------------------------------------ new object types
class Price(StripeObject):
    object = "price"
    _id_prefix = "price_"

    def __init__(self, currency=None, unit_amount=None, product=None, recurring=None, nickname=None,
                 lookup_key=None, metadata=None, active=True, product_data=None, **kwargs):
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs))
        unit_amount = R.try_convert_to_int(unit_amount)
        if not isinstance(currency, str) or not isinstance(unit_amount, int) or unit_amount < 0:
            raise UserError(400, "Bad request: currency and a non-negative unit_amount are required")
        recurring = recurring or {}
        interval = recurring.get("interval")
        if interval not in ("day", "week", "month", "year"):
            raise UserError(400, "Bad request: recurring[interval] is required")
        if product is None and product_data:
            product = R.Product(name=product_data.get("name"), metadata=product_data.get("metadata")).id
        R.Product._api_retrieve(product)
        super().__init__()
        self.currency = currency.lower()
        self.unit_amount = unit_amount
        self.product = product
        self.recurring = {"interval": interval, "interval_count": R.try_convert_to_int(recurring.get("interval_count", 1)),
                          "usage_type": "licensed"}
        self.nickname = nickname
        self.lookup_key = lookup_key
        self.metadata = metadata or {}
        self.active = R.try_convert_to_bool(active)
        self.type = "recurring"
        self.billing_scheme = "per_unit"
        # the localstripe Plan that subscriptions use underneath
        R.Plan(id=self.id, amount=unit_amount, currency=self.currency, interval=interval,
               interval_count=self.recurring["interval_count"], product=product)

    def _update(self, active=None, metadata=None, nickname=None, lookup_key=None):
        if active is not None:
            self.active = R.try_convert_to_bool(active)
            R.Plan._api_retrieve(self.id).active = self.active
        if metadata:
            self.metadata = {**(self.metadata or {}), **metadata}
        if nickname is not None:
            self.nickname = nickname
        if lookup_key is not None:
            self.lookup_key = lookup_key

    @classmethod
    def _api_list_all(cls, url, product=None, active=None, limit=None, starting_after=None, **kwargs):
        li = super()._api_list_all(url, limit=limit, starting_after=starting_after)
        if product is not None:
            li._list = [p for p in li._list if p.product == product]
        if active is not None:
            li._list = [p for p in li._list if p.active == R.try_convert_to_bool(active)]
        return li


class Account(StripeObject):
    object = "account"
    _id_prefix = "acct_"

    def __init__(self, type=None, country="US", email=None, capabilities=None, metadata=None,
                 business_type=None, controller=None, **kwargs):
        super().__init__()
        self.type = type or "express"
        self.country = country
        self.email = email
        self.metadata = metadata or {}
        self.capabilities = {k: "inactive" for k in (capabilities or {})}
        self.charges_enabled = False
        self.payouts_enabled = False
        self.details_submitted = False
        self.requirements = {"currently_due": ["external_account", "tos_acceptance.date"], "disabled_reason":
                             "requirements.past_due"}

    def _update(self, metadata=None, email=None, **kwargs):
        if metadata:
            self.metadata = {**(self.metadata or {}), **metadata}
        if email is not None:
            self.email = email
        _event("account.updated", self)


class CheckoutSession(StripeObject):
    object = "checkout.session"
    _id_prefix = "cs_test_"

    def __init__(self, mode=None, customer=None, line_items=None, success_url=None, cancel_url=None,
                 subscription_data=None, client_reference_id=None, metadata=None, customer_email=None,
                 allow_promotion_codes=None, **kwargs):
        if mode != "subscription":
            raise UserError(400, "Bad request: only mode=subscription is supported here")
        if not success_url or not isinstance(line_items, list) or len(line_items) != 1:
            raise UserError(400, "Bad request: success_url and exactly one line item are required")
        price = Price._api_retrieve(line_items[0].get("price"))
        if customer is not None:
            R.Customer._api_retrieve(customer)
        super().__init__()
        self.mode = mode
        self.customer = customer
        self.customer_email = customer_email
        self.client_reference_id = client_reference_id
        self.metadata = metadata or {}
        self.success_url = success_url
        self.cancel_url = cancel_url
        self.status = "open"
        self.payment_status = "unpaid"
        self.subscription = None
        self.url = f"{BASE_URL}/_test/checkout/{self.id}"
        self.expires_at = int(time.time()) + 24 * 3600
        self.amount_total = price.unit_amount
        self.currency = price.currency
        self._price = price.id
        self._subscription_data = subscription_data or {}


class PortalSession(StripeObject):
    object = "billing_portal.session"
    _id_prefix = "bps_"

    def __init__(self, customer=None, return_url=None, configuration=None, flow_data=None, **kwargs):
        R.Customer._api_retrieve(customer)
        super().__init__()
        self.customer = customer
        self.return_url = return_url
        self.configuration = configuration
        self.url = f"{BASE_URL}/_test/portal/{self.id}"


BASE_URL = "http://127.0.0.1"


# ------------------------------------------------------------------------------ subscriptions
def _with_prices(sub: dict) -> dict:
    """Give every subscription item its ``price`` (Stripe's current shape) besides the legacy plan."""
    for item in (sub.get("items") or {}).get("data", []):
        plan = item.get("plan") or {}
        key = "price:" + str(plan.get("id"))
        if key in store:
            item["price"] = store[key]._export()
        item.setdefault("current_period_start", sub.get("current_period_start"))
        item.setdefault("current_period_end", sub.get("current_period_end"))
    return sub


def _sub_params(data: dict) -> tuple[dict, dict]:
    """Split Stripe's current subscription parameters into localstripe's and the extras we keep."""
    extras = {}
    for key in ("application_fee_percent", "transfer_data", "default_payment_method", "payment_settings",
                "collection_method", "description", "off_session", "expand"):
        if key in data:
            extras[key] = data.pop(key)
    behavior = data.pop("proration_behavior", None)
    if behavior is not None:
        if behavior not in ("create_prorations", "none", "always_invoice"):
            raise UserError(400, "Bad request: proration_behavior")
        extras["proration_behavior"] = behavior
    for item in data.get("items") or []:
        if "price" in item:
            Price._api_retrieve(item["price"])
            item["plan"] = item.pop("price")
        item.pop("deleted", None)
    return data, extras


def _apply_extras(sub, extras: dict) -> None:
    if "application_fee_percent" in extras:
        sub.application_fee_percent = float(extras["application_fee_percent"])
    if "transfer_data" in extras:
        sub.transfer_data = extras["transfer_data"]
    if "default_payment_method" in extras:
        sub.default_payment_method = extras["default_payment_method"]


def _snapshot(sub) -> dict:
    return {"items": sub.items._export(), "cancel_at_period_end": sub.cancel_at_period_end,
            "status": sub.status, "metadata": dict(sub.metadata or {})}


def _updated(sub, before: dict):
    """Announce what changed since ``before`` (``customer.subscription.updated`` with Stripe's
    ``previous_attributes``) and answer with the subscription."""
    after = _snapshot(sub)
    previous = {k: v for k, v in before.items() if after.get(k) != v}
    if previous:
        _event("customer.subscription.updated", sub, previous)
    return S.json_response(_with_prices(sub._export()))


async def create_subscription(request):
    data = await S.get_post_data(request) or {}
    data, extras = _sub_params(data)
    sub = R.Subscription._api_create(**data)
    _apply_extras(sub, extras)
    return S.json_response(_with_prices(sub._export()))


async def update_subscription(request):
    sub = R.Subscription._api_retrieve(request.match_info["id"])
    data = await S.get_post_data(request) or {}
    data, extras = _sub_params(data)
    before = _snapshot(sub)
    if extras.get("proration_behavior") == "none" and data.get("items"):
        # no "unused time" credit: localstripe always prorates, so drop what it adds
        pending_before = {k for k in store if k.startswith("invoiceitem:")}
        R.Subscription._api_update(sub.id, **data)
        for key in [k for k in store if k.startswith("invoiceitem:") and k not in pending_before]:
            del store[key]
    elif data:
        R.Subscription._api_update(sub.id, **data)
    _apply_extras(sub, extras)
    return _updated(sub, before)


def retrieve_subscription(request):
    sub = R.Subscription._api_retrieve(request.match_info["id"])
    return S.json_response(_with_prices(sub._export()))


async def cancel_subscription(request):
    sub = R.Subscription._api_retrieve(request.match_info["id"])
    if sub.status == "canceled":
        raise UserError(400, "This subscription is already canceled")
    R.Subscription._api_delete(sub.id)
    return S.json_response(_with_prices(sub._export()))


async def create_preview(request):
    """``POST /v1/invoices/create_preview`` with Stripe's current ``subscription_details``
    (``items[].price``, ``proration_behavior``)."""
    data = await S.get_post_data(request) or {}
    data.pop("expand", None)
    details = dict(data.pop("subscription_details", None) or {})
    behavior = details.pop("proration_behavior", "create_prorations")
    for item in details.get("items") or []:
        if "price" in item:
            Price._api_retrieve(item["price"])
            item["plan"] = item.pop("price")
        item.pop("deleted", None)
    inv = R.Invoice._api_create_preview_invoice(subscription_details=details or None, **data)._export()
    if behavior == "none":
        lines = inv["lines"]["data"]
        kept = [line for line in lines if not line.get("proration")]
        inv["lines"]["data"] = kept
        inv["amount_due"] = inv["total"] = inv["subtotal"] = sum(line["amount"] for line in kept)
    return S.json_response(inv)


# ------------------------------------------------------------------------------ generic handlers
def _create(cls):
    async def handler(request):
        data = await S.get_post_data(request) or {}
        data.pop("expand", None)
        return S.json_response(cls._api_create(**data)._export())
    return handler


def _retrieve(cls):
    async def handler(request):
        return S.json_response(cls._api_retrieve(request.match_info["id"])._export())
    return handler


def _update(cls):
    async def handler(request):
        data = await S.get_post_data(request) or {}
        data.pop("expand", None)
        obj = cls._api_retrieve(request.match_info["id"])
        obj._update(**data)
        return S.json_response(obj._export())
    return handler


def _list(cls, url):
    async def handler(request):
        data = S.unflatten_data(request.query)
        data.pop("expand", None)
        return S.json_response(cls._api_list_all(url, **data)._export())
    return handler


async def account_link(request):
    data = await S.get_post_data(request) or {}
    acct = Account._api_retrieve(data.get("account", ""))
    if data.get("type") not in ("account_onboarding", "account_update") or not data.get("return_url"):
        raise UserError(400, "Bad request: type and return_url are required")
    now = int(time.time())
    return S.json_response({"object": "account_link", "created": now, "expires_at": now + 300,
                            "url": f"{BASE_URL}/_test/onboarding/{acct.id}"})


# ------------------------------------------------------------------------------ refunds
_refund_requests: dict[str, dict] = {}


async def create_refund(request):
    """``POST /v1/refunds`` with the parameters localstripe lacks: ``reason`` (duplicate,
    fraudulent, requested_by_customer) and, for Connect destination charges, ``reverse_transfer``
    and ``refund_application_fee`` (kept, and shown by ``GET /_test/refunds/{id}``)."""
    data = await S.get_post_data(request) or {}
    data.pop("expand", None)
    reason = data.pop("reason", None)
    if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
        raise UserError(400, "Invalid reason")
    flags = {k: R.try_convert_to_bool(data.pop(k)) for k in ("reverse_transfer", "refund_application_fee") if k in data}
    refund = R.Refund._api_create(**data)
    refund.reason = reason
    refund.transfer_reversal = ("trr_" + R.random_id(14)) if flags.get("reverse_transfer") else None
    _refund_requests[refund.id] = {"reason": reason, **flags}
    return S.json_response(refund._export())


def refund_request(request):
    return S.json_response(_refund_requests.get(request.match_info["id"]) or {})


# ------------------------------------------------------------------------------ transfers (Connect)
class Transfer(StripeObject):
    """``POST /v1/transfers``: money from the platform's balance to a connected account (separate
    charges and transfers). ``destination`` must be an Account with payouts enabled;
    ``source_transaction`` (optional) an existing charge, whose transfers may not add up to more
    than it charged; ``transfer_group`` groups them (e.g. the invoice id)."""

    object = "transfer"
    _id_prefix = "tr_"

    def __init__(self, amount=None, currency=None, destination=None, source_transaction=None,
                 transfer_group=None, metadata=None, description=None, **kwargs):
        if kwargs:
            raise UserError(400, "Received unknown parameter: " + ", ".join(kwargs))
        amount = R.try_convert_to_int(amount)
        if not isinstance(amount, int) or amount <= 0:
            raise UserError(400, "Invalid positive integer", {"param": "amount", "code": "parameter_invalid_integer"})
        if not isinstance(currency, str) or len(currency) != 3:
            raise UserError(400, "Missing required param: currency.", {"param": "currency",
                                                                       "code": "parameter_missing"})
        acct = store.get("account:" + str(destination))
        if acct is None:
            raise UserError(400, f"No such destination: '{destination}'", {"param": "destination",
                                                                           "code": "resource_missing"})
        if not acct.payouts_enabled:
            raise UserError(400, "Your destination account needs to have at least one of the following capabilities "
                            "enabled: transfers, crypto_transfers, legacy_payments",
                            {"param": "destination", "code": "insufficient_capabilities_for_transfer"})
        if source_transaction is not None:
            charge = store.get("charge:" + str(source_transaction))
            if charge is None:
                raise UserError(400, f"No such charge: '{source_transaction}'", {"param": "source_transaction",
                                                                                 "code": "resource_missing"})
            if charge.currency != currency.lower():
                raise UserError(400, "The currency of source_transaction's balance transaction must match the "
                                "transfer currency", {"param": "currency", "code": "parameter_invalid"})
            sent = sum(t.amount for k, t in store.items() if k.startswith("transfer:")
                       and t.source_transaction == charge.id)
            if sent + amount > charge.amount:
                raise UserError(400, "Insufficient funds: the transfers from this source_transaction would exceed "
                                "its amount", {"param": "amount", "code": "balance_insufficient"})
        super().__init__()
        self.amount = amount
        self.amount_reversed = 0
        self.currency = currency.lower()
        self.destination = acct.id
        self.source_transaction = source_transaction
        self.transfer_group = transfer_group
        self.metadata = metadata or {}
        self.description = description
        self.reversed = False
        self._reversals: list[str] = []
        _event("transfer.created", self)

    def _export(self, expand=None):
        out = super()._export(expand=expand)
        out["reversals"] = {"object": "list", "url": f"/v1/transfers/{self.id}/reversals", "has_more": False,
                            "data": [store["transfer_reversal:" + r]._export() for r in self._reversals],
                            "total_count": len(self._reversals)}
        return out

    @classmethod
    def _api_list_all(cls, url, transfer_group=None, destination=None, limit=None, starting_after=None, **kwargs):
        li = super()._api_list_all(url, limit=limit, starting_after=starting_after)
        if transfer_group is not None:
            li._list = [t for t in li._list if t.transfer_group == transfer_group]
        if destination is not None:
            li._list = [t for t in li._list if t.destination == destination]
        return li


class TransferReversal(StripeObject):
    object = "transfer_reversal"
    _id_prefix = "trr_"

    def __init__(self, transfer=None, amount=None, metadata=None, description=None, refund_application_fee=None,
                 **kwargs):
        if kwargs:
            raise UserError(400, "Received unknown parameter: " + ", ".join(kwargs))
        tr = Transfer._api_retrieve(transfer)
        left = tr.amount - tr.amount_reversed
        amount = left if amount is None else R.try_convert_to_int(amount)
        if not isinstance(amount, int) or amount <= 0:
            raise UserError(400, "Invalid positive integer", {"param": "amount", "code": "parameter_invalid_integer"})
        if amount > left:
            raise UserError(400, f"You have already reversed {tr.amount_reversed} of this transfer; you can reverse "
                            f"at most {left} more", {"param": "amount", "code": "transfer_reversal_exceeds_amount"})
        super().__init__()
        self.amount = amount
        self.currency = tr.currency
        self.transfer = tr.id
        self.metadata = metadata or {}
        tr.amount_reversed += amount
        tr.reversed = tr.amount_reversed == tr.amount
        tr._reversals.append(self.id)
        _event("transfer.reversed", tr)


async def create_transfer_reversal(request):
    data = await S.get_post_data(request) or {}
    data.pop("expand", None)
    return S.json_response(TransferReversal(transfer=request.match_info["id"], **data)._export())


async def list_transfer_reversals(request):
    tr = Transfer._api_retrieve(request.match_info["id"])
    return S.json_response(tr._export()["reversals"])


# ------------------------------------------------------------------------------ idempotency
# Stripe's rules: a POST with an Idempotency-Key replays the first answer (header
# Idempotent-Replayed); the same key with other parameters is a 400 idempotency_error; the same key
# while the first request is still running is a 409 idempotency_key_in_use.
_idempotent: dict[tuple[str, str], tuple[str, int, bytes]] = {}
_in_flight: set[tuple[str, str]] = set()


def _idempotency_problem(status: int, type_: str, code: str | None, message: str):
    return web.json_response({"error": {"type": type_, "code": code, "message": message}}, status=status)


@web.middleware
async def idempotency_middleware(request, handler):
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    scope = (request.headers.get("Authorization", ""), key)
    fingerprint = f"{request.path} {(await request.read()).decode('utf-8', 'replace')}"
    if scope in _in_flight:
        return _idempotency_problem(409, "invalid_request_error", "idempotency_key_in_use",
                                    "There is currently another in-progress request using this Idempotent Key. "
                                    "Please try again later.")
    saved = _idempotent.get(scope)
    if saved is not None:
        if saved[0] != fingerprint:
            return _idempotency_problem(400, "idempotency_error", None, "Keys for idempotent requests can only be "
                                        "used with the same parameters they were first used with.")
        return web.Response(status=saved[1], body=saved[2], content_type="application/json",
                            headers={"Idempotent-Replayed": "true", "Idempotency-Key": key})
    _in_flight.add(scope)
    try:
        response = await handler(request)
        if response.status < 500 and isinstance(response, web.Response) and response.body is not None:
            _idempotent[scope] = (fingerprint, response.status, bytes(response.body))
        return response
    finally:
        _in_flight.discard(scope)


# ------------------------------------------------------------------------------ hosted pages (/_test)
async def pay_checkout(request):
    """The fan pays on the hosted Checkout page (``payment_method`` defaults to a good test card)."""
    cs = CheckoutSession._api_retrieve(request.match_info["id"])
    data = await S.get_post_data(request) or {}
    if cs.status != "open":
        raise UserError(400, "This Checkout Session is no longer open")
    customer = cs.customer or R.Customer(email=cs.customer_email).id
    pm = data.get("payment_method", "pm_card_visa")
    pm = R.PaymentMethod._api_retrieve(pm).id if pm.startswith("pm_card_") else pm
    R.PaymentMethod._api_attach(pm, customer=customer)
    R.Customer._api_update(customer, invoice_settings={"default_payment_method": pm})
    sub_data = dict(cs._subscription_data)
    extras = {k: sub_data.pop(k) for k in ("application_fee_percent", "transfer_data") if k in sub_data}
    sub = R.Subscription._api_create(customer=customer, items=[{"plan": cs._price}],
                                     metadata=sub_data.get("metadata") or {})
    _apply_extras(sub, extras)
    cs.customer = customer
    cs.subscription = sub.id
    cs.status = "complete"
    cs.payment_status = "paid" if sub.status == "active" else "unpaid"
    _event("checkout.session.completed", cs)
    return S.json_response(cs._export())


async def onboard(request):
    """The artist finishes Connect onboarding."""
    acct = Account._api_retrieve(request.match_info["id"])
    acct.charges_enabled = acct.payouts_enabled = acct.details_submitted = True
    acct.requirements = {"currently_due": [], "disabled_reason": None}
    acct.capabilities = {k: "active" for k in acct.capabilities} or {"transfers": "active"}
    _event("account.updated", acct)
    return S.json_response(acct._export())


async def dispute(request):
    charge = R.Charge._api_retrieve(request.match_info["id"])
    now = int(time.time())
    obj = {"id": "dp_" + R.random_id(14), "object": "dispute", "charge": charge.id, "amount": charge.amount,
           "currency": charge.currency, "reason": "fraudulent", "status": "needs_response", "created": now,
           "payment_intent": getattr(charge, "payment_intent", None)}
    _event("charge.dispute.created", _Plain(obj))
    return S.json_response(obj)


async def renew(request):
    """Bill the next period of a subscription now (a renewal), with its customer's current card."""
    sub = R.Subscription._api_retrieve(request.match_info["id"])
    data = await S.get_post_data(request) or {}
    if data.get("payment_method"):
        pm = R.PaymentMethod._api_retrieve(data["payment_method"]).id
        R.PaymentMethod._api_attach(pm, customer=sub.customer)
        R.Customer._api_update(sub.customer, invoice_settings={"default_payment_method": pm})
    before = _snapshot(sub)
    known = {k for k in store if k.startswith("invoice:")}
    sub._create_invoice()
    for key in [k for k in store if k.startswith("invoice:") and k not in known]:
        if store[key].status != "paid":  # localstripe marks the subscription past_due without telling
            _event("invoice.payment_failed", store[key])
    return _updated(sub, before)


def related_events(request):
    """Every event about any of the given object ids (``?ids=sub_1,cus_2``), oldest first: the
    test suite delivers them itself, in order or not."""
    ids = set(filter(None, request.query.get("ids", "").split(",")))
    out = []
    for key, ev in list(store.items()):
        if not key.startswith("event:"):
            continue
        obj = ev.data["object"]
        parent = (obj.get("parent") or {}).get("subscription_details") or {}
        refs = [obj.get("id"), obj.get("subscription"), obj.get("customer"), obj.get("charge"),
                obj.get("payment_intent"), parent.get("subscription"), obj.get("transfer_group"),
                obj.get("source_transaction"), obj.get("destination")]
        if {r for r in refs if isinstance(r, str)} & ids:
            out.append(ev._export())
    out.sort(key=lambda e: (e["created"], _seq.get(e["id"], 0)))
    return S.json_response({"object": "list", "data": out})


_seq: dict[str, int] = {}


class _Plain:
    def __init__(self, data):
        self._data = data

    def _export(self, expand=None):
        return dict(self._data)


# ------------------------------------------------------------------------------ events localstripe lacks
_orig_success = R.Invoice._on_payment_success


def _invoice_paid(self):
    _orig_success(self)
    _event("invoice.paid", self)


R.Invoice._on_payment_success = _invoice_paid
_orig_refund_init = R.Refund.__init__


def _refund_init(self, *args, **kwargs):
    _orig_refund_init(self, *args, **kwargs)
    _event("charge.refunded", R.Charge._api_retrieve(self.charge))  # amount_refunded is computed by localstripe


R.Refund.__init__ = _refund_init

# charges carry Stripe's standard card fee (2.9% + 30 cents), as Stripe's balance transactions do
_orig_txn_init = R.BalanceTransaction.__init__


def _txn_init(self, *args, **kwargs):
    _orig_txn_init(self, *args, **kwargs)
    if self.type == "charge" and self.amount > 0:
        self.fee = (self.amount * 29 + 500) // 1000 + 30  # half up
        self.fee_details = [{"amount": self.fee, "currency": self.currency, "type": "stripe_fee",
                             "description": "Stripe processing fees"}]


R.BalanceTransaction.__init__ = _txn_init

# subscription events carry prices too
_orig_event_init = R.Event.__init__


def _event_init(self, type, data):
    _orig_event_init(self, type, data)
    _seq[self.id] = len(_seq)
    if self.data["object"].get("object") == "subscription":
        _with_prices(self.data["object"])


R.Event.__init__ = _event_init


def build_app() -> web.Application:
    app = web.Application(middlewares=[S.error_middleware, S.auth_middleware, idempotency_middleware])
    add = app.router.add_route
    add("POST", "/v1/subscriptions", create_subscription)
    add("GET", "/v1/subscriptions/{id}", retrieve_subscription)
    add("POST", "/v1/subscriptions/{id}", update_subscription)
    add("DELETE", "/v1/subscriptions/{id}", cancel_subscription)
    for cls, path in ((Price, "/v1/prices"), (Account, "/v1/accounts"), (CheckoutSession, "/v1/checkout/sessions"),
                      (PortalSession, "/v1/billing_portal/sessions")):
        add("POST", path, _create(cls))
        add("GET", path + "/{id}", _retrieve(cls))
        add("GET", path, _list(cls, path))
    add("POST", "/v1/transfers", _create(Transfer))
    add("GET", "/v1/transfers/{id}", _retrieve(Transfer))
    add("GET", "/v1/transfers", _list(Transfer, "/v1/transfers"))
    add("POST", "/v1/transfers/{id}/reversals", create_transfer_reversal)
    add("GET", "/v1/transfers/{id}/reversals", list_transfer_reversals)
    add("POST", "/v1/prices/{id}", _update(Price))
    add("POST", "/v1/accounts/{id}", _update(Account))
    add("POST", "/v1/account_links", account_link)
    add("POST", "/v1/invoices/create_preview", create_preview)
    add("POST", "/v1/refunds", create_refund)
    add("GET", "/_test/refunds/{id}", refund_request)
    add("POST", "/_test/checkout/{id}/pay", pay_checkout)
    add("POST", "/_test/onboarding/{id}/complete", onboard)
    add("POST", "/_test/charges/{id}/dispute", dispute)
    add("POST", "/_test/subscriptions/{id}/renew", renew)
    add("GET", "/_test/events", related_events)
    taken = {(r.method, r.resource.canonical) for r in app.router.routes()}
    for route in S.app.router.routes():
        if (route.method, route.resource.canonical) not in taken:
            add(route.method, route.resource.canonical, route.handler)
    return app


def main() -> None:
    global BASE_URL
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    BASE_URL = f"http://127.0.0.1:{args.port}"
    web.run_app(build_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()

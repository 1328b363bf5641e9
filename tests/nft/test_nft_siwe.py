"""Sign-In with Ethereum (EIP-4361) as the nft plugin checks it: the strict parser, the platform's
domain / URI / chain id, the times, and the signature (real secp256k1 keys from eth-account)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from musicconnect import Problem
from musicconnect_nft import siwe

BASE = "https://fans.example.org"
CHAIN = 131277322940537
NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)


def signed(acct, text: str) -> str:
    sig = acct.sign_message(encode_defunct(text=text)).signature.hex()
    return sig if sig.startswith("0x") else "0x" + sig


def message(acct, **kw) -> str:
    args = dict(address=acct.address, nonce="abcDEF123456xyz", base_url=BASE, chain_id=CHAIN, issued_at=NOW,
                expiration_time=NOW + timedelta(minutes=10), statement="Link this wallet.")
    args.update(kw)
    return siwe.compose(**args)


def verify(text, sig, **kw):
    return siwe.verify_message(text, sig, **{"base_url": BASE, "chain_id": CHAIN, "now": NOW, **kw})


def reason(text, sig, **kw) -> str:
    with pytest.raises(Problem) as exc:
        verify(text, sig, **kw)
    assert exc.value.status == 401 and exc.value.slug == "wallet-signature-invalid"
    return exc.value.detail


def test_a_signed_message_verifies_and_round_trips():
    acct = Account.create()
    text = message(acct)
    assert text.splitlines()[:5] == ["fans.example.org wants you to sign in with your Ethereum account:",
                                     acct.address, "", "Link this wallet.", ""]
    msg = verify(text, signed(acct, text))
    assert (msg.address, msg.chain_id, msg.nonce, msg.uri) == (acct.address, CHAIN, "abcDEF123456xyz", BASE)
    assert siwe.parse(text).text() == text
    # the smallest message (no statement: two blank lines, as the grammar says; no optional field)
    bare = message(acct, statement=None, expiration_time=None)
    assert len(bare.splitlines()) == 9
    assert bare.splitlines()[2:4] == ["", ""]
    assert verify(bare, signed(acct, bare)).statement is None


EIP_EXAMPLE = """service.invalid wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ServiceOrg Terms of Service: https://service.invalid/tos

URI: https://service.invalid/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""


def test_the_eip_example_message_parses_field_by_field_and_round_trips():
    """The example message of EIP-4361 itself (the reference package would pin web3 and
    websockets below ours, so the specification's text is the reference here)."""
    msg = siwe.parse(EIP_EXAMPLE)
    assert (msg.domain, msg.address, msg.uri) == ("service.invalid", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
                                                  "https://service.invalid/login")
    assert msg.statement == "I accept the ServiceOrg Terms of Service: https://service.invalid/tos"
    assert (msg.version, msg.chain_id, msg.nonce) == ("1", 1, "32891756")
    assert msg.issued_at == datetime(2021, 9, 30, 16, 25, 24, tzinfo=timezone.utc)
    assert list(msg.resources) == ["ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
                             "https://example.com/my-web2-claim.json"]
    assert msg.text() == EIP_EXAMPLE


def test_forged_signatures_are_refused():
    fan, thief = Account.create(), Account.create()
    text = message(fan)
    assert "not made by the address" in reason(text, signed(thief, text))             # someone else's key
    tampered = text.replace("Chain ID", "Chain ID").replace("abcDEF123456xyz", "abcDEF123456xyq")
    assert "not made by the address" in reason(tampered, signed(fan, text))          # text changed after signing
    assert "65-byte" in reason(text, "0x1234")
    assert "does not verify" in reason(text, "0x" + "00" * 65)


@pytest.mark.parametrize("change, why", [
    (dict(base_url="https://evil.example.org"), "not this platform"),
    (dict(chain_id=1), "chain 1"),
])
def test_a_message_for_another_site_or_chain_is_refused(change, why):
    acct = Account.create()
    text = message(acct, **change)
    assert why in reason(text, signed(acct, text))


def test_times_are_checked():
    acct = Account.create()
    old = message(acct, issued_at=NOW - timedelta(hours=1), expiration_time=NOW - timedelta(minutes=1))
    assert "expired" in reason(old, signed(acct, old))
    future = message(acct, issued_at=NOW + timedelta(hours=1), expiration_time=NOW + timedelta(hours=2))
    assert "future" in reason(future, signed(acct, future))


@pytest.mark.parametrize("mutate, why", [
    (lambda t: t.replace("\n", "\r\n"), "LF"),
    (lambda t: t.replace("Version: 1", "Version: 2"), "Version"),
    (lambda t: t.replace("Nonce: abcDEF123456xyz", "Nonce: short"), "nonce"),
    (lambda t: t.replace("\nVersion: 1", ""), "missing Version"),
    (lambda t: t + "\nExtra: field", "unexpected line"),
    (lambda t: t.replace("Issued At: 2026-06-01T12:00:00Z", "Issued At: 2026-06-01 12:00"), "RFC 3339"),
    (lambda t: t.replace("URI: https://fans.example.org\nVersion: 1", "Version: 1\nURI: https://fans.example.org"),
     "out of order"),
])
def test_the_parser_is_strict(mutate, why):
    acct = Account.create()
    text = mutate(message(acct))
    assert why in reason(text, signed(acct, text))


def test_the_address_must_be_checksummed():
    acct = Account.create()
    text = message(acct).replace(acct.address, acct.address.lower())
    assert "EIP-55" in reason(text, signed(acct, text))
    assert siwe.checksum_ok(acct.address) and not siwe.checksum_ok(acct.address.lower())


def test_nonces_are_long_and_distinct():
    nonces = {siwe.new_nonce() for _ in range(50)}
    assert len(nonces) == 50 and all(siwe.NONCE_RE.match(n) and len(n) == 24 for n in nonces)


# ------------------------------------------------------------------ through HTTP, on the chain
@pytest.fixture
def linking(mc_platform):
    from nft_world import make_collection, mint
    from starlette.testclient import TestClient

    from musicconnect.app import create_app
    from musicconnect.testing import make_user

    p = mc_platform
    artist = make_user(p, "artist", artist_name="Nova")
    fan = make_user(p, "fan")
    _, crit = make_collection(p, artist.artist_id)
    token_id = mint(p, fan.id, crit)
    with TestClient(create_app(p)) as client:
        yield p, client, fan, token_id


def challenge(client, fan, acct) -> dict:
    r = client.post("/api/v1/nft/wallet/challenge", headers=fan.headers, json={"address": acct.address})
    assert r.status_code == 201, r.text
    return r.json()


def test_linking_a_wallet_reissues_the_custodial_token_to_it(linking):
    from nft_world import settle, token_row

    from helpers import problem
    from musicconnect_nft import chain

    p, client, fan, token_id = linking
    custodial = token_row(p, token_id).owner_address
    acct = Account.create()
    ch = challenge(client, fan, acct)
    c = chain.get_chain(p)
    assert ch["chain_id"] == c.chain_id and ch["domain"] == siwe.platform_origin(p.settings.base_url)[0]
    assert siwe.parse(ch["message"]).nonce == ch["nonce"]
    r = client.post("/api/v1/nft/wallet/link", headers=fan.headers,
                    json={"message": ch["message"], "signature": signed(acct, ch["message"])})
    assert r.status_code == 200, r.text
    new_ids = r.json()["reissued"]
    assert r.json()["address"] == acct.address and len(new_ids) == 1 and new_ids != [token_id]
    settle(p)
    old, new = token_row(p, token_id), token_row(p, new_ids[0])
    assert (old.status, old.burn_reason, old.replaced_by) == ("burned", "relinked", new.id)
    assert new.status == "confirmed" and new.owner_address == acct.address and new.seq == 1
    # on chain: the custodial copy is gone, the wallet holds the new one, still soulbound
    assert c.contract.functions.balanceOf(custodial).call() == 0
    assert c.contract.functions.ownerOf(int(new_ids[0])).call() == acct.address
    assert c.contract.functions.locked(int(new_ids[0])).call() is True
    # the credential of the re-issued token names the wallet
    cred = client.get(f"/api/v1/nft/me/credentials/{new_ids[0]}", headers=fan.headers).json()["credential"]
    assert cred["credentialSubject"]["id"] == f"did:pkh:eip155:{c.chain_id}:{acct.address}"
    # the same signed message again: a replay
    again = client.post("/api/v1/nft/wallet/link", headers=fan.headers,
                        json={"message": ch["message"], "signature": signed(acct, ch["message"])})
    problem(again, 401, "siwe-nonce-invalid")


def test_forged_replayed_and_foreign_links_are_refused(linking):
    from nft_world import token_row

    from helpers import problem

    p, client, fan, token_id = linking
    acct, thief = Account.create(), Account.create()
    ch = challenge(client, fan, acct)
    # signed by another key: 401, nothing linked, the nonce still unused
    forged = client.post("/api/v1/nft/wallet/link", headers=fan.headers,
                         json={"message": ch["message"], "signature": signed(thief, ch["message"])})
    problem(forged, 401, "wallet-signature-invalid")
    assert token_row(p, token_id).burn_reason is None
    # a nonce the server never issued
    made_up = ch["message"].replace(ch["nonce"], "ZZZZZZZZZZZZZZZZZZZZZZZZ")
    problem(client.post("/api/v1/nft/wallet/link", headers=fan.headers,
                        json={"message": made_up, "signature": signed(acct, made_up)}), 401, "siwe-nonce-invalid")
    # another fan cannot spend this fan's nonce
    from musicconnect.testing import make_user

    other = make_user(p, "fan")
    problem(client.post("/api/v1/nft/wallet/link", headers=other.headers,
                        json={"message": ch["message"], "signature": signed(acct, ch["message"])}),
            401, "siwe-nonce-invalid")
    # an expired nonce: the proposed message says so itself; a message the wallet composed
    # without an expiry still meets the nonce's
    start = p.clock.now()
    own = siwe.compose(address=acct.address, nonce=ch["nonce"], base_url=p.settings.base_url,
                       chain_id=ch["chain_id"], issued_at=start.replace(microsecond=0), expiration_time=None)
    p.clock.advance(minutes=11)
    problem(client.post("/api/v1/nft/wallet/link", headers=fan.headers,
                        json={"message": ch["message"], "signature": signed(acct, ch["message"])}),
            401, "wallet-signature-invalid")
    problem(client.post("/api/v1/nft/wallet/link", headers=fan.headers,
                        json={"message": own, "signature": signed(acct, own)}), 401, "siwe-nonce-invalid")
    # a wallet linked to someone else
    p.clock.set(start)
    mine = challenge(client, other, acct)
    ok = client.post("/api/v1/nft/wallet/link", headers=other.headers,
                     json={"message": mine["message"], "signature": signed(acct, mine["message"])})
    assert ok.status_code == 200, ok.text
    ch2 = challenge(client, fan, acct)
    problem(client.post("/api/v1/nft/wallet/link", headers=fan.headers,
                        json={"message": ch2["message"], "signature": signed(acct, ch2["message"])}),
            409, "wallet-taken")
    # an address in any case: the proposed message carries its EIP-55 form
    lower = client.post("/api/v1/nft/wallet/challenge", headers=fan.headers, json={"address": acct.address.lower()})
    assert siwe.parse(lower.json()["message"]).address == acct.address


def test_one_signed_message_links_once_even_when_sent_twice_at_once(linking):
    from helpers import problem
    from musicconnect.testing import concurrently

    p, client, fan, token_id = linking
    acct = Account.create()
    ch = challenge(client, fan, acct)
    body = {"message": ch["message"], "signature": signed(acct, ch["message"])}
    answers = concurrently(2, lambda i: client.post("/api/v1/nft/wallet/link", headers=fan.headers, json=body))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 401], [r.text for r in answers]
    problem(next(r for r in answers if r.status_code == 401), 401, "siwe-nonce-invalid")


def test_open_nonces_are_bounded_per_fan(linking):
    from sqlalchemy import func, select

    from musicconnect_nft.models import LinkChallenge

    p, client, fan, token_id = linking
    acct = Account.create()
    first = challenge(client, fan, acct)
    for _ in range(7):
        p.clock.advance(seconds=1)
        challenge(client, fan, acct)
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(LinkChallenge).where(LinkChallenge.user_id == fan.id)) == 5
    # the oldest was dropped: it no longer links
    from helpers import problem

    problem(client.post("/api/v1/nft/wallet/link", headers=fan.headers,
                        json={"message": first["message"], "signature": signed(acct, first["message"])}),
            401, "siwe-nonce-invalid")


def _contract_wallet(p, owner_address: str) -> str:
    """Deploy tests/nft/contracts/OwnerWallet.vy (ERC-1271, one owner) on the platform's chain
    from another funded account (the minter's nonces stay the allocator's)."""
    from pathlib import Path

    import vyper

    from musicconnect_nft import chain

    build = vyper.compile_code((Path(__file__).parent / "contracts" / "OwnerWallet.vy").read_text(),
                               output_formats=["abi", "bytecode"])
    w3 = chain.get_chain(p).w3
    deployer = w3.eth.accounts[1]
    factory = w3.eth.contract(abi=build["abi"], bytecode=build["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(owner_address).transact({"from": deployer}))
    assert receipt["status"] == 1
    return receipt["contractAddress"]


def test_a_smart_contract_wallet_links_through_erc1271(linking):
    """A Safe-like wallet has no key: its owner signs, the wallet contract vouches (ERC-1271) and
    is linked; a stranger's signature, and a contract that is not a wallet, are refused."""
    from nft_world import settle, token_row

    from helpers import problem
    from musicconnect_nft import chain

    p, client, fan, token_id = linking
    owner, stranger = Account.create(), Account.create()
    wallet = _contract_wallet(p, owner.address)

    class AsWallet:  # the challenge names the wallet contract's address
        address = wallet

    ch = challenge(client, fan, AsWallet)
    problem(client.post("/api/v1/nft/wallet/link", headers=fan.headers,
                        json={"message": ch["message"], "signature": signed(stranger, ch["message"])}),
            401, "wallet-signature-invalid")
    problem(client.post("/api/v1/nft/wallet/link", headers=fan.headers,
                        json={"message": ch["message"], "signature": "0x" + "ab" * 97}),
            401, "wallet-signature-invalid")  # a longer signature the wallet does not accept
    ch = challenge(client, fan, AsWallet)  # a refused attempt spends nothing, but take a fresh one anyway
    r = client.post("/api/v1/nft/wallet/link", headers=fan.headers,
                    json={"message": ch["message"], "signature": signed(owner, ch["message"])})
    assert r.status_code == 200, r.text
    assert r.json()["address"] == wallet and len(r.json()["reissued"]) == 1
    settle(p)
    new = token_row(p, r.json()["reissued"][0])
    assert new.status == "confirmed" and new.owner_address == wallet
    assert chain.get_chain(p).contract.functions.ownerOf(int(new.token_id)).call() == wallet

    # the platform's own contract is not a wallet: its address cannot be linked with any signature
    other = type("Other", (), {"address": chain.get_chain(p).address})
    from musicconnect.testing import make_user

    someone = make_user(p, "fan")
    ch = challenge(client, someone, other)
    problem(client.post("/api/v1/nft/wallet/link", headers=someone.headers,
                        json={"message": ch["message"], "signature": signed(owner, ch["message"])}),
            401, "wallet-signature-invalid")


def test_contract_wallet_check_needs_the_chain(linking):
    """The node is down while a contract wallet's signature is checked: 503, not a guess."""
    from helpers import problem
    from musicconnect_nft import chain

    p, client, fan, _ = linking
    owner = Account.create()
    wallet = _contract_wallet(p, owner.address)
    ch = challenge(client, fan, type("W", (), {"address": wallet}))
    embedded = chain.embedded_of(p)
    embedded.down = True
    try:
        problem(client.post("/api/v1/nft/wallet/link", headers=fan.headers,
                            json={"message": ch["message"], "signature": signed(owner, ch["message"])}),
                503, "nft-chain-unavailable")
    finally:
        embedded.down = False

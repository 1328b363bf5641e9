"""Rules to mints on a real EVM (eth-tester on py-evm): criteria evaluated from the platform's own
records, idempotent queueing, nonce-safe minting from two workers, RPC outages, reverted
transactions, criterion versions, custodial keys, re-issue to a linked wallet, erasure."""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from musicconnect.models import DomainEvent, Tier
from musicconnect.testing import concurrently, make_user
from musicconnect_nft import chain as chainmod
from musicconnect_nft import criteria, minting, wallets
from musicconnect_nft.models import Criterion, Holding, NonceSlot, Token, Wallet


def tier(p, artist_id, key):
    with p.read() as s:
        return s.scalar(select(Tier).where(Tier.artist_id == artist_id, Tier.key == key))


def member(p, artist_id, tier_key, *, months_ago: float, user=None):
    """A fan (new unless given) holding ``tier_key`` since ``months_ago`` × 30 days."""
    user = user or make_user(p)
    t = tier(p, artist_id, tier_key)
    with p.session() as s:
        p.entitlements.grant(s, user_id=user.id, artist_id=artist_id, tier_id=t.id, source="test",
                             source_ref=f"{user.id}:{tier_key}", starts_at=p.clock.now() - timedelta(days=30 * months_ago))
    return user


def collection_with(p, artist_id, kind, params, slug="superfans"):
    with p.session() as s:
        coll = criteria.create_collection(p, s, artist_id, slug=slug, name="Superfans", perks={"backstage_days": 30})
        crit = criteria.add_criterion(p, s, coll, kind=kind, params=params, title="Superfan for 3 months")
        return coll.id, crit.id, crit.key


def tokens(p, **where):
    with p.read() as s:
        q = select(Token)
        for k, v in where.items():
            q = q.where(getattr(Token, k) == v)
        return list(s.scalars(q.order_by(Token.created_at)))


def drive(p, token_row_id, **kw):
    return minting.mint_token(p, token_row_id, **kw)


@pytest.fixture
def world(mc_platform):
    p = mc_platform
    artist = make_user(p, "artist", artist_name="The Band")
    return p, artist.artist_id


def test_rule_to_mint_on_chain(world):
    p, artist_id = world
    veteran = member(p, artist_id, "superfan", months_ago=4)
    newcomer = member(p, artist_id, "superfan", months_ago=1)
    supporter = member(p, artist_id, "supporter", months_ago=12)
    _, crit_id, _ = collection_with(p, artist_id, "tier_months", {"tier_rank": 2, "months": 3})

    assert criteria.evaluate(p, crit_id) == 1
    [tok] = tokens(p)
    assert (tok.user_id, tok.status, tok.criterion_version) == (veteran.id, "queued", 1)
    assert tok.evidence["kind"] == "tier_months" and tok.evidence["months"] == 3

    assert drive(p, tok.id) == "confirmed"
    [tok] = tokens(p)
    assert tok.tx_hash and tok.tx_hash.startswith("0x") and tok.block_number and tok.nonce is not None
    assert tok.raw_tx is None and tok.confirmed_at is not None
    ch = chainmod.get_chain(p)
    receipt = ch.w3.eth.get_transaction_receipt(tok.tx_hash)
    assert receipt["status"] == 1
    with p.read() as s:
        custodial = s.scalar(select(Wallet).where(Wallet.user_id == veteran.id, Wallet.kind == "custodial"))
    assert tok.owner_address == custodial.address
    assert ch.contract.functions.ownerOf(int(tok.token_id)).call() == custodial.address
    assert ch.contract.functions.locked(int(tok.token_id)).call() is True
    assert ch.contract.functions.tokenURI(int(tok.token_id)).call() == f"http://testserver/api/v1/nft/tokens/{tok.token_id}"

    # idempotent: evaluating again queues nothing; the other fans do not qualify
    assert criteria.evaluate(p, crit_id) == 0
    assert drive(p, tok.id) == "confirmed"
    assert ch.contract.functions.totalSupply().call() == 1
    assert {t.user_id for t in tokens(p)} == {veteran.id}
    assert newcomer.id != supporter.id

    # the holdings index follows the chain's events
    assert chainmod.sync_holdings(p) == 1
    with p.read() as s:
        h = s.get(Holding, tok.token_id)
    assert (h.owner_address, h.burned) == (custodial.address, False)
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(DomainEvent).where(DomainEvent.type == "nft.minted")) == 1


def test_domain_event_mints_first_supporters(world):
    """``first_supporters`` reacts to ``entitlement.granted`` at once (on_event), up to its limit."""
    p, artist_id = world
    _, crit_id, _ = collection_with(p, artist_id, "first_supporters", {"limit": 2, "min_rank": 1})
    fans = [member(p, artist_id, "supporter", months_ago=0.1 * (3 - i)) for i in range(3)]
    queued = tokens(p)
    assert sorted(t.user_id for t in queued) == sorted(f.id for f in fans[:2])
    assert [t.evidence["position"] for t in sorted(queued, key=lambda t: t.evidence["position"])] == [1, 2]
    assert criteria.evaluate(p, crit_id) == 0  # the third is over the limit, the first two hold one
    minting.tick(p)
    assert {t.status for t in tokens(p)} == {"confirmed"}


def test_top_fan_of_the_month_from_counted_plays(world):
    from musicconnect import emit

    p, artist_id = world
    fans = [make_user(p) for _ in range(4)]
    month_start = p.clock.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (month_start - timedelta(days=1)).replace(day=10)
    with p.session() as s:
        for plays, fan in zip((5, 9, 1, 7), fans):
            for _ in range(plays):
                emit(p, s, "play.counted", actor_id=fan.id, artist_id=artist_id, data={}, at=last_month)
        emit(p, s, "play.counted", actor_id=fans[2].id, artist_id=artist_id, data={}, at=month_start + timedelta(hours=1))
    _, crit_id, _ = collection_with(p, artist_id, "top_fan_month", {"top": 2})
    assert criteria.evaluate(p, crit_id) == 2
    got = {t.user_id: t.evidence for t in tokens(p)}
    assert set(got) == {fans[1].id, fans[3].id}
    assert got[fans[1].id]["rank"] == 1 and got[fans[1].id]["plays"] == 9
    assert got[fans[1].id]["month"] == last_month.strftime("%Y-%m")


def test_invalid_criterion_is_refused(world):
    from musicconnect import Problem

    p, artist_id = world
    with pytest.raises(Problem) as err:
        collection_with(p, artist_id, "tier_months", {"tier_rank": 0, "months": 3})
    assert err.value.status == 422 and err.value.slug == "nft-invalid-criterion"
    with pytest.raises(Problem):
        collection_with(p, artist_id, "free_lunch", {}, slug="x")


def test_edited_criterion_new_version_no_retroactive_burn(world):
    p, artist_id = world
    early = member(p, artist_id, "superfan", months_ago=4)
    later = member(p, artist_id, "superfan", months_ago=2)
    _, crit_id, key = collection_with(p, artist_id, "tier_months", {"tier_rank": 2, "months": 3})
    criteria.evaluate_all(p)
    minting.tick(p)
    [first] = tokens(p)
    assert (first.user_id, first.status, first.criterion_version) == (early.id, "confirmed", 1)

    with p.session() as s:
        v2 = criteria.edit_criterion(p, s, key, params={"tier_rank": 2, "months": 1})
        v2_id = v2.id
    with p.read() as s:
        rows = list(s.scalars(select(Criterion).where(Criterion.key == key).order_by(Criterion.version)))
    assert [(c.version, c.current, c.params["months"]) for c in rows] == [(1, False, 3), (2, True, 1)]
    assert criteria.evaluate(p, crit_id) == 0  # the old version mints no more
    assert criteria.evaluate(p, v2_id) == 1  # the newly qualifying fan; the early one keeps their v1 token
    minting.tick(p)
    by_user = {t.user_id: t for t in tokens(p)}
    assert by_user[later.id].criterion_version == 2 and by_user[later.id].status == "confirmed"
    assert by_user[early.id].criterion_version == 1 and by_user[early.id].status == "confirmed"

    # stricter again: nobody loses a token
    with p.session() as s:
        criteria.edit_criterion(p, s, key, params={"tier_rank": 2, "months": 24})
    criteria.evaluate_all(p)
    minting.tick(p)
    assert {t.status for t in tokens(p)} == {"confirmed"} and len(tokens(p)) == 2
    ch = chainmod.get_chain(p)
    assert ch.contract.functions.totalSupply().call() == 2


def test_rpc_down_queues_and_retries_without_double_mint(world):
    p, artist_id = world
    fan = member(p, artist_id, "superfan", months_ago=4)
    _, crit_id, _ = collection_with(p, artist_id, "tier_months", {"tier_rank": 2, "months": 3})
    ch = chainmod.get_chain(p)
    criteria.evaluate(p, crit_id)
    [tok] = tokens(p)

    ch.embedded.down = True  # the node is unreachable
    with pytest.raises(chainmod.ChainDown):
        drive(p, tok.id)
    assert minting.tick(p)["errors"] >= 1
    [tok] = tokens(p)
    assert tok.status == "queued" and tok.raw_tx is None and "unreachable" in tok.last_error

    # the node comes back, but the answer to the broadcast is lost: the transaction did go out
    ch.embedded.down = False
    real_send = ch.w3.eth.send_raw_transaction
    calls = []

    def send_then_lose_answer(raw):
        calls.append(raw)
        real_send(raw)
        raise ConnectionError("connection reset by peer")

    ch.w3.eth.send_raw_transaction = send_then_lose_answer
    try:
        with pytest.raises(chainmod.ChainDown):
            drive(p, tok.id)
    finally:
        ch.w3.eth.send_raw_transaction = real_send
    [tok] = tokens(p)
    assert tok.status == "queued" and tok.raw_tx is not None and tok.nonce is not None
    signed_hash, nonce = tok.tx_hash, tok.nonce

    # the retry re-sends the very same signed transaction: same hash, same nonce, one token
    assert minting.tick(p)["minted"] == 1
    [tok] = tokens(p)
    assert (tok.status, tok.tx_hash, tok.nonce) == ("confirmed", signed_hash, nonce)
    assert len(calls) == 1 and ch.contract.functions.totalSupply().call() == 1
    assert ch.contract.functions.balanceOf(tok.owner_address).call() == 1
    assert fan.id == tok.user_id


def test_reverted_transaction_recorded_with_reason(world):
    p, artist_id = world
    member(p, artist_id, "superfan", months_ago=4)
    member(p, artist_id, "superfan", months_ago=5)
    coll_id, crit_id, _ = collection_with(p, artist_id, "tier_months", {"tier_rank": 2, "months": 3})
    ch = chainmod.get_chain(p)
    criteria.evaluate(p, crit_id)
    a, b = tokens(p)
    # both ids get taken on chain behind the platform's back (out-of-band, same minter key)
    for t in (a, b):
        ch.w3.eth.wait_for_transaction_receipt(ch.contract.functions.mint(
            ch.minter, int(t.token_id), 1).transact({"from": ch.minter}))

    # the simulation catches it: recorded, no transaction, no nonce spent
    assert drive(p, a.id) == "failed"
    a = tokens(p, id=a.id)[0]
    assert a.revert_reason == "already minted" and a.tx_hash is None and a.nonce is None

    # mined and reverted (the state changed after the simulation): the reason is recovered
    assert drive(p, b.id, preflight=False) == "failed"
    b = tokens(p, id=b.id)[0]
    assert b.status == "failed" and b.tx_hash and b.revert_reason == "already minted"
    assert ch.w3.eth.get_transaction_receipt(b.tx_hash)["status"] == 0
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(DomainEvent).where(DomainEvent.type == "nft.mint_failed")) == 1
    # a failed token is not re-queued by the rule (one token per fan and criterion)
    assert criteria.evaluate(p, crit_id) == 0
    assert coll_id


def test_two_workers_mint_concurrently_without_nonce_collision(mc_make_platform, mc_settings):
    """Two platforms (two worker processes' worth: own engines, own caches) on one database and
    one chain drive the same backlog at the same time."""
    chain_name = f"two-workers-{uuid.uuid4().hex[:8]}"
    config = {**mc_settings.plugin_config, "nft": {"rpc_url": f"eth-tester://{chain_name}"}}
    p1 = mc_make_platform(plugin_config=config)
    p2 = mc_make_platform(plugin_config=config, migrate_db=False)
    artist = make_user(p1, "artist", artist_name="Concurrent")
    n = 12
    fans = [member(p1, artist.artist_id, "superfan", months_ago=4) for _ in range(n)]
    _, crit_id, _ = collection_with(p1, artist.artist_id, "tier_months", {"tier_rank": 2, "months": 3})
    # both evaluate at once: still one token per fan
    assert sum(concurrently(2, lambda i: criteria.evaluate((p1, p2)[i], crit_id))) == n
    assert len(tokens(p1)) == n
    chainmod.get_chain(p1)  # deploy once before the race
    ids = [t.id for t in tokens(p1)]
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(i):
        p = (p1, p2)[i]
        order = ids if i == 0 else list(reversed(ids))
        for tid in order:
            for _ in range(20):
                try:
                    drive(p, tid)
                    break
                except chainmod.ChainDown as exc:  # a nonce gap that outlived the patience: retry
                    with lock:
                        errors.append(exc)
        return True

    assert concurrently(2, worker) == [True, True]
    minting.tick(p1)
    rows = tokens(p1)
    assert [r.status for r in rows] == ["confirmed"] * n
    nonces = sorted(r.nonce for r in rows)
    assert len(set(nonces)) == n and nonces == list(range(nonces[0], nonces[0] + n))  # no collision, no gap
    assert len({r.tx_hash for r in rows}) == n
    ch = chainmod.get_chain(p2)
    assert ch.contract.functions.totalSupply().call() == n
    assert sorted(r.user_id for r in rows) == sorted(f.id for f in fans)
    with p1.read() as s:
        slot = s.get(NonceSlot, ch.minter)
        assert slot.next_nonce == ch.w3.eth.get_transaction_count(ch.minter)
        assert s.scalar(select(func.count()).select_from(DomainEvent).where(DomainEvent.type == "nft.minted")) == n


def test_custodial_key_encrypted_at_rest(world):
    from eth_account import Account

    p, _ = world
    fan = make_user(p)
    with p.session() as s:
        w = wallets.custodial_wallet(p, s, fan.id)
        again = wallets.custodial_wallet(p, s, fan.id)
        assert again.id == w.id
        key = wallets.decrypt_key(p, w)
        assert Account.from_key(key).address == w.address
        assert key not in w.encrypted_key and key.hex().encode() not in w.encrypted_key
        # the key is bound to its owner: moved to another row, it does not decrypt
        other = make_user(p)
        w.user_id = other.id
        with pytest.raises(Exception):
            wallets.decrypt_key(p, w)
        s.rollback()


def test_linked_wallet_reissues_by_burn_and_remint(world):
    p, artist_id = world
    fan = member(p, artist_id, "superfan", months_ago=4)
    _, crit_id, _ = collection_with(p, artist_id, "tier_months", {"tier_rank": 2, "months": 3})
    criteria.evaluate(p, crit_id)
    minting.tick(p)
    [old] = tokens(p)
    ch = chainmod.get_chain(p)
    own = ch.w3.eth.accounts[5]
    with p.session() as s:
        [new] = minting.link_wallet(p, s, fan.id, own.lower(), {"message": "siwe", "signature": "0x"})
        new_id = new.id
    for _ in range(3):
        minting.tick(p)
    old = tokens(p, id=old.id)[0]
    new = tokens(p, id=new_id)[0]
    assert (old.status, old.burn_reason, old.replaced_by) == ("burned", "relinked", new_id)
    assert old.burn_tx_hash and ch.w3.eth.get_transaction_receipt(old.burn_tx_hash)["status"] == 1
    assert (new.status, new.owner_address, new.seq, new.criterion_key) == ("confirmed", own, 1, old.criterion_key)
    assert ch.contract.functions.ownerOf(int(new.token_id)).call() == own
    assert ch.contract.functions.balanceOf(old.owner_address).call() == 0
    with p.read() as s:
        assert s.get(Holding, old.token_id).burned is True
        assert s.get(Holding, new.token_id).owner_address == own
    # new mints for this fan go to the linked wallet
    with p.session() as s:
        assert wallets.holder_address(p, s, fan.id) == own


def test_erasure_burns_and_anonymises(world):
    p, artist_id = world
    fan = member(p, artist_id, "superfan", months_ago=4)
    _, crit_id, _ = collection_with(p, artist_id, "tier_months", {"tier_rank": 2, "months": 3})
    criteria.evaluate(p, crit_id)
    minting.tick(p)
    [tok] = tokens(p)
    from musicconnect.models import User
    from musicconnect_nft import privacy

    with p.session() as s:
        part = privacy.export(p, s, s.get(User, fan.id))
        assert [t["token_id"] for t in part.records["nft_tokens"]] == [tok.token_id]
        assert [w["kind"] for w in part.records["nft_wallets"]] == ["custodial"]
        assert "private" not in str(part.records)  # the custodial key is never exported
    with p.session() as s:
        report = p.erase_user_data(s, s.get(User, fan.id))
    assert report is not None
    minting.tick(p)
    tok = tokens(p, id=tok.id)[0]
    assert (tok.status, tok.burn_reason, tok.user_id, tok.evidence) == ("burned", "erased", None, {})
    assert tok.user_key.startswith("erased:")
    ch = chainmod.get_chain(p)
    assert ch.contract.functions.totalSupply().call() == 0
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(Wallet)) == 0


def test_artist_configures_rules_over_http_and_fans_get_tokens(mc_client, mc_platform, mc_users):
    """End to end through HTTP and the jobs worker: collection, criterion, evaluation job, mint job
    on eth-tester, the artist's token list, an edit (new version), refusals, an admin's fraud burn."""
    p = mc_platform
    artist, fan, admin = mc_users.artist, mc_users.fan, mc_users.admin
    aid = artist.artist_id
    member(p, aid, "superfan", months_ago=4, user=fan)

    r = mc_client.post(f"/api/v1/nft/artists/{aid}/collections", headers=artist.headers,
                       json={"slug": "superfans", "name": "Superfans", "perks": {"backstage_days": 30}})
    assert r.status_code == 201, r.text
    coll = r.json()
    assert coll["perks"] == {"backstage_days": 30} and coll["chain_collection"] > 0
    r = mc_client.post(f"/api/v1/nft/artists/{aid}/collections", headers=artist.headers,
                       json={"slug": "superfans", "name": "again"})
    assert r.status_code == 409 and r.json()["type"].endswith("/nft-collection-exists")
    r = mc_client.post(f"/api/v1/nft/artists/{aid}/collections", headers=fan.headers, json={"slug": "x", "name": "x"})
    assert r.status_code == 403

    bad = mc_client.post(f"/api/v1/nft/collections/{coll['id']}/criteria", headers=artist.headers,
                         json={"kind": "tier_months", "params": {"tier_key": "superfan", "months": -1}})
    assert bad.status_code == 422 and bad.json()["type"].endswith("/nft-invalid-criterion")
    r = mc_client.post(f"/api/v1/nft/collections/{coll['id']}/criteria", headers=artist.headers,
                       json={"kind": "tier_months", "params": {"tier_key": "superfan", "months": 3},
                             "title": "Superfan for 3 months"})
    assert r.status_code == 201, r.text
    crit = r.json()
    assert crit["version"] == 1 and crit["current"] is True
    p.jobs.wait_idle(timeout=60)  # nft.evaluate, then nft.mint

    rows = mc_client.get(f"/api/v1/nft/collections/{coll['id']}/tokens", headers=artist.headers).json()
    assert len(rows) == 1, rows
    if rows[0]["status"] != "confirmed":  # a receipt not read yet: the periodic job's turn
        minting.tick(p)
        rows = mc_client.get(f"/api/v1/nft/collections/{coll['id']}/tokens", headers=artist.headers).json()
    [row] = rows
    assert row["status"] == "confirmed" and row["tx_hash"].startswith("0x") and row["criterion_version"] == 1
    ch = chainmod.get_chain(p)
    assert ch.contract.functions.locked(int(row["token_id"])).call() is True
    assert mc_client.get(f"/api/v1/nft/collections/{coll['id']}/tokens", headers=fan.headers).status_code == 403

    # the evaluation again (asked by the artist): still one token
    r = mc_client.post(f"/api/v1/nft/collections/{coll['id']}/evaluate", headers=artist.headers)
    assert r.status_code == 202
    p.jobs.wait_idle(timeout=60)
    assert len(mc_client.get(f"/api/v1/nft/collections/{coll['id']}/tokens", headers=artist.headers).json()) == 1

    # edit: a new version; the minted token stays
    r = mc_client.put(f"/api/v1/nft/criteria/{crit['key']}", headers=artist.headers,
                      json={"params": {"tier_key": "superfan", "months": 12}})
    assert r.status_code == 200 and r.json()["version"] == 2
    p.jobs.wait_idle(timeout=60)
    listed = mc_client.get(f"/api/v1/nft/artists/{aid}/collections", headers=artist.headers).json()
    assert [(c["version"], c["current"]) for c in listed[0]["criteria"]] == [(1, False), (2, True)]
    public = mc_client.get(f"/api/v1/nft/artists/{aid}/collections").json()
    assert [(c["version"], c["params"]["months"]) for c in public[0]["criteria"]] == [(2, 12)]
    [row] = mc_client.get(f"/api/v1/nft/collections/{coll['id']}/tokens", headers=artist.headers).json()
    assert row["status"] == "confirmed" and row["burn_reason"] is None

    # fraud: an admin revokes; the platform burns it on chain
    assert mc_client.post(f"/api/v1/nft/admin/tokens/{row['token_id']}/revoke", headers=artist.headers,
                          json={}).status_code == 403
    r = mc_client.post(f"/api/v1/nft/admin/tokens/{row['token_id']}/revoke", headers=admin.headers,
                       json={"note": "farmed"})
    assert r.status_code == 202
    p.jobs.wait_idle(timeout=60)
    [row] = mc_client.get(f"/api/v1/nft/collections/{coll['id']}/tokens", headers=artist.headers).json()
    assert (row["status"], row["burn_reason"]) == ("burned", "fraud")
    assert ch.contract.functions.totalSupply().call() == 0
    assert mc_client.delete(f"/api/v1/nft/criteria/{crit['key']}", headers=artist.headers).status_code == 204
    assert mc_client.delete(f"/api/v1/nft/criteria/{crit['key']}", headers=artist.headers).status_code == 404


def test_demo_superfan_holds_a_token(mc_platform, mc_client):
    from musicconnect.seed import seed_demo

    p = mc_platform
    demo = seed_demo(p)
    seed_demo(p)  # idempotent
    p.jobs.wait_idle(timeout=60)
    minting.tick(p)
    [tok] = tokens(p)
    assert (tok.user_id, tok.status) == (demo.superfan.id, "confirmed")
    ch = chainmod.get_chain(p)
    assert ch.contract.functions.ownerOf(int(tok.token_id)).call() == tok.owner_address
    with p.read() as s:
        assert s.get(Holding, tok.token_id).burned is False


def test_chain_down_from_the_start_then_back(world):
    """The node is unreachable before the contract is even deployed: evaluation still queues
    (no chain I/O), the periodic job reports the outage, and once the node is back the contract
    is deployed and the backlog minted with contiguous nonces."""
    p, artist_id = world
    embedded = chainmod.embedded_of(p)
    embedded.down = True
    fans = [member(p, artist_id, "superfan", months_ago=4) for _ in range(3)]
    _, crit_id, _ = collection_with(p, artist_id, "tier_months", {"tier_rank": 2, "months": 3})
    assert criteria.evaluate(p, crit_id) == 3
    with pytest.raises(chainmod.ChainDown):
        chainmod.get_chain(p)
    assert minting.tick(p)["errors"] >= 1
    assert {t.status for t in tokens(p)} == {"queued"}
    embedded.down = False
    assert minting.tick(p)["minted"] == 3
    rows = tokens(p)
    assert sorted(t.user_id for t in rows) == sorted(f.id for f in fans)
    assert sorted(t.nonce for t in rows) == [1, 2, 3]  # 0 deployed the contract


WORKER = r"""
import os, sys, time, uuid
from musicconnect.platform import Platform
from musicconnect.settings import Settings
from musicconnect_nft import chain, minting

p = Platform(Settings(data_dir=os.environ["NFT_DATA_DIR"], database_url=os.environ["NFT_DB"]))
ids = [uuid.UUID(x) for x in sys.argv[1:]]
done = 0
for tid in ids:
    for _ in range(200):
        try:
            minting.mint_token(p, tid)
            done += 1
            break
        except chain.ChainDown:
            time.sleep(0.02)
p.close()
print("minted-or-seen", done)
"""


def test_two_worker_processes_over_json_rpc(mc_make_platform, mc_settings, monkeypatch):
    """Two separate worker processes (own interpreters, engines and web3 connections) drive one
    backlog against one node over HTTP JSON-RPC and one database: no nonce is used twice or
    skipped, no token is minted twice."""
    import os
    import subprocess
    import sys

    from nft_rpc_server import RpcChain

    rpc = RpcChain()
    try:
        monkeypatch.setenv("MC_NFT_MINTER_KEY", rpc.funded_key_hex)
        config = {**mc_settings.plugin_config, "nft": {"rpc_url": rpc.url}}
        p = mc_make_platform(plugin_config=config)
        artist = make_user(p, "artist", artist_name="Processes")
        n = 10
        for _ in range(n):
            member(p, artist.artist_id, "superfan", months_ago=4)
        _, crit_id, _ = collection_with(p, artist.artist_id, "tier_months", {"tier_rank": 2, "months": 3})
        assert criteria.evaluate(p, crit_id) == n
        ch = chainmod.get_chain(p)  # deployed over HTTP
        assert type(ch.w3.provider).__name__ == "HTTPProvider"
        ids = [str(t.id) for t in tokens(p)]
        env = {**os.environ, "NFT_DATA_DIR": str(mc_settings.data_dir), "NFT_DB": p.settings.effective_database_url,
               "MC_PLUGINS": "nft", "MC_NFT_RPC_URL": rpc.url, "MC_NFT_MINTER_KEY": rpc.funded_key_hex}
        procs = [subprocess.Popen([sys.executable, "-c", WORKER, *order], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for order in (ids, list(reversed(ids)))]
        outs = [proc.communicate(timeout=240) for proc in procs]
        assert [proc.returncode for proc in procs] == [0, 0], [o[1][-2000:] for o in outs]
        assert all(f"minted-or-seen {n}" in o[0] for o in outs), outs
        minting.tick(p)
        rows = tokens(p)
        assert [r.status for r in rows] == ["confirmed"] * n, [(r.status, r.last_error) for r in rows]
        nonces = sorted(r.nonce for r in rows)
        assert nonces == list(range(nonces[0], nonces[0] + n))
        assert len({r.tx_hash for r in rows}) == n
        assert ch.contract.functions.totalSupply().call() == n
        assert ch.w3.eth.get_transaction_count(ch.minter) == nonces[-1] + 1  # nothing else was sent
        chainmod.sync_holdings(p)
        with p.read() as s:
            assert s.scalar(select(func.count()).select_from(Holding)) == n
    finally:
        rpc.close()


def test_rolling_top_fan_rule_gives_one_token_per_month(world, monkeypatch):
    """Without ``month`` the rule rolls: May's top fan gets May's token, June's gets June's, and
    being top again in June gives the same fan a second token (its ``period``), never two for May."""
    from musicconnect import emit

    p, artist_id = world
    a, b = make_user(p), make_user(p)
    _, crit_id, _ = collection_with(p, artist_id, "top_fan_month", {"top": 1})
    first = p.clock.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    may = (first - timedelta(days=1)).replace(day=5)
    with p.session() as s:
        for _ in range(3):
            emit(p, s, "play.counted", actor_id=a.id, artist_id=artist_id, data={}, at=may)
        emit(p, s, "play.counted", actor_id=b.id, artist_id=artist_id, data={}, at=may)
        for _ in range(2):  # this month, a leads again
            emit(p, s, "play.counted", actor_id=a.id, artist_id=artist_id, data={}, at=first + timedelta(days=2))
    assert criteria.evaluate(p, crit_id) == 1
    assert criteria.evaluate(p, crit_id) == 0  # idempotent within the month
    p.clock.set((first + timedelta(days=40)).replace(day=2))  # the month is over
    assert criteria.evaluate(p, crit_id) == 1
    assert criteria.evaluate(p, crit_id) == 0
    got = sorted((t.period, t.user_id, t.evidence["month"]) for t in tokens(p))
    assert [(g[0], g[1]) for g in got] == [(may.strftime("%Y-%m"), a.id), (first.strftime("%Y-%m"), a.id)]
    assert all(g[0] == g[2] for g in got)
    minting.tick(p)
    assert {t.status for t in tokens(p)} == {"confirmed"}
    monkeypatch.setattr(minting, "holds_criterion", lambda *a, **k: False)
    with p.session() as s:  # the uniqueness is the database's, not only the check before it
        crit = s.get(Criterion, crit_id)
        tok = minting.queue_mint(p, s, a.id, crit, {"kind": "top_fan_month", "month": may.strftime("%Y-%m")})
    assert tok is None


def test_fixed_month_and_versions_share_one_token(world, monkeypatch):
    """A fixed-month rule, edited to a new version, still gives the fan one token in all."""
    from musicconnect import emit

    p, artist_id = world
    fan = make_user(p)
    first = p.clock.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    may = (first - timedelta(days=1)).replace(day=5)
    with p.session() as s:
        emit(p, s, "play.counted", actor_id=fan.id, artist_id=artist_id, data={}, at=may)
    _, crit_id, key = collection_with(p, artist_id, "top_fan_month", {"top": 1, "month": may.strftime("%Y-%m")})
    assert criteria.evaluate(p, crit_id) == 1
    with p.session() as s:
        v2 = criteria.edit_criterion(p, s, key, params={"top": 5, "month": may.strftime("%Y-%m")})
        v2_id = v2.id
    assert criteria.evaluate(p, v2_id) == 0
    monkeypatch.setattr(minting, "holds_criterion", lambda *a, **k: False)
    with p.session() as s:  # even bypassing the check: the constraint holds across versions
        tok = minting.queue_mint(p, s, fan.id, s.get(Criterion, v2_id), {"kind": "top_fan_month"})
    assert tok is None
    assert [t.period for t in tokens(p)] == [""]


def test_moving_the_platform_moves_token_uris(mc_make_platform, mc_settings):
    """The operator changes ``base_url``: the next tick points the contract at the new address
    (setBaseURI, EIP-4906 BatchMetadataUpdate), once, with a nonce from the allocator."""
    chain_name = f"moved-{uuid.uuid4().hex[:8]}"
    config = {**mc_settings.plugin_config, "nft": {"rpc_url": f"eth-tester://{chain_name}"}}
    old = mc_make_platform(plugin_config=config, base_url="https://old.example")
    artist = make_user(old, "artist", artist_name="Movers")
    member(old, artist.artist_id, "superfan", months_ago=4)
    _, crit_id, _ = collection_with(old, artist.artist_id, "tier_months", {"tier_rank": 2, "months": 3})
    assert criteria.evaluate(old, crit_id) == 1
    minting.tick(old)
    [tok] = tokens(old)
    ch = chainmod.get_chain(old)
    assert ch.contract.functions.tokenURI(int(tok.token_id)).call() == f"https://old.example/api/v1/nft/tokens/{tok.token_id}"
    start = ch.w3.eth.block_number

    new = mc_make_platform(plugin_config=config, migrate_db=False, base_url="https://fans.example.org/")
    assert minting.tick(new)["errors"] == 0
    ch2 = chainmod.get_chain(new)
    assert ch2.address == ch.address  # the same deployment, found in the database
    assert ch2.contract.functions.tokenURI(int(tok.token_id)).call() == \
        f"https://fans.example.org/api/v1/nft/tokens/{tok.token_id}"
    [update] = ch2.contract.events.BatchMetadataUpdate().get_logs(from_block=start + 1)
    assert (update["args"]["_fromTokenId"], update["args"]["_toTokenId"]) == (0, 2**256 - 1)
    sent = ch2.w3.eth.get_transaction_count(ch2.minter)
    minting.tick(new)
    chainmod.forget(new)
    minting.tick(new)  # a fresh connection checks again and finds nothing to do
    assert ch2.w3.eth.get_transaction_count(ch2.minter) == sent
    with new.read() as s:  # its nonce came from the allocator: the next mint does not collide
        assert s.get(NonceSlot, ch2.minter).next_nonce == sent


def test_a_sent_transaction_the_node_dropped_is_sent_again(world):
    """The node took the mint, then lost it (evicted from its pool, restarted): the next tick
    re-broadcasts the very same signed transaction (same nonce, same hash), so the token is
    confirmed and the mints after it are not stuck behind a nonce gap."""
    p, artist_id = world
    member(p, artist_id, "superfan", months_ago=4)
    _, crit_id, _ = collection_with(p, artist_id, "tier_months", {"tier_rank": 2, "months": 3})
    ch = chainmod.get_chain(p)
    assert criteria.evaluate(p, crit_id) == 1
    [tok] = tokens(p)
    real_send = ch.w3.eth.send_raw_transaction
    ch.w3.eth.send_raw_transaction = lambda raw: None  # accepted, then gone
    try:
        assert minting.mint_token(p, tok.id) == "sent"
    finally:
        ch.w3.eth.send_raw_transaction = real_send
    [tok] = tokens(p)
    assert ch.w3.eth.get_transaction_count(ch.minter, "pending") == tok.nonce  # the chain never saw it
    sent_hash = tok.tx_hash
    member(p, artist_id, "superfan", months_ago=4)  # a second fan queues behind it (at once, on_event)
    assert len(tokens(p)) == 2
    minting.tick(p)
    rows = tokens(p)
    assert [r.status for r in rows] == ["confirmed", "confirmed"]
    assert rows[0].tx_hash == sent_hash and sorted(r.nonce for r in rows) == [tok.nonce, tok.nonce + 1]

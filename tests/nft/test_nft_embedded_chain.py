"""The embedded default chain (no ``MC_NFT_RPC_URL``) is kept in the data directory: a restarted
platform finds its contract, tokens and nonces where it left them; a second process cannot open
it at the same time."""
from __future__ import annotations

import subprocess
import sys

from musicconnect.testing import make_user
from musicconnect_nft import chain as chainmod
from musicconnect_nft import criteria, minting
from musicconnect_nft.models import Token
from sqlalchemy import select


def test_tokens_survive_a_restart(mc_make_platform, mc_settings):
    p = mc_make_platform()
    p.started = True  # close() runs the shutdown hooks as after a real start
    artist = make_user(p, "artist", artist_name="Restarted")
    fan = make_user(p)
    with p.session() as s:
        coll = criteria.create_collection(p, s, artist.artist_id, slug="early", name="Early")
        crit = criteria.add_criterion(p, s, coll, kind="first_supporters", params={"limit": 5, "min_rank": 1},
                                      title="early")
        crit_id, criterion_type = crit.id, type(crit)
        p.entitlements.grant(s, user_id=fan.id, artist_id=artist.artist_id, tier_id=_tier(s, artist.artist_id),
                             source="test", source_ref="early")
    criteria.evaluate(p, crit_id)
    minting.tick(p)
    with p.read() as s:
        [tok] = s.scalars(select(Token)).all()
    assert tok.status == "confirmed"
    ch = chainmod.get_chain(p)
    address, minter, height = ch.address, ch.minter, ch.w3.eth.block_number
    assert chainmod.chain_file(p).exists()
    p.close()  # the process stops: the file is released

    again = mc_make_platform(migrate_db=False)
    ch2 = chainmod.get_chain(again)
    assert (ch2.address, ch2.minter) == (address, minter)
    assert ch2.w3.eth.block_number == height
    assert ch2.contract.functions.ownerOf(int(tok.token_id)).call() == tok.owner_address
    assert ch2.w3.eth.get_transaction_receipt(tok.tx_hash)["status"] == 1
    other = make_user(again)  # and it goes on minting from the next nonce
    with again.session() as s:
        token = minting.queue_mint(again, s, other.id, s.get(criterion_type, crit_id), {"kind": "first_supporters"})
        row = token.id
    assert minting.mint_token(again, row) == "confirmed"
    assert ch2.contract.functions.totalSupply().call() == 2


def _tier(s, artist_id):
    from musicconnect.models import Tier

    return s.scalar(select(Tier.id).where(Tier.artist_id == artist_id, Tier.key == "supporter"))


def test_a_second_process_is_refused_with_a_clear_reason(mc_platform):
    chainmod.get_chain(mc_platform)  # this process holds the chain file
    path = chainmod.chain_file(mc_platform)
    code = ("import sys; from pathlib import Path; from musicconnect import Problem\n"
            "from musicconnect_nft.chain import embedded_chain\n"
            "try:\n    embedded_chain('x', Path(sys.argv[1]))\n"
            "except Problem as p:\n    print(p.slug, p.detail); sys.exit(3)\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 3, out.stderr
    assert out.stdout.startswith("nft-chain-unavailable") and "MC_NFT_RPC_URL" in out.stdout


def test_a_lost_chain_file_is_named_not_minted_into(mc_make_platform):
    from musicconnect import Problem

    p = mc_make_platform()
    p.started = True
    chainmod.get_chain(p)
    path = chainmod.chain_file(p)
    p.close()
    path.unlink()
    again = mc_make_platform(migrate_db=False)
    try:
        chainmod.get_chain(again)
    except Problem as problem:
        assert problem.slug == "nft-chain-unavailable" and "nft-chain.sqlite" in problem.detail
    else:
        raise AssertionError("a reset chain was used as if it held the contract")

"""The soulbound contract on a real EVM (eth-tester on py-evm): compiled from the Vyper source by
the plugin, deployed, minted, locked, transfers refused, burns by holder or platform only."""
from __future__ import annotations

import pytest
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed
from web3 import EthereumTesterProvider, Web3
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from musicconnect_nft.chain import compiled

REVERTS = (TransactionFailed, ContractLogicError)
TOKEN = 2**128 - 12345  # token ids are 128-bit row ids


@pytest.fixture(scope="module")
def build():
    return compiled()


@pytest.fixture
def chain(build):
    w3 = Web3(EthereumTesterProvider(EthereumTester(PyEVMBackend())))
    admin, fan, other = w3.eth.accounts[:3]
    factory = w3.eth.contract(abi=build["abi"], bytecode=build["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor("Proof", "FAN", "https://mc.example/api/v1/nft/tokens/").transact({"from": admin}))
    contract = w3.eth.contract(address=receipt["contractAddress"], abi=build["abi"])
    return w3, contract, admin, fan, other


def mint(w3, contract, sender, to, token=TOKEN, collection=7):
    return w3.eth.wait_for_transaction_receipt(contract.functions.mint(to, token, collection).transact({"from": sender}))


def test_interface_ids(chain):
    _, c, *_ = chain
    for iid in ("01ffc9a7", "80ac58cd", "5b5e139f", "b45a3c0e", "49064906"):  # ERC-165, -721, metadata, 5192, 4906
        assert c.functions.supportsInterface(bytes.fromhex(iid)).call() is True
    assert c.functions.supportsInterface(bytes.fromhex("ffffffff")).call() is False
    assert c.functions.supportsInterface(bytes.fromhex("780e9d63")).call() is False  # not enumerable


def test_mint_locks_and_points_at_the_platform(chain):
    w3, c, admin, fan, _ = chain
    receipt = mint(w3, c, admin, fan)
    assert receipt["status"] == 1
    assert c.functions.ownerOf(TOKEN).call() == fan
    assert c.functions.balanceOf(fan).call() == 1
    assert c.functions.totalSupply().call() == 1
    assert c.functions.collectionOf(TOKEN).call() == 7
    assert c.functions.locked(TOKEN).call() is True
    assert c.functions.tokenURI(TOKEN).call() == f"https://mc.example/api/v1/nft/tokens/{TOKEN}"
    transfers = c.events.Transfer().process_receipt(receipt, errors=DISCARD)
    assert [(e["args"]["sender"], e["args"]["receiver"], e["args"]["token_id"]) for e in transfers] == [
        ("0x" + "00" * 20, fan, TOKEN)]
    locked = c.events.Locked().process_receipt(receipt, errors=DISCARD)
    assert [e["args"]["tokenId"] for e in locked] == [TOKEN]
    with pytest.raises(REVERTS, match="no such token"):
        c.functions.locked(TOKEN + 1).call()


def test_only_minters_mint_and_never_twice(chain):
    w3, c, admin, fan, other = chain
    with pytest.raises(REVERTS, match="not a minter"):
        c.functions.mint(fan, TOKEN, 1).transact({"from": other})
    mint(w3, c, admin, fan)
    with pytest.raises(REVERTS, match="already minted"):
        c.functions.mint(other, TOKEN, 1).transact({"from": admin})
    with pytest.raises(REVERTS, match="only the admin"):
        c.functions.setMinter(other, True).transact({"from": other})
    w3.eth.wait_for_transaction_receipt(c.functions.setMinter(other, True).transact({"from": admin}))
    mint(w3, c, other, fan, token=TOKEN + 1)
    assert c.functions.balanceOf(fan).call() == 2


def test_transfers_and_approvals_revert(chain):
    w3, c, admin, fan, other = chain
    mint(w3, c, admin, fan)
    with pytest.raises(REVERTS, match="soulbound: token is locked"):
        c.functions.transferFrom(fan, other, TOKEN).transact({"from": fan})
    with pytest.raises(REVERTS, match="soulbound: token is locked"):
        c.functions.safeTransferFrom(fan, other, TOKEN).transact({"from": fan})
    with pytest.raises(REVERTS, match="soulbound: token is locked"):
        c.get_function_by_signature("safeTransferFrom(address,address,uint256,bytes)")(
            fan, other, TOKEN, b"x").transact({"from": fan})
    with pytest.raises(REVERTS, match="soulbound: token is locked"):  # not even the platform moves it
        c.functions.transferFrom(fan, other, TOKEN).transact({"from": admin})
    with pytest.raises(REVERTS, match="approvals are disabled"):
        c.functions.approve(other, TOKEN).transact({"from": fan})
    with pytest.raises(REVERTS, match="approvals are disabled"):
        c.functions.setApprovalForAll(other, True).transact({"from": fan})
    assert c.functions.getApproved(TOKEN).call() == "0x" + "00" * 20
    assert c.functions.isApprovedForAll(fan, other).call() is False
    assert c.functions.ownerOf(TOKEN).call() == fan


def test_burn_by_holder_or_platform_only(chain):
    w3, c, admin, fan, other = chain
    mint(w3, c, admin, fan)
    mint(w3, c, admin, fan, token=TOKEN + 1)
    with pytest.raises(REVERTS, match="only the holder or the platform"):
        c.functions.burn(TOKEN).transact({"from": other})
    r = w3.eth.wait_for_transaction_receipt(c.functions.burn(TOKEN).transact({"from": fan}))  # the holder
    [ev] = c.events.Transfer().process_receipt(r, errors=DISCARD)
    assert (ev["args"]["sender"], ev["args"]["receiver"]) == (fan, "0x" + "00" * 20)
    w3.eth.wait_for_transaction_receipt(c.functions.burn(TOKEN + 1).transact({"from": admin}))  # the platform (fraud)
    assert c.functions.balanceOf(fan).call() == 0
    assert c.functions.totalSupply().call() == 0
    with pytest.raises(REVERTS, match="no such token"):
        c.functions.ownerOf(TOKEN).call()
    with pytest.raises(REVERTS, match="token id burned"):  # a burned id is never minted again
        c.functions.mint(fan, TOKEN, 7).transact({"from": admin})


def test_compiled_once_per_source_hash(build, tmp_path):
    again = compiled(tmp_path)
    assert again is build or again == build
    assert build["bytecode"].startswith("0x") and any(e.get("name") == "locked" for e in build["abi"])

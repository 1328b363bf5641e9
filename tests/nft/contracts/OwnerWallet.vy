# pragma version ~=0.4.0
"""
@title A minimal smart-contract wallet for tests: ERC-1271 with one owner key
@notice Accepts a 65-byte signature (r, s, v) of the asked hash by its owner; anything else gets
        0xffffffff. Stands in for a Safe or a passkey account in the nft plugin's tests.
"""

owner: public(address)


@deploy
def __init__(_owner: address):
    self.owner = _owner


@external
@view
def isValidSignature(_hash: bytes32, _signature: Bytes[1024]) -> bytes4:
    if len(_signature) != 65:
        return 0xffffffff
    r: uint256 = convert(slice(_signature, 0, 32), uint256)
    s: uint256 = convert(slice(_signature, 32, 32), uint256)
    v: uint256 = convert(convert(slice(_signature, 64, 1), bytes1), uint256)
    if ecrecover(_hash, v, r, s) == self.owner:
        return 0x1626ba7e
    return 0xffffffff

# pragma version ~=0.4.0
"""
@title MusicConnect Proof-of-Fandom
@notice Soulbound fan tokens: ERC-721 + ERC-721 Metadata + EIP-5192 (minimal soulbound).
        One deployment per platform; each token belongs to one artist collection
        (``collectionOf``). Only addresses with the minter role mint. Tokens never move:
        ``locked`` is true for every token and every transfer or approval reverts. A token
        is burned by its holder, or by the platform (a minter) for fraud, erasure or a
        re-issue to the fan's own wallet.
"""

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    token_id: indexed(uint256)

event Approval:
    owner: indexed(address)
    approved: indexed(address)
    token_id: indexed(uint256)

event ApprovalForAll:
    owner: indexed(address)
    operator: indexed(address)
    approved: bool

# EIP-5192
event Locked:
    tokenId: uint256

event Unlocked:
    tokenId: uint256

event Minted:
    token_id: indexed(uint256)
    collection: indexed(uint64)
    receiver: address

# EIP-4906: marketplaces refetch every token's metadata (the platform moved: a new base URI)
event BatchMetadataUpdate:
    _fromTokenId: uint256
    _toTokenId: uint256

event MinterSet:
    minter: indexed(address)
    enabled: bool

# ERC-165, ERC-721, ERC-721 Metadata, EIP-5192, EIP-4906
SUPPORTED_INTERFACES: constant(bytes4[5]) = [0x01ffc9a7, 0x80ac58cd, 0x5b5e139f, 0xb45a3c0e, 0x49064906]

admin: public(address)
minters: public(HashMap[address, bool])
name: public(String[64])
symbol: public(String[16])
baseURI: public(String[200])
collectionOf: public(HashMap[uint256, uint64])
totalSupply: public(uint256)

owners: HashMap[uint256, address]
balances: HashMap[address, uint256]
# a burned id is never minted again
spent: HashMap[uint256, bool]


@deploy
def __init__(_name: String[64], _symbol: String[16], _base_uri: String[200]):
    self.admin = msg.sender
    self.minters[msg.sender] = True
    self.name = _name
    self.symbol = _symbol
    self.baseURI = _base_uri
    log MinterSet(minter=msg.sender, enabled=True)


@external
@view
def supportsInterface(interface_id: bytes4) -> bool:
    return interface_id in SUPPORTED_INTERFACES


@external
@view
def balanceOf(owner: address) -> uint256:
    assert owner != empty(address), "zero address"
    return self.balances[owner]


@external
@view
def ownerOf(token_id: uint256) -> address:
    owner: address = self.owners[token_id]
    assert owner != empty(address), "no such token"
    return owner


@external
@view
def locked(token_id: uint256) -> bool:
    assert self.owners[token_id] != empty(address), "no such token"
    return True


@external
@view
def tokenURI(token_id: uint256) -> String[278]:
    assert self.owners[token_id] != empty(address), "no such token"
    return concat(self.baseURI, uint2str(token_id))


@external
@view
def getApproved(token_id: uint256) -> address:
    assert self.owners[token_id] != empty(address), "no such token"
    return empty(address)


@external
@view
def isApprovedForAll(owner: address, operator: address) -> bool:
    return False


@external
def approve(approved: address, token_id: uint256):
    raise "soulbound: approvals are disabled"


@external
def setApprovalForAll(operator: address, approved: bool):
    raise "soulbound: approvals are disabled"


@external
@payable
def transferFrom(sender: address, receiver: address, token_id: uint256):
    raise "soulbound: token is locked"


@external
@payable
def safeTransferFrom(sender: address, receiver: address, token_id: uint256, data: Bytes[1024] = b""):
    raise "soulbound: token is locked"


@external
def mint(receiver: address, token_id: uint256, collection: uint64):
    assert self.minters[msg.sender], "not a minter"
    assert receiver != empty(address), "zero address"
    assert self.owners[token_id] == empty(address), "already minted"
    assert not self.spent[token_id], "token id burned"
    self.owners[token_id] = receiver
    self.balances[receiver] += 1
    self.collectionOf[token_id] = collection
    self.totalSupply += 1
    log Transfer(sender=empty(address), receiver=receiver, token_id=token_id)
    log Locked(tokenId=token_id)
    log Minted(token_id=token_id, collection=collection, receiver=receiver)


@external
def burn(token_id: uint256):
    owner: address = self.owners[token_id]
    assert owner != empty(address), "no such token"
    assert msg.sender == owner or self.minters[msg.sender], "only the holder or the platform"
    self.owners[token_id] = empty(address)
    self.balances[owner] -= 1
    self.totalSupply -= 1
    self.spent[token_id] = True
    log Transfer(sender=owner, receiver=empty(address), token_id=token_id)


@external
def setMinter(minter: address, enabled: bool):
    assert msg.sender == self.admin, "only the admin"
    self.minters[minter] = enabled
    log MinterSet(minter=minter, enabled=enabled)


@external
def setBaseURI(base_uri: String[200]):
    assert msg.sender == self.admin, "only the admin"
    self.baseURI = base_uri
    log BatchMetadataUpdate(_fromTokenId=0, _toTokenId=max_value(uint256))

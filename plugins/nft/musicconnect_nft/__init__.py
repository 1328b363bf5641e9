"""MusicConnect Proof-of-Fandom: soulbound fan tokens (ERC-721 + EIP-5192) minted automatically when a
fan meets an artist's criterion, held in a custodial wallet or one the fan links, mirrored as a
Verifiable Credential, and redeemable for perks. See docs/nft.md."""

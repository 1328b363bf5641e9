"""MusicConnect co-ops: artists found a co-op, invite each other, decide together (proposals and
recorded votes under the co-op's quorum rule, notice periods for leaving and dissolving), sell
bundle tiers through the co-op's own artist account and split the revenue by a versioned rule
with a ledger that always balances. See docs/coop.md."""

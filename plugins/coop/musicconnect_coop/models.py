"""Tables of the coop plugin's governance: co-ops, members, proposals, votes (G-DOMAIN).
The ledger's tables are in ``ledger_models``."""
from __future__ import annotations

"""The action history: append-only, hash-chained record of every state change (SPEC §1)."""

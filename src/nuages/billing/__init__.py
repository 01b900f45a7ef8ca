"""Prepaid accounts: ledger, top-ups, metering, negative balance, extensions (000)."""

"""Tests of prepaid billing: ledger, top-ups, metering, suspension, extensions (000)."""

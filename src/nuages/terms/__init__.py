"""Terms as code: the terms-file schema, its loader, and the pure calculators behind it.

Everything in this package is pure — no database, no network — so the API, the portal,
the CLI and the jobs compute the same numbers from the same contract.
"""

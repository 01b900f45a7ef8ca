"""Seller identities: the legal entity that invoices each offer (``identity.py``)."""

"""Contracts: a client's acceptance of one offer version, and its life (SPEC §2, §11, §12)."""

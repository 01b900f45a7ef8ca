"""Clients, users, roles and API tokens (SPEC §1)."""

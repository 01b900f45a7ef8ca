"""Shared basics every slice uses: clock, money, errors, settings, database base.

Nothing in here imports any other part of nuages.
"""

"""Pure calculators for the numbers the contracts state.

Each module takes plain typed arguments (``Decimal``, aware ``datetime``, ``date`` and
small frozen dataclasses defined next to the function), so it does not depend on the
terms-file schema:

- ``sla``: monthly availability, credit tiers, monthly / rolling / penalty caps (002 §6, 000 §5).
- ``interest``: late-payment interest and reminder fees (000 §13.1, 001 §4.4).
- ``indexation``: yearly price revision formulas and caps (000 §13.3, 004 §8.1, 003 §14.3).
- ``proration``: upgrades billed prorata to the next invoice (003 §14.3).
- ``liability``: liability caps and the balance refund at termination (000 §12.1, §13.2,
  001 §12, 003 §6.1, 004 §13).

Percentages are given and returned on the 0–100 scale (``Decimal("99.85")`` means
99.85 %), as the terms files write them.
"""

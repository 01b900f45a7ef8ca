"""What a contract's particular conditions or quote add to its offer (the service
agreement: hourly rate, maintenance offer, managed service, change quota and prices),
and the managed-service probation (002 §4) the SLA slice asks about.

A slice of its own so that ``sla`` can ask ``in_probation`` while ``support`` files
failure notices through ``sla`` (no import cycle, tests/foundation/test_slices.py)."""

"""Which countries a transfer of personal data leaves the EU for, and on what footing
(GDPR Art. 44–49): derived from a country code, never typed by hand per client."""

from __future__ import annotations

# The EU member states plus the other EEA states (the GDPR applies there directly).
EEA = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split()
)
# Commission adequacy decisions (Art. 45) in force in 2026: AD, AR, CA (commercial
# organisations), CH, FO, GG, IL, IM, JE, JP, KR, NZ, GB, UY, US (Data Privacy Framework,
# certified organisations only).
ADEQUATE = frozenset("AD AR CA CH FO GG IL IM JE JP KR NZ GB UY US".split())


def transfer_basis(country: str, safeguard: str = "") -> str | None:
    """None inside the EEA (no transfer); else the legal footing of the transfer: an
    adequacy decision, the safeguard recorded for it, or a plain statement that none is
    recorded (which staff must remedy: 001 §5.3 forbids it without the client's accord)."""
    code = country.upper()
    if code in EEA:
        return None
    if code in ADEQUATE:
        note = " (certified organisations only)" if code == "US" else ""
        return f"adequacy decision, GDPR Art. 45{note}"
    if safeguard:
        return f"appropriate safeguards, GDPR Art. 46: {safeguard}"
    return "no safeguard recorded: a transfer without one breaches GDPR Art. 44"

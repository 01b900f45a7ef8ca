"""Checks on client identity: country codes and EU VAT numbers (python-stdnum)."""

from __future__ import annotations

import pycountry
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError

# Greece's VAT prefix is EL, not its ISO code GR.
_VAT_PREFIX = {"GR": "EL"}


def check_country(code: str) -> str:
    """Return the ISO 3166-1 alpha-2 code in upper case, or raise ValueError."""
    code = code.strip().upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def normalise_vat(number: str, country: str) -> str:
    """Validate an EU VAT number (checksum included) for ``country``; return it compact.

    Numbers of countries outside the EU VAT system are kept as given after a length
    check, since python-stdnum cannot verify them.
    """
    compact = eu_vat.compact(number)
    prefix = _VAT_PREFIX.get(country, country)
    if country.lower() in eu_vat.MEMBER_STATES:
        if not compact.startswith(prefix):
            raise ValueError(f"a VAT number of {country} starts with {prefix}")
        try:
            return str(eu_vat.validate(compact))
        except StdnumError as exc:
            raise ValueError(f"{number!r} is not a valid VAT number: {exc}") from exc
    if not 4 <= len(compact) <= 32:
        raise ValueError("a VAT number has 4 to 32 characters")
    return compact

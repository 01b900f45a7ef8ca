"""Checks on client identity: country codes and EU VAT numbers (python-stdnum)."""

from __future__ import annotations

import re

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


# Postcode formats, after upper-casing (and the canonical form to store where one exists).
_POSTCODES: dict[str, tuple[str, str]] = {
    # La Poste: 5 digits, the first two the département (01–95, 97–98 overseas; Corsica
    # keeps 20).
    "FR": (r"(?:0[1-9]|[1-8]\d|9[0-578])\d{3}", "5 digits, e.g. 75002"),
    "BE": (r"[1-9]\d{3}", "4 digits from 1000, e.g. 1000"),
    "DE": (r"\d{5}", "5 digits"),
    "NL": (r"[1-9]\d{3} ?[A-Z]{2}", "4 digits and 2 letters, e.g. 1012 AB"),
    "LU": (r"(?:L-)?\d{4}", "4 digits, e.g. L-1009"),
    "CH": (r"[1-9]\d{3}", "4 digits"),
    "AT": (r"[1-9]\d{3}", "4 digits"),
    "ES": (r"(?:0[1-9]|[1-4]\d|5[0-2])\d{3}", "5 digits, the first two 01–52"),
    "IT": (r"\d{5}", "5 digits"),
    "PT": (r"\d{4}-\d{3}", "NNNN-NNN"),
    "MC": (r"980\d{2}", "980 and 2 digits"),
    "GB": (r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", "a UK postcode, e.g. SW1A 1AA"),
    "US": (r"\d{5}(?:-\d{4})?", "a ZIP code, 5 or 9 digits"),
}
_GENERIC_POSTCODE = r"[A-Z0-9](?:[A-Z0-9 -]{0,8}[A-Z0-9])?"
# Countries whose addresses have no postcode (the generic rule then allows none).
_NO_POSTCODE = frozenset(
    "AE AG AO AW BF BI BJ BO BS BW BZ CD CF CG CI CK CM DJ DM ER FJ GA GD GH GM GQ GY HK "
    "KI KM KN KP LY ML MO MR MW NR NU QA RW SB SC SL SR ST SY TF TG TK TL TO TV UG VU YE "
    "ZW".split()
)


def check_postcode(country: str, postcode: str) -> str:
    """The postcode normalised for ``country`` (upper case, single spaces), or
    ValueError saying the format expected: FR, BE and a dozen others by their national
    format, other countries by a generic rule (1–10 letters, digits, spaces, hyphens)."""
    code = " ".join(postcode.upper().split())
    rule = _POSTCODES.get(country)
    if rule is not None:
        pattern, shown = rule
        if not re.fullmatch(pattern, code):
            raise ValueError(f"{postcode!r} is not a postcode of {country} ({shown})")
        if country == "NL":
            code = f"{code[:4]} {code[-2:]}"
        return code
    if not code:
        if country in _NO_POSTCODE:
            return ""
        raise ValueError(f"a postcode is required for an address in {country}")
    if not re.fullmatch(_GENERIC_POSTCODE, code):
        raise ValueError(f"{postcode!r} is not a postcode (1–10 letters, digits, spaces, '-')")
    return code

"""Seller identities: who issues the invoices of each offer (SPEC §8, §9).

One TOML file per legal entity (or brand) in the sellers directory
(``NUAGES_SELLERS_DIR``, default ``<data_dir>/sellers``), its stem the seller's id::

    [seller]
    providers = ["IS.Star sprl"]   # the ``offer.provider`` names it invoices for
    offers = []                    # optional: offer ids, for a provider with several entities
    name = "IS.Star SRL"
    ...

An offer's seller is the file naming its id in ``offers``, else the file naming its
``offer.provider`` in ``providers``. An offer with neither has only the built-in
**example** identity ("Exemple Cloud SAS"): previews and dry runs use it, but no real
invoice and no SEPA file is made with it (``require_real``). Files are validated like
terms files: every problem at once, ``FILE:LINE: KEY: what is wrong (expected …)``.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pycountry
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.be import vat as be_vat
from stdnum.eu import at_02
from stdnum.eu import vat as eu_vat
from stdnum.fr import siren

from nuages.kernel.errors import Conflict, ValidationFailed
from nuages.kernel.settings import Settings, get_settings
from nuages.terms.loader import Problem, TermsFileError, _parse, _problems_from_validation
from nuages.terms.schema import Offer
from nuages.terms.toml_lines import key_lines

HOW_TO = (
    "write a seller file {dir}/<seller>.toml naming this provider in `providers` "
    "(see README.md, 'Seller identity'; check it with `nuages sellers check`)"
)

# Standard VAT rates of the member states in 2026 (a seller file may set ``vat_rate``).
STANDARD_RATES = {
    "AT": "20", "BE": "21", "BG": "20", "CY": "19", "CZ": "21", "DE": "19", "DK": "25",
    "EE": "24", "ES": "21", "FI": "25.5", "FR": "20", "GR": "24", "HR": "25", "HU": "27",
    "IE": "23", "IT": "22", "LT": "21", "LU": "17", "LV": "21", "MT": "18", "NL": "21",
    "PL": "23", "PT": "23", "RO": "21", "SE": "25", "SI": "22", "SK": "23",
}  # fmt: skip

_SERIES = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")
_VAT_PREFIX = {"GR": "EL"}
# EN 16931 BT-30 scheme (ISO 6523 ICD) of the national company register.
COMPANY_SCHEMES = {"FR": "0002", "BE": "0208"}


def _problem(what: str, expected: str) -> PydanticCustomError:
    return PydanticCustomError("terms", "{what}", {"what": what, "expected": expected, "at": ()})


def _check_series(value: str) -> str:
    if not _SERIES.match(value):
        raise _problem(f"{value!r} is not a series", '1–8 capitals or digits, e.g. "F"')
    return value


class SellerSpec(BaseModel):
    """The ``[seller]`` table: a legal entity as invoices and SEPA files name it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    providers: list[str] = Field(default_factory=list)
    offers: list[str] = Field(default_factory=list, validate_default=True)
    name: str = Field(min_length=1, max_length=200)
    legal_form: str = Field(min_length=1, max_length=300)
    address: str = Field(min_length=1, max_length=200)
    postcode: str = Field(min_length=1, max_length=16)
    city: str = Field(min_length=1, max_length=100)
    country: str
    vat_number: str
    company_id: str = Field(default="", validate_default=True)
    email: str = Field(min_length=3, max_length=254)
    iban: str
    bic: str
    sepa_creditor_id: str
    timezone: str = "Europe/Paris"
    invoice_series: str
    credit_note_series: str
    vat_rate: Decimal | None = Field(default=None, ge=0, le=100, validate_default=True)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
            raise _problem(f"{value!r} is not a country", 'an ISO 3166-1 alpha-2 code, e.g. "BE"')
        return code

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise _problem(f"{value!r} is not a time zone", 'e.g. "Europe/Brussels"') from None
        return value

    @field_validator("iban")
    @classmethod
    def _iban(cls, value: str) -> str:
        try:
            return str(IBAN(value).compact)
        except SchwiftyException as exc:
            raise _problem(f"{value!r} is not a valid IBAN ({exc})", "an IBAN") from None

    @field_validator("bic")
    @classmethod
    def _bic(cls, value: str) -> str:
        try:
            return str(BIC(value).compact)
        except SchwiftyException as exc:
            raise _problem(f"{value!r} is not a valid BIC ({exc})", "a BIC") from None

    @field_validator("sepa_creditor_id")
    @classmethod
    def _creditor(cls, value: str) -> str:
        if not at_02.is_valid(value):
            raise _problem(f"{value!r} is not a SEPA creditor identifier", 'e.g. "FR72ZZZ123456"')
        return str(at_02.compact(value))

    @field_validator("invoice_series")
    @classmethod
    def _series(cls, value: str) -> str:
        return _check_series(value)

    @field_validator("providers", "offers")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        if any(not name.strip() for name in value):
            raise _problem("an empty name", "provider names as the offers write them")
        return [name.strip() for name in value]

    @field_validator("offers")
    @classmethod
    def _some(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if not value and not info.data.get("providers"):
            raise _problem("names no provider and no offer", 'providers = ["<offer.provider>"]')
        return value

    @field_validator("vat_number")
    @classmethod
    def _vat(cls, value: str, info: ValidationInfo) -> str:
        country = info.data.get("country")
        number = eu_vat.compact(value)
        if country is not None and country.lower() in eu_vat.MEMBER_STATES:
            prefix = _VAT_PREFIX.get(country, country)
            if not number.startswith(prefix) or not eu_vat.is_valid(number):
                raise _problem(
                    f"{value!r} is not a valid VAT number of {country}",
                    f"{prefix} and the number, checksum included",
                )
        return str(number)

    @field_validator("company_id")
    @classmethod
    def _company(cls, value: str, info: ValidationInfo) -> str:
        country = info.data.get("country")
        digits = re.sub(r"\D", "", value)
        if country == "FR" and not siren.is_valid(digits):
            raise _problem(f"{value!r} is not a SIREN", "9 digits with a valid Luhn checksum")
        if country == "BE" and not be_vat.is_valid(digits):
            raise _problem(
                f"{value!r} is not a KBO/BCE enterprise number", "10 digits, mod 97 checksum"
            )
        return digits

    @field_validator("credit_note_series")
    @classmethod
    def _other_series(cls, value: str, info: ValidationInfo) -> str:
        value = _check_series(value)
        if value == info.data.get("invoice_series"):
            raise _problem(f"{value!r} is also the invoice series", "a series of its own")
        return value

    @field_validator("vat_rate")
    @classmethod
    def _rate(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        country = info.data.get("country")
        if value is None and country is not None and country not in STANDARD_RATES:
            raise _problem("required for a seller outside the EU", 'the rate charged, e.g. "20"')
        return value


class SellerFile(BaseModel):
    """A seller file: one ``[seller]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seller: SellerSpec


@dataclass(frozen=True)
class Seller:
    """A seller as documents use it."""

    id: str
    name: str
    legal_form: str
    address: str
    postcode: str
    city: str
    country: str
    company_id: str | None
    vat_number: str
    email: str
    iban: str
    bic: str
    creditor_id: str
    timezone: str
    invoice_series: str
    credit_note_series: str
    vat_rate: Decimal
    example: bool = False
    source: str = ""
    providers: tuple[str, ...] = field(default=())
    offers: tuple[str, ...] = field(default=())

    @property
    def company_scheme(self) -> str | None:
        """ISO 6523 scheme of ``company_id`` (BT-30): 0002 SIREN, 0208 KBO/BCE."""
        return COMPANY_SCHEMES.get(self.country) if self.company_id else None

    def party(self) -> dict[str, Any]:
        """The seller as an invoice stores it (``parties.seller``)."""
        return {
            "id": self.id,
            "name": self.name,
            "legal_form": self.legal_form,
            "address": self.address,
            "postcode": self.postcode,
            "city": self.city,
            "country": self.country,
            # SIREN (scheme 0002) for French sellers, as stored before seller files.
            "siren": self.company_id if self.country == "FR" else None,
            "company_id": self.company_id,
            "company_scheme": self.company_scheme,
            "vat_number": self.vat_number,
            "email": self.email,
            "iban": self.iban,
            "bic": self.bic,
            "creditor_id": self.creditor_id,
        }

    def sepa_creditor(self) -> dict[str, Any]:
        """The creditor block of a pain.008 file (``sepaxml`` config)."""
        return {
            "name": self.name[:70],
            "IBAN": self.iban,
            "BIC": self.bic,
            "batch": True,
            "creditor_id": self.creditor_id,
            "currency": "EUR",
        }


EXAMPLE = Seller(
    id="example",
    name="Exemple Cloud SAS",
    legal_form="SAS au capital de 10 000 €, RCS Paris 123 456 782",
    address="1 rue de l'Exemple",
    postcode="75002",
    city="Paris",
    country="FR",
    company_id="123456782",
    vat_number="FR11123456782",
    email="facturation@example.com",
    iban="FR7630006000011234567890189",
    bic="AGRIFRPP",
    creditor_id="FR72ZZZ123456",
    timezone="Europe/Paris",
    invoice_series="F",
    credit_note_series="AV",
    vat_rate=Decimal("20"),
    example=True,
)


def _is_example(spec: SellerSpec) -> bool:
    # A copy of the example values is the example identity, whatever file holds it.
    return (
        spec.name == EXAMPLE.name
        or eu_vat.compact(spec.vat_number) == EXAMPLE.vat_number
        or spec.iban == EXAMPLE.iban
        or spec.sepa_creditor_id == EXAMPLE.creditor_id
    )


def _seller(stem: str, path: Path, spec: SellerSpec) -> Seller:
    return Seller(
        id=stem,
        name=spec.name,
        legal_form=spec.legal_form,
        address=spec.address,
        postcode=spec.postcode,
        city=spec.city,
        country=spec.country,
        company_id=spec.company_id or None,
        vat_number=spec.vat_number,
        email=spec.email,
        iban=spec.iban,
        bic=spec.bic,
        creditor_id=spec.sepa_creditor_id,
        timezone=spec.timezone,
        invoice_series=spec.invoice_series,
        credit_note_series=spec.credit_note_series,
        vat_rate=spec.vat_rate
        if spec.vat_rate is not None
        else Decimal(STANDARD_RATES[spec.country]),
        example=_is_example(spec),
        source=str(path),
        providers=tuple(spec.providers),
        offers=tuple(spec.offers),
    )


class SellerFileError(TermsFileError):
    """One or more seller files are invalid; ``problems`` lists every one."""

    slug = "invalid-seller-file"
    title = "The seller file is not valid"


def _check(path: Path) -> Seller | list[Problem]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [Problem(str(path), 1, "(file)", f"cannot be read: {exc.strerror}", "a file")]
    parsed = _parse(str(path), raw)
    if isinstance(parsed, Problem):
        return [parsed]
    text, data = parsed
    try:
        spec = SellerFile.model_validate(data).seller
    except ValidationError as exc:
        return _problems_from_validation(str(path), text, data, exc, SellerFile)
    return _seller(path.stem, path, spec)


def _line(path: Path, *key: str) -> int:
    return key_lines(path.read_text("utf-8")).get(("seller", *key), 1)


@dataclass(frozen=True)
class SellerBook:
    """Every seller file of a directory, and who invoices each offer."""

    directory: Path
    sellers: dict[str, Seller]
    by_provider: dict[str, Seller]
    by_offer: dict[str, Seller]

    def for_offer(self, offer: Offer) -> Seller:
        """The offer's seller: by offer id, else by provider name, else the example."""
        found = self.by_offer.get(offer.id) or self.by_provider.get(_key(offer.offer.provider))
        return found or EXAMPLE

    def get(self, seller_id: str) -> Seller:
        """A seller by id (its file's stem), else a 422 naming the known ones."""
        seller = self.sellers.get(seller_id)
        if seller is None:
            known = ", ".join(sorted(self.sellers)) or "none"
            raise ValidationFailed(
                f"seller: no seller {seller_id!r} in {self.directory} (known: {known})"
            )
        return seller


def _key(provider: str) -> str:
    return " ".join(provider.split()).casefold()


def load_sellers(directory: Path) -> SellerBook:
    """Load every ``*.toml`` of ``directory`` (absent: no seller yet); raise
    ``SellerFileError`` listing every problem, duplicates across files included (a
    provider, an offer or a numbering series claimed twice)."""
    problems: list[Problem] = []
    sellers: dict[str, Seller] = {}
    by_provider: dict[str, Seller] = {}
    by_offer: dict[str, Seller] = {}
    series: dict[str, Seller] = {}
    paths = sorted(directory.glob("*.toml")) if directory.is_dir() else []
    for path in paths:
        result = _check(path)
        if isinstance(result, list):
            problems.extend(result)
            continue
        claims: list[tuple[str, str, dict[str, Seller], str]] = [
            *(("providers", _key(p), by_provider, p) for p in result.providers),
            *(("offers", o, by_offer, o) for o in result.offers),
            *(
                (key, s, series, s)
                for key, s in (
                    ("invoice_series", result.invoice_series),
                    ("credit_note_series", result.credit_note_series),
                )
            ),
        ]
        clash = False
        for key, value, table, shown in claims:
            other = table.get(value)
            if other is not None and other.id != result.id:
                clash = True
                problems.append(
                    Problem(
                        str(path),
                        _line(path, key),
                        f"seller.{key}",
                        f"{shown!r} is also claimed by {other.source}",
                        "each provider, offer and series in one seller file only",
                    )
                )
        if clash:
            continue
        for _key_name, value, table, _shown in claims:
            table[value] = result
        sellers[result.id] = result
    if problems:
        raise SellerFileError(problems)
    return SellerBook(directory, sellers, by_provider, by_offer)


_CACHE: dict[str, tuple[tuple[tuple[str, int, int], ...], SellerBook]] = {}


def book(directory: Path) -> SellerBook:
    """``load_sellers`` of ``directory``, reloaded when one of its files changes."""
    paths = sorted(directory.glob("*.toml")) if directory.is_dir() else []
    stats = [(p.name, p.stat()) for p in paths]  # one stat a file: called per document
    stamp = tuple((name, st.st_mtime_ns, st.st_size) for name, st in stats)
    cached = _CACHE.get(str(directory))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    loaded = load_sellers(directory)
    _CACHE[str(directory)] = (stamp, loaded)
    return loaded


class SellerNotConfigured(Conflict):
    """A real document would carry the example seller identity."""

    slug = "seller-not-configured"
    title = "No seller identity is configured for this offer's provider"


def how_to(directory: Path) -> str:
    """What the operator does to give a provider its identity."""
    return HOW_TO.format(dir=directory)


def require_real(seller: Seller, offer: Offer, directory: Path) -> Seller:
    """``seller``, unless it is the example identity: then ``SellerNotConfigured``
    saying how to configure the provider's identity."""
    if seller.example:
        where = f"{seller.source} copies the example values" if seller.source else "none is set"
        raise SellerNotConfigured(
            f"offer {offer.id}: provider {offer.offer.provider!r} has no seller identity "
            f"of its own ({where}); real invoices and SEPA files are refused until you "
            + how_to(directory)
            + "; dry runs work meanwhile"
        )
    return seller


def directory_of(settings: Settings | None = None) -> Path:
    """The sellers directory in force (``NUAGES_SELLERS_DIR``, else ``<data_dir>/sellers``)."""
    settings = settings or get_settings()
    return settings.sellers_dir or settings.data_dir / "sellers"


def seller_for(offer: Offer, settings: Settings | None = None) -> Seller:
    """The seller of ``offer`` (the example identity when none is configured)."""
    return book(directory_of(settings)).for_offer(offer)


def real_seller_for(offer: Offer, settings: Settings | None = None) -> Seller:
    """The seller of ``offer`` for a real document: ``SellerNotConfigured`` when only
    the example identity is there."""
    folder = directory_of(settings)
    return require_real(book(folder).for_offer(offer), offer, folder)

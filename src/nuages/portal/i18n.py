"""French by default, English on request: texts, dates and amounts in the user's language.

Templates and pages write French source texts (``_("Tableau de bord")``); the English
catalogue (``i18n_en.py``) maps them. A text missing there shows in French, never
empty. Dates and amounts are formatted by Babel for the visitor's locale, times in the
provider's zone (the seeds' contracts are French and Belgian: Europe/Paris).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

from nuages.portal.i18n_en import EN

LANGUAGES = ("fr", "en")
DEFAULT = "fr"
LOCALES = {"fr": "fr_FR", "en": "en_GB"}
ZONE = ZoneInfo("Europe/Paris")


def pick(value: str | None) -> str:
    """A supported language code, French unless English is asked for."""
    return value if value in LANGUAGES else DEFAULT


def translator(lang: str) -> Callable[..., str]:
    """``_(text, **values)``: the text in ``lang``, with ``{name}`` placeholders filled."""
    catalogue = EN if lang == "en" else {}

    def _(text: str, **values: object) -> str:
        out = catalogue.get(text, text)
        return out.format(**values) if values else out

    return _


def money(amount: Decimal | int | str | None, currency: str, lang: str) -> str:
    """An amount with its currency (``1 234,56 €`` in French, ``€1,234.56`` in English);
    sub-cent ledger amounts keep their digits, up to 4."""
    if amount is None:
        return "—"
    locale = Locale.parse(LOCALES[lang])
    standard = locale.currency_formats["standard"].pattern.split(";")[0]
    pattern = standard.replace("0.00", "0.00##")  # ledger amounts keep sub-cent digits
    return format_currency(
        Decimal(str(amount)), currency, format=pattern, locale=locale, currency_digits=False
    )


def number(value: Decimal | int | float, lang: str) -> str:
    """A plain number in the user's locale."""
    return format_decimal(value, locale=LOCALES[lang])


def when(moment: dt.datetime | None, lang: str) -> str:
    """A moment in the provider's zone, medium format (``2 déc. 2026, 03:00``)."""
    if moment is None:
        return "—"
    return format_datetime(moment.astimezone(ZONE), "medium", tzinfo=ZONE, locale=LOCALES[lang])


def day(value: dt.date | dt.datetime | None, lang: str) -> str:
    """A calendar day (``2 déc. 2026``)."""
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        value = value.astimezone(ZONE).date()
    return format_date(value, "medium", locale=LOCALES[lang])

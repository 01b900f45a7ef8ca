"""French by default, English on request (issue #12 §4): every text the pages show has
its English version, and dates and amounts follow the visitor's locale (Babel)."""

from __future__ import annotations

import ast
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

from nuages.portal import i18n
from nuages.portal.i18n_en import EN
from nuages.portal.messages import FLASH

PORTAL = Path(i18n.__file__).resolve().parent


def _texts() -> set[str]:
    from nuages.portal.client import plain

    found: set[str] = set(FLASH.values())
    for table in (plain.UNITS, plain.PRICE_UNITS, plain.MEANS, plain.PERIODS):
        found |= set(table.values())
    for path in PORTAL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "_"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    # The back-office's tables and forms are data: their labels are translated by the
    # template (admin/page.html), so read them from the constructors.
    positions = {"Column": [0], "Button": [0], "Filter": [1], "Table": [0], "Field": [1],
                 "Form": [0, 3], "page": [1]}  # fmt: skip
    for path in (PORTAL / "admin").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            for index in positions.get(name, []):
                if index < len(node.args) and isinstance(node.args[index], ast.Constant):
                    found.add(str(node.args[index].value))
            for keyword in node.keywords:
                if keyword.arg in ("empty", "ask", "hint") and isinstance(
                    keyword.value, ast.Constant
                ):
                    found.add(str(keyword.value.value))
            if name in ("Field", "Filter"):
                for arg in node.args:
                    if isinstance(arg, ast.Tuple):
                        for pair in arg.elts:
                            if isinstance(pair, ast.Tuple) and isinstance(
                                pair.elts[1], ast.Constant
                            ):
                                found.add(str(pair.elts[1].value))
    for path in PORTAL.rglob("*.html"):
        text = path.read_text()
        found |= set(re.findall(r'_\(\s*"([^"]+)"', text))
        found |= set(re.findall(r"_\(\s*'([^']+)'", text))
        # labels handed to _() through a loop: ("start", "Démarrer")
        found |= {label for label in re.findall(r'\(\s*"[^"]*",\s*"([^"]+)"', text)}
    return found


def test_every_page_text_has_an_english_version() -> None:
    missing = sorted(
        t
        for t in _texts()
        if t not in EN and not t.startswith("/") and not re.fullmatch(r"[a-z_0-9]+", t)
    )
    assert not missing, "add to portal/i18n_en.py:\n" + "\n".join(missing)


def test_dates_and_amounts_follow_the_locale() -> None:
    moment = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC)
    assert i18n.money(Decimal("1234.5"), "EUR", "fr") == "1\u202f234,50\xa0€"
    assert i18n.money(Decimal("1234.5"), "EUR", "en") == "€1,234.50"
    assert i18n.money(Decimal("0.0150"), "EUR", "fr") == "0,015\xa0€"
    assert i18n.day(moment, "fr") == "2 déc. 2026"
    assert i18n.day(moment, "en") == "2 Dec 2026"
    assert "10:30" in i18n.when(moment, "fr")  # Europe/Paris, winter time
    assert i18n.translator("en")("Tableau de bord") == "Dashboard"
    assert i18n.translator("fr")("Tableau de bord") == "Tableau de bord"


def test_visitor_switches_to_english_and_back(browser, user_with_password, world) -> None:  # type: ignore[no-untyped-def]
    from nuages.accounts.roles import Role
    from tests.portal.conftest import signed_in

    _owner, email = user_with_password(Role.CLIENT_OWNER, world.client())
    visitor = signed_in(browser, email)
    english = visitor.submit("/", "/lang", lang="en")
    assert english.url.path == "/" and "Dashboard" in english.text and 'lang="en"' in english.text
    french = visitor.submit("/", "/lang", lang="fr")
    assert "Tableau de bord" in french.text

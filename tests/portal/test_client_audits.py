"""001 §16.8 in the client area: an owner announces an audit from the form; announced
Thu 5 Nov 2026 (Brussels) on a cloudbizz contract, Thu 12 Nov is refused next to the
date with the earliest start, Fri 13 Nov (5 jours ouvrables, Armistice excluded), in
French and English, nothing written; a second send writes nothing more. Both
databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.gdpr.models import Audit
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.factories import World
from tests.portal.conftest import signed_in

Make = Callable[..., Any]
PAGE = "/gdpr/audits"


def _audits(database: Database) -> int:
    with database.unit() as session:
        return session.execute(select(func.count()).select_from(Audit)).scalar_one()


def test_001_s16_8_audit_announced_from_the_portal_five_jours_ouvrables(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    set_now(dt.datetime(2026, 11, 5, 10, tzinfo=ZoneInfo("Europe/Brussels")))
    client_id = world.client("Audité SRL")
    owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, email)
    made = visitor.http.post(
        "/api/v1/contracts", json={"offer_id": "cloudbizz", "accept_terms": True},
        headers=owner.headers,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    contract_id = made.json()["id"]
    assert "Aucun audit." in visitor.get(PAGE).text
    data = {"contract_id": contract_id, "auditor": "Cabinet X", "scope": "mesures annexe 1"}
    early = visitor.submit(PAGE, PAGE, **data, starts_on="2026-11-12")
    assert early.status_code == 422 and 'id="e-starts_on"' in early.text
    said = unescape(early.text).split('id="e-starts_on">')[1].split("<")[0]
    assert said.startswith("Un audit s'annonce au moins") and "2026-11-13" in said, said
    assert "001 §16.8" in said
    visitor.submit("/", "/lang", lang="en")
    english = unescape(visitor.submit(PAGE, PAGE, **data, starts_on="2026-11-12").text)
    assert "the earliest start from today is 2026-11-13" in english
    visitor.submit("/", "/lang", lang="fr")
    assert _audits(database) == 0
    form = visitor.form(PAGE, PAGE)
    sent = {**form.fields, **data, "starts_on": "2026-11-13"}
    done = visitor.post(PAGE, sent)
    assert done.status_code == 200 and "Audit annoncé." in done.text
    assert "Cabinet X" in done.text
    again = visitor.post(PAGE, sent)
    assert "déjà été envoyé" in again.text
    assert _audits(database) == 1
    _b, other = user_with_password(Role.CLIENT_OWNER, world.client("Autre"))
    assert "Cabinet X" not in signed_in(browser, other).get(PAGE).text

"""002 §3.8.4 in the client area: with a quota of 1 standard change a month and EUR 60
beyond, the first standard change is included; the second without accepting its price
is refused next to the checkbox with the price (French and English), nothing written;
accepted, it is recorded at EUR 60. Both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.managed import agreements
from nuages.support.models import ChangeRequest
from tests.compute.world import CLI
from tests.factories import World
from tests.portal.conftest import signed_in

Make = Callable[..., Any]


def _count(database: Database) -> int:
    with database.unit() as session:
        return session.execute(select(func.count()).select_from(ChangeRequest)).scalar_one()


def test_002_s3_8_4_change_over_quota_needs_its_price_accepted_in_the_portal(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    set_now(dt.datetime(2026, 11, 10, 10, tzinfo=ZoneInfo("Europe/Paris")))
    client_id = world.client("Géré SAS")
    owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, email)
    made = visitor.http.post(
        "/api/v1/contracts", json={"offer_id": "axantis-cloud-vm-avance", "accept_terms": True},
        headers=owner.headers,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    contract_id = made.json()["id"]
    with database.unit() as session:
        terms = {"managed": True, "standard_changes_per_month": 1,
                 "standard_change_price": Decimal("60.00")}  # fmt: skip
        agreements.set_agreement(session, CLI, contract_id, terms)
    page = f"/contracts/{contract_id}/changes"
    assert f'href="{page}"' in visitor.get(f"/contracts/{contract_id}").text
    assert "Aucune demande." in visitor.get(page).text
    first = visitor.submit(page, page, kind="standard", description="ouvrir le port 8443")
    assert first.status_code == 200 and "Demande de changement enregistrée." in first.text
    over = visitor.submit(page, page, kind="standard", description="ouvrir le port 8444")
    assert over.status_code == 422 and 'id="e-accept_price"' in over.text
    said = unescape(over.text).split('id="e-accept_price">')[1].split("<")[0]
    assert "celui-ci coûte 60.00 EUR" in said, said
    visitor.submit("/", "/lang", lang="en")
    english = unescape(visitor.submit(page, page, kind="standard", description="port").text)
    assert "this one costs EUR 60.00" in english
    visitor.submit("/", "/lang", lang="fr")
    assert _count(database) == 1
    paid = visitor.submit(
        page, page, kind="standard", description="ouvrir 8444", accept_price="yes"
    )
    assert paid.status_code == 200 and "Demande de changement enregistrée." in paid.text
    with database.unit() as session:
        prices = sorted(str(r.price) for r in session.execute(select(ChangeRequest)).scalars())
    assert prices == ["60.00", "None"]
    _b, other = user_with_password(Role.CLIENT_OWNER, world.client("Autre"))
    assert signed_in(browser, other).get(page).status_code == 404

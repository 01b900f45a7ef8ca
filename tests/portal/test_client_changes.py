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
from nuages.invoicing.models import PendingCharge
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.managed import agreements
from nuages.support import changes
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


def test_002_s3_8_4_staff_quote_a_major_change_and_the_client_sees_the_price(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    """002 §3.8.4: a major change "fera l'objet d'un devis préalable": staff see it in
    the back-office list, a price that is not a positive amount in cents is refused next
    to the field (French and English), nothing written; quoted at EUR 2400.00, the client
    sees the price on its changes page and the request leaves the staff list."""
    set_now(dt.datetime(2026, 11, 10, 10, tzinfo=ZoneInfo("Europe/Paris")))
    client_id = world.client("Devis SARL")
    owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, email)
    made = visitor.http.post(
        "/api/v1/contracts", json={"offer_id": "axantis-cloud-vm-avance", "accept_terms": True},
        headers=owner.headers,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    contract_id = made.json()["id"]
    with database.unit() as session:
        agreements.set_agreement(session, CLI, contract_id, {"managed": True})
    page = f"/contracts/{contract_id}/changes"
    asked = visitor.submit(page, page, kind="major", description="migrer la base vers PG 17")
    assert asked.status_code == 200, asked.text[-1500:]
    _admin, staff_email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, staff_email)
    admin = "/admin/changes"
    listed = unescape(staff.get(admin).text)
    assert "Devis SARL" in listed and "migrer la base vers PG 17" in listed
    with database.unit() as session:
        change_id = session.execute(select(ChangeRequest.id)).scalar_one()
    for bad, french in (
        ("-5", "Un devis est un montant positif."),
        ("0", "Un devis est un montant positif."),
        ("douze", "Indiquez un prix en euros"),
        ("10.001", "au plus deux décimales"),
    ):
        refused = staff.submit(admin, admin, change_id=change_id, amount=bad, note="")
        assert refused.status_code == 422 and 'id="e-amount"' in refused.text, bad
        assert french in unescape(refused.text).split('id="e-amount">')[1].split("<")[0], bad
    staff.submit("/admin", "/lang", lang="en")
    english = staff.submit(admin, admin, change_id=change_id, amount="-5", note="")
    assert "a quote is a positive amount" in unescape(english.text)
    staff.submit("/admin", "/lang", lang="fr")
    with database.unit() as session:
        row = session.get(ChangeRequest, change_id)
        assert row is not None and row.state == "awaiting_quote" and row.price is None
    done = staff.submit(admin, admin, change_id=change_id, amount="2400,00", note="2 jours")
    assert done.status_code == 200 and "Devis enregistré" in unescape(done.text)
    assert "migrer la base vers PG 17" not in unescape(done.text)
    with database.unit() as session:
        row = session.get(ChangeRequest, change_id)
        assert row is not None and row.state == "quoted" and row.price == Decimal("2400.00")
        assert row.charge_id is None  # not accepted yet: nothing billed
    seen = unescape(visitor.get(page).text).replace("\u202f", " ").replace("\xa0", " ")
    row_html = seen.split("migrer la base vers PG 17")[1].split("</tr>")[0]
    assert "2 400,00 €" in row_html and "devis envoyé" in row_html, row_html


def test_002_s3_8_4_owner_accepts_the_quote_on_the_changes_page(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    """002 §3.8.4: a quoted major change shows "Accepter le devis" to the owner (not to a
    member); pressing it bills EUR 2400.00 once with a flash, the button goes; the page in
    English says "Accept the quote"; a declined quote bills nothing."""
    set_now(dt.datetime(2026, 11, 10, 10, tzinfo=ZoneInfo("Europe/Paris")))
    client_id = world.client("Accord SAS")
    owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, email)
    made = visitor.http.post(
        "/api/v1/contracts", json={"offer_id": "axantis-cloud-vm-avance", "accept_terms": True},
        headers=owner.headers,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    contract_id = made.json()["id"]
    with database.unit() as session:
        agreements.set_agreement(session, CLI, contract_id, {"managed": True})
    page = f"/contracts/{contract_id}/changes"
    for text in ("migrer vers PG 17", "refaire le DNS"):
        assert visitor.submit(page, page, kind="major", description=text).status_code == 200
    with database.unit() as session:
        ids = {r.description: r.id for r in session.execute(select(ChangeRequest)).scalars()}
        for change_id in ids.values():
            changes.quote_major(session, CLI, change_id, Decimal("2400.00"), False)
    _m, member_email = user_with_password(Role.CLIENT_MEMBER, client_id)
    assert "Accepter le devis" not in signed_in(browser, member_email).get(page).text
    visitor.submit("/", "/lang", lang="en")
    assert "Accept the quote" in visitor.get(page).text
    visitor.submit("/", "/lang", lang="fr")
    accept = f"{page}/{ids['migrer vers PG 17']}/accept"
    done = visitor.submit(page, accept)
    assert done.status_code == 200 and "Devis accepté" in unescape(done.text)
    assert unescape(done.text).count("Accepter le devis") == 1  # only the other one left
    decline = f"{page}/{ids['refaire le DNS']}/decline"
    refused = visitor.submit(page, decline)
    assert refused.status_code == 200 and "Devis refusé" in unescape(refused.text)
    assert "Accepter le devis" not in refused.text
    with database.unit() as session:
        amounts = [c.amount for c in session.execute(select(PendingCharge)).scalars()]
        states = sorted(r.state for r in session.execute(select(ChangeRequest)).scalars())
    assert amounts == [Decimal("2400.00")] and states == ["accepted", "declined"]

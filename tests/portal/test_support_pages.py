"""The support and GDPR pages (issue #16 through the portal): a client opens a ticket
from the form (once, however often it is sent), reads its business-hours deadline,
replies; another client's ticket is a 404; the register of processing reads as HTML and
PDF. Both databases (``database`` fixture)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.support.models import Ticket, TicketMessage
from tests.factories import World
from tests.portal.conftest import signed_in

Make = Callable[..., Any]
PARIS = ZoneInfo("Europe/Paris")


def test_001_s10_ticket_opened_from_the_portal_once_with_its_hours(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    """Opened Tue 10 Nov 2026 at 16:30 Paris on a virtualsr-pcv contract: the page shows
    the support hours (09:00–18:00, FR holidays excluded). A second send of the same form
    opens nothing more; a reply is added; client B gets 404 on the ticket."""
    set_now(dt.datetime(2026, 11, 10, 16, 30, tzinfo=PARIS))
    client_id = world.client("Portail SARL")
    owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, email)
    made = visitor.http.post(
        "/api/v1/contracts",
        json={"offer_id": "virtualsr-pcv", "accept_terms": True},
        headers=owner.headers,
    )
    assert made.status_code == 201, made.text
    contract_id = made.json()["id"]
    assert "Aucun ticket." in visitor.get("/tickets").text
    form = visitor.form("/tickets/new", "/tickets/new")
    data = {**form.fields, "category": "question", "contract_id": contract_id, "vm_id": "",
            "subject": "Sauvegardes", "body": "Où trouver les sauvegardes ?"}  # fmt: skip
    first = visitor.post("/tickets/new", data)
    assert first.status_code == 200 and first.url.path.startswith("/tickets/"), first.text[:800]
    assert "Sauvegardes" in first.text and "09:00–18:00" in first.text
    second = visitor.post("/tickets/new", data)
    assert second.url.path == first.url.path and "déjà été envoyé" in second.text
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 1
    reply_form = visitor.form(first.url.path, f"{first.url.path}/messages")
    replied = visitor.post(f"{first.url.path}/messages", {**reply_form.fields, "body": "Merci"})
    assert replied.status_code == 200 and "Message envoyé." in replied.text
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(TicketMessage)).scalar_one() == 2
    bad = visitor.form("/tickets/new", "/tickets/new")
    empty = {"category": "question", "vm_id": "", "contract_id": "", "subject": "", "body": "x"}
    refused = visitor.post("/tickets/new", {**bad.fields, **empty})
    assert refused.status_code == 422 and 'id="e-subject"' in refused.text
    _b, email_b = user_with_password(Role.CLIENT_OWNER, world.client("B"))
    other = signed_in(browser, email_b)
    assert other.get(first.url.path).status_code == 404
    assert "Sauvegardes" not in other.get("/tickets").text


def test_art30_2_register_page_and_pdf(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    """The client's register of processing, as a page and as a PDF."""
    client_id = world.client("Registre SA")
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, email)
    page = visitor.get("/gdpr/register")
    assert page.status_code == 200 and "Registre des traitements" in page.text
    assert "Registre SA" in page.text
    pdf = visitor.get("/gdpr/register.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

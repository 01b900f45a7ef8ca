"""The client area over the real services (issue #12 §2): ordering an offer with its
terms in plain words, the prepaid account and how to pay, invoices with their PDF and a
dispute, and a member who never sees money (000 §5)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from html import unescape
from typing import Any

from sqlalchemy import func, select

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role
from nuages.billing import schemas as billing_schemas
from nuages.billing import topups
from nuages.contracts.models import Contract
from nuages.history.service import Actor
from nuages.invoicing import runs
from nuages.kernel.clock import frozen_at, utc_now
from nuages.kernel.db import Database
from tests.factories import World
from tests.invoicing.factories import Billing
from tests.portal.conftest import signed_in

Make = Callable[..., Any]


def test_000_s3_1_owner_orders_isstar_then_pays_the_minimum(
    browser: Make, user_with_password: Make, world: World, database: Database, offers: Any
) -> None:
    """000 §3.1: the order needs the terms accepted; the contract forms once the
    Minimum Amount (100.00 in the terms file) is credited. One order per form."""
    client_id = world.client("Dupont <b>SA</b>")
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, email)
    page = visitor.get("/offers/isstar-cloud")
    assert page.status_code == 200
    text = unescape(page.text)
    assert "montant minimum de 100,00" in text and "(000 §13.2)" in text
    refused = visitor.submit("/offers/isstar-cloud", "/offers/isstar-cloud/order")
    assert refused.status_code == 422 and 'id="e-accept_terms"' in refused.text
    form = visitor.form("/offers/isstar-cloud", "/offers/isstar-cloud/order")
    data = {**form.fields, "accept_terms": "yes"}
    ordered = visitor.post(form.action, data)
    assert ordered.url.path.startswith("/contracts/") and "pending" in ordered.text
    again = visitor.post(form.action, data)
    assert again.url.path == ordered.url.path and "déjà été envoyé" in unescape(again.text)
    with database.unit() as session:
        contract = session.execute(select(Contract)).scalar_one()
        assert session.execute(select(func.count()).select_from(Contract)).scalar_one() == 1
    account = visitor.get(f"/contracts/{contract.id}/account")
    assert account.status_code == 200
    from nuages.billing.ledger import payment_reference

    assert payment_reference(contract.id) in account.text
    with database.unit() as session:
        topups.record_transfer(
            session,
            Principal.staff("test"),
            offers,
            contract.id,
            billing_schemas.TransferCreate(
                amount=Decimal("100.00"), currency="EUR", reference="BANK-1"
            ),
        )
    dashboard = visitor.get("/")
    assert "state-active" in dashboard.text and "100,00" in dashboard.text


def _cloudbizz_invoice(database: Database, offers: Any, settings: Any, client_id: str) -> str:
    billing = Billing(database, offers)
    start = (utc_now() - dt.timedelta(days=40)).replace(hour=12, minute=0, second=0, microsecond=0)
    contract_id = billing.contract("cloudbizz", client_id, start)
    billing.line(contract_id, "server-m", start.date())
    with frozen_at(start + dt.timedelta(hours=1)):
        report = runs.run(
            database, Actor.system("test"), offers, start.date(), contract_ids=[contract_id],
            settings=settings,
        )  # fmt: skip
    assert report.issued, report.problems
    return str(report.issued[0]["invoice_id"])


def test_owner_downloads_a_cloudbizz_invoice_pdf_and_a_member_sees_no_money(
    browser: Make, user_with_password: Make, world: World, database: Database, offers: Any,
    settings: Any,
) -> None:  # fmt: skip
    client_id = world.client("Cloud SPRL")
    invoice_id = _cloudbizz_invoice(database, offers, settings, client_id)
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    owner = signed_in(browser, email)
    listing = owner.get("/invoices")
    assert listing.status_code == 200 and f"/invoices/{invoice_id}/pdf" in listing.text
    document = owner.get(f"/invoices/{invoice_id}/pdf")
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/pdf"
    assert document.content.startswith(b"%PDF")
    _member, member_email = user_with_password(Role.CLIENT_MEMBER, client_id)
    member = signed_in(browser, member_email)
    home = member.get("/")
    assert 'href="/invoices"' not in home.text and "Solde" not in home.text
    for path in ("/invoices", f"/invoices/{invoice_id}", f"/invoices/{invoice_id}/pdf"):
        assert member.get(path).status_code == 404, path
    # Another client's owner: 404 as well.
    _other, other_email = user_with_password(Role.CLIENT_OWNER, world.client("Other"))
    assert signed_in(browser, other_email).get(f"/invoices/{invoice_id}").status_code == 404


def test_001_s4_4_dispute_within_the_window(
    browser: Make, user_with_password: Make, world: World, database: Database, offers: Any,
    settings: Any,
) -> None:  # fmt: skip
    """001 §4.4: an invoice is contested within 8 days of its receipt; the form says
    until when, and a reason is required (the error is next to the field)."""
    client_id = world.client()
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    owner = signed_in(browser, email)
    invoice_id = _cloudbizz_invoice(database, offers, settings, client_id)
    page = f"/invoices/{invoice_id}"
    empty = owner.submit(page, f"{page}/dispute", reason="")
    assert empty.status_code == 422 and 'id="e-reason"' in empty.text
    late = owner.submit(page, f"{page}/dispute", reason="La VM facturée a été supprimée.")
    # The invoice was issued 40 days ago: its 8-day window is over; refused with why.
    assert late.status_code in (409, 422) and "error" in late.text


def test_002_s3_6_portal_order_asks_the_datacenter_firewall_tier(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    """002 §3.6: the Cloud Datacenter order form offers the standard and advanced
    firewalls with their prices; ordering without a choice shows the error next to the
    field (422, nothing written); choosing "advanced" stores it on the contract."""
    client_id = world.client("Datacentre SAS")
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, email)
    path = "/offers/axantis-cloud-datacenter"
    page = unescape(visitor.get(path).text)
    assert "Pare-feu choisi à la commande (002 §3.6)" in page
    assert 'value="standard"' in page and 'value="advanced"' in page and "120,00" in page
    form = visitor.form(path, f"{path}/order")
    refused = visitor.post(form.action, {**form.fields, "accept_terms": "yes"})
    assert refused.status_code == 422 and 'id="e-firewall_tier"' in refused.text
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(Contract)).scalar_one() == 0
    form = visitor.form(path, f"{path}/order")
    ordered = visitor.post(
        form.action, {**form.fields, "accept_terms": "yes", "firewall_tier": "advanced"}
    )
    assert ordered.url.path.startswith("/contracts/"), ordered.text
    with database.unit() as session:
        contract = session.execute(select(Contract)).scalar_one()
        assert contract.firewall_tier == "advanced"

"""001 §4.6 (i) in the portals: staff ask for the deposit of a hardware order from the
back-office contract page; the client's invoice list and page call the deposit invoice
a "facture d'acompte"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from nuages.accounts.roles import Role
from nuages.invoicing.models import Deposit, Invoice
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.invoicing.factories import Billing, utc
from tests.portal.conftest import signed_in
from tests.portal.harness import forms_of

Make = Callable[..., Any]


def test_001_s4_6_i_staff_ask_the_deposit_and_the_client_sees_a_facture_d_acompte(
    browser: Make, user_with_password: Make, database: Database, offers: Any
) -> None:
    """The cloudbizz contract page offers the deposit form while hardware is ordered and
    not invoiced; submitting it issues the deposit invoice (30 % of 10,000.00 HT, VAT
    21 %: 3,630.00) and the form goes; the client sees it labelled as a deposit invoice."""
    billing = Billing(database, offers)
    client_id = billing.client("Matériel SPRL", country="BE")
    contract = billing.contract("cloudbizz", client_id, utc(2026, 2, 28, 23))
    billing.line(
        contract, "hardware", dt.date(2026, 3, 20), unit_price=Decimal("10000.00"),
        description="2 serveurs",
    )  # fmt: skip
    set_now(utc(2026, 3, 5, 9))
    _admin, email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, email)
    page = f"/admin/contracts/{contract}"
    shown = staff.get(page)
    assert "Demander l&#39;acompte" in shown.text or "Demander l'acompte" in shown.text
    assert any(f.action.endswith("/deposit") for f in forms_of(shown.text))
    staff.submit(page, f"{page}/deposit", deposit_line="")
    with database.unit() as session:
        [invoice] = session.execute(select(Invoice)).scalars()
        assert invoice.grand_total == Decimal("3630.00")
        assert session.execute(select(Deposit)).scalar_one().invoice_id == invoice.id
        invoice_id = invoice.id
    again = staff.get(page)
    assert not any(f.action.endswith("/deposit") for f in forms_of(again.text))

    _owner, owner_email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, owner_email)
    listed = visitor.get("/invoices")
    assert "facture d&#39;acompte" in listed.text or "facture d'acompte" in listed.text
    one = visitor.get(f"/invoices/{invoice_id}")
    assert "Facture d&#39;acompte" in one.text or "Facture d'acompte" in one.text

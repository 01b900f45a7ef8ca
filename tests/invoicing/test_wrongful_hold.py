"""000 §11.1 on an invoiced contract: a hold lifted as wrongful gives back what the
invoices charged for the held time, as one credit note on the next invoice, once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from nuages.contracts import holds
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import wrongful
from nuages.invoicing.models import Invoice, InvoiceLine
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database
from tests.invoicing.conftest import billing  # noqa: F401
from tests.invoicing.factories import Billing, run_at, utc

WHO = Actor.system("test")


def test_000_s11_1_wrongful_hold_on_invoiced_contract_is_one_credit_note_on_next_invoice(
    database: Database,
    offers: OfferRegistry,
    billing: Billing,  # noqa: F811
) -> None:
    """000 §11.1 (a manifestly wrongful suspension is not billed): axantis-cloud-vm-avance,
    one VM invoiced in advance for December 2026 at 54.00 VAT included (45.00 net, 20 %).
    Staff hold the contract from 10 December 00:00 Paris and lift it as wrongful on
    13 December 00:00 Paris: 3 of December's 31 days, 54.00 × 3/31 = 5.2258 → 5.23.
    Nothing is credited until the next invoice (January, issued 1 January) exists; then
    one credit note of 5.23 on it, naming the hold; asking again (the job delivered
    twice, the invoicing run's pass) issues none."""
    client_id = billing.client()
    contract_id = billing.contract("axantis-cloud-vm-avance", client_id, utc(2026, 11, 30, 23))
    billing.vm(contract_id, "avance-2-4", utc(2026, 12, 1, 5), name="web-1")
    run_at(database, offers, utc(2026, 12, 1, 6))
    with database.unit() as session:
        december = session.execute(
            select(Invoice).where(Invoice.contract_id == contract_id, Invoice.kind == "invoice")
        ).scalar_one()
        assert december.grand_total == Decimal("54.00")
        contract = session.get(Contract, contract_id)
        assert contract is not None
        offer = offers.for_contract(session, contract)
    with frozen_at(utc(2026, 12, 9, 23)), database.unit() as session:
        hold, _ = holds.place(session, WHO, offer, contract_id, "staff-decision", "suspected abuse")
        hold_id = hold.id
    with frozen_at(utc(2026, 12, 12, 23)), database.unit() as session:
        holds.lift(session, WHO, contract_id, hold_id, "no abuse after all", wrongful=True)
    # The job at the lift: no invoice since the lift yet, so the credit waits.
    with frozen_at(
        utc(
            2026,
            12,
            12,
            23,
        )
    ):
        assert wrongful.run_job(database, WHO, offers, hold_id) == []
    run_at(database, offers, utc(2027, 1, 1, 6))
    with frozen_at(utc(2027, 1, 1, 7)):
        issued = wrongful.run_job(database, WHO, offers)  # the invoicing run's pass
        again = wrongful.run_job(database, WHO, offers)
        twice = wrongful.run_job(database, WHO, offers, hold_id)
    assert len(issued) == 1 and again == [] and twice == issued
    with database.unit() as session:
        [note] = session.execute(select(Invoice).where(Invoice.kind == "credit_note")).scalars()
        january = session.get(Invoice, note.corrects_id)
        assert january is not None and january.period_start == dt.date(2027, 1, 1)
        assert abs(note.grand_total) == Decimal("5.23")
        [line] = session.execute(
            select(InvoiceLine).where(InvoiceLine.invoice_id == note.id)
        ).scalars()
        assert wrongful.key_of(hold_id) in line.description and "000 §11.1" in line.description


def test_000_s11_1_hold_not_wrongful_on_invoiced_contract_gives_nothing_back(
    database: Database,
    offers: OfferRegistry,
    billing: Billing,  # noqa: F811
) -> None:
    """000 §11.1: a suspension that was not wrongful stays billed: no credit note."""
    client_id = billing.client()
    contract_id = billing.contract("axantis-cloud-vm-avance", client_id, utc(2026, 11, 30, 23))
    billing.vm(contract_id, "avance-2-4", utc(2026, 12, 1, 5), name="web-1")
    run_at(database, offers, utc(2026, 12, 1, 6))
    with database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        offer = offers.for_contract(session, contract)
    with frozen_at(utc(2026, 12, 9, 23)), database.unit() as session:
        hold, _ = holds.place(session, WHO, offer, contract_id, "staff-decision", "abuse")
        hold_id = hold.id
    with frozen_at(utc(2026, 12, 12, 23)), database.unit() as session:
        holds.lift(session, WHO, contract_id, hold_id, "remedied")
    run_at(database, offers, utc(2027, 1, 1, 6))
    with frozen_at(utc(2027, 1, 1, 7)):
        assert wrongful.run_job(database, WHO, offers) == []
        assert wrongful.run_job(database, WHO, offers, hold_id) == []

"""Dunning per the offer: reminders and fees (001 §4.4), late interest (000 §13.1,
001 §4.4), suspension (003 §14.5) lifted once the debt is settled (004 §7)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from nuages.contracts import holds
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import disputes, dunning, lines, payments, schemas
from nuages.invoicing.models import DunningNotice, Invoice
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database

from .factories import STAFF, Billing, documents_of, run_at, utc

D = Decimal
WHO = Actor.system("test")


def _dun(database: Database, offers: OfferRegistry, day: dt.date) -> dunning.DunningReport:
    with frozen_at(utc(day.year, day.month, day.day, 7)), database.unit() as session:
        report = dunning.run(session, WHO, offers, day)
        session.expunge_all()
        return report


def _pay(
    database: Database, offers: OfferRegistry, client: str, amount: str, day: dt.date, key: str
) -> None:
    with frozen_at(utc(day.year, day.month, day.day, 9)), database.unit() as session:
        payments.record(
            session,
            WHO,
            offers,
            schemas.PaymentCreate(
                client_id=client,
                means="transfer",
                amount=D(amount),
                received_on=day,
                idempotency_key=key,
            ),
        )


def _steps(database: Database, contract_id: str) -> list[tuple[str, dt.date, D]]:
    with database.unit() as session:
        return [
            (n.step, n.sent_on, n.fee)
            for n in session.execute(
                select(DunningNotice)
                .where(DunningNotice.contract_id == contract_id)
                .order_by(DunningNotice.sent_on, DunningNotice.step)
            ).scalars()
        ]


def test_001_s4_4_reminder_fees_75_then_150_and_interest_by_started_month(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """001 §4.4: each payment reminder adds EUR 75 "sur la prochaine facture", doubled
    to EUR 150 on repeat; late interest 8 % a year, every started month in full.

    January: 5 users × 39.00 = 195.00, VAT 21 % 40.95 → 235.95, e-mailed 1 January and
    received 2 January (no acceptance recorded, SPEC §17), due 17 January (001 §4.1).
    Reminders on 18 January (fee 75.00) and 1 February (fee 150.00). February:
    195.00 (VAT 40.95) + 75.00 + 150.00 outside VAT → total 460.95.
    January paid on 20 February: 17 January → 20 February is 2 started months:
    235.95 × 8 % / 12 × 2 = 3.146 → 3.15, on the March invoice.
    """
    client = billing.client("Client Retard", country="BE")
    contract = billing.contract("cloudbizz", client, utc(2025, 12, 31, 23))
    billing.line(contract, "desktop-std", dt.date(2026, 1, 1), quantity=D(5))
    run_at(database, offers, utc(2026, 1, 1, 8))

    assert not _dun(database, offers, dt.date(2026, 1, 17)).notices  # due date: not late
    first = _dun(database, offers, dt.date(2026, 1, 18))
    assert [(n.step, n.fee) for n in first.notices] == [("reminder-1", D("75.00"))]
    assert "Frais de rappel de 75.00 EUR" in first.notices[0].text
    assert [(n.step, n.fee) for n in _dun(database, offers, dt.date(2026, 2, 1)).notices] == [
        ("reminder-2", D("150.00"))
    ]
    assert not _dun(database, offers, dt.date(2026, 2, 1)).notices  # once per step

    run_at(database, offers, utc(2026, 2, 1, 8))
    _, (february, feb_lines) = documents_of(database, contract)
    assert [(x.kind, x.net_amount, x.vat_category) for x in feb_lines] == [
        ("users", D("195.00"), "S"),
        ("reminder_fee", D("75.00"), "E"),
        ("reminder_fee", D("150.00"), "E"),
    ]
    assert (february.tax_total, february.grand_total) == (D("40.95"), D("460.95"))
    assert "hors du champ de la TVA" in february.xml

    _pay(database, offers, client, "235.95", dt.date(2026, 2, 20), "late-january-1")
    run_at(database, offers, utc(2026, 3, 1, 8))
    march_lines = documents_of(database, contract)[2][1]
    assert [(x.kind, x.net_amount) for x in march_lines][-1] == ("late_interest", D("3.15"))


def test_003_s14_5_suspension_at_due_date_plus_30_days_lifted_once_paid(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """003 §14.5: unpaid at the due date + 30 days, access is blocked (registered
    letter); paying everything lifts it (004 §7 reading: restored once remedied).

    Issued 1 March, due 31 March (30 days). The 30 days after the due date (its own day
    not counted, SPEC §17) end with 30 April: suspension from 1 May. Interest 000-style
    (3 × legal rate 6.65 % in force on the due date) on 59.00 paid on 5 May, 35 days
    late: 59.00 × 19.95 % × 35/365 = 1.1287 → 1.13.
    """
    client = billing.client("Client Suspendu")
    contract_id = billing.contract("virtualsr-svp", client, utc(2026, 2, 28, 23))
    billing.line(contract_id, "svp-s", dt.date(2026, 3, 1))
    run_at(database, offers, utc(2026, 3, 1, 6))
    report = _dun(database, offers, dt.date(2026, 4, 1))
    assert report.problems and "no legal interest rate" in report.problems[0]["problem"]
    with database.unit() as session:
        lines.set_legal_rate(session, WHO, dt.date(2026, 1, 1), dt.date(2026, 7, 1), D("6.65"))
    _dun(database, offers, dt.date(2026, 4, 30))
    assert [s for s, _, _ in _steps(database, contract_id)] == [
        "reminder-1",
        "reminder-2",
        "formal-notice",
    ]
    with database.unit() as session:
        assert session.get(Contract, contract_id).state == "active"  # type: ignore[union-attr]
    report = _dun(database, offers, dt.date(2026, 5, 1))
    [suspension] = report.notices
    assert (suspension.step, suspension.channel) == ("suspension", "registered_letter")
    assert "003 §14.5" in suspension.text and "immédiatement exigibles" in suspension.text
    with database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None and contract.state == "suspended"
        [hold] = holds.open_holds(session, contract_id)
        assert (hold.ground, hold.clause) == ("unpaid-invoice", "003 §14.5")
        assert hold.reason.startswith("dunning:")

    _pay(database, offers, client, "59.00", dt.date(2026, 5, 5), "late-svp-1")
    with database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None and contract.state == "active"
        charges = lines.charges_of(session, contract_id)
    assert [(c.kind, c.amount) for c in charges] == [("late_interest", D("1.13"))]
    assert _steps(database, contract_id)[-1][0] == "lifted-20260505"


def test_disputed_invoice_is_not_dunned(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A contested invoice waits for the answer to its dispute before any reminder."""
    client = billing.client()
    contract = billing.contract("optima-cloud-azure", client, utc(2026, 2, 28, 23))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    [issued] = run_at(database, offers, utc(2026, 3, 1, 6)).issued
    with frozen_at(utc(2026, 3, 3)), database.unit() as session:
        disputes.open_dispute(session, STAFF, issued["invoice_id"], "VM jamais livrée")
    assert not _dun(database, offers, dt.date(2026, 6, 1)).notices
    with database.unit() as session:
        invoice = session.get(Invoice, issued["invoice_id"])
        assert invoice is not None and invoice.state == "issued"

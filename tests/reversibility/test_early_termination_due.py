"""003 §13.2.1: "Dès la résiliation du contrat … le Client s'engage à régler tous les
montants impayés": on an early termination through the client's doing, the invoices
already issued and unpaid fall due at once — their effective due date becomes the
termination date; the printed one stays on the frozen invoice; dunning counts from the
effective one. Read for the client (SPEC §17): not after force majeure. Both databases."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from nuages.history.models import HistoryEntry
from nuages.invoicing import receipts
from nuages.invoicing.models import Invoice
from nuages.kernel.clock import set_now
from tests.invoicing.test_dunning import _dun, _pay
from tests.reversibility.conftest import Ex
from tests.reversibility.test_early_termination import UTC, _svp


def _invoices(ex: Ex, contract_id: str) -> list[tuple[str, dt.date | None, dt.date | None]]:
    with ex.database.unit() as session:
        rows = session.execute(
            select(Invoice).where(Invoice.contract_id == contract_id).order_by(Invoice.seq_no)
        ).scalars()
        return [(i.number, i.due_date, receipts.due_date(session, i)) for i in rows]


def _reminded(ex: Ex, day: dt.date) -> set[str]:
    with ex.database.unit() as session:
        ids = {n.invoice_id for n in _dun(ex.database, ex.cw.offers, day).notices}
        return {
            i.number for i in session.execute(select(Invoice).where(Invoice.id.in_(ids))).scalars()
        }


def test_003_s13_2_1_issued_unpaid_invoices_fall_due_on_the_termination_date(ex: Ex) -> None:
    """003 §13.2.1: March (printed due 31 March) and April (printed due 1 May) invoiced
    and unpaid; the contract is ended for the client's breach on Thu 16 April 2026. April's
    invoice is then due 16 April (effective), its printed 1 May kept; March's stays due 31
    March (already earlier). Dunning on 17 April reminds both; the acceleration is in the
    invoice's history and is written once (a second daily pass and run add nothing)."""
    contract_id = _svp(ex)
    [(march, _, _), (april, april_printed, _)] = _invoices(ex, contract_id)
    assert april_printed == dt.date(2026, 5, 1)
    set_now(dt.datetime(2026, 4, 16, 10, tzinfo=UTC))
    ex.end("client_breach")
    ex.daily()
    assert _invoices(ex, contract_id)[:2] == [
        (march, dt.date(2026, 3, 31), dt.date(2026, 3, 31)),
        (april, dt.date(2026, 5, 1), dt.date(2026, 4, 16)),
    ]
    with ex.database.unit() as session:
        entries = session.execute(
            select(HistoryEntry).where(HistoryEntry.action == "invoicing.invoice.accelerated")
        ).scalars()
        [params] = [json.loads(e.params) for e in entries]
    assert params["number"] == april and params["clause"] == "003 §13.2.1"
    assert params["printed_due_date"] == "2026-05-01" and params["due_date"] == "2026-04-16"
    assert {march, april} <= _reminded(ex, dt.date(2026, 4, 17))


def test_003_s13_2_1_not_after_force_majeure(ex: Ex) -> None:
    """Read for the client (SPEC §17): ended by force majeure (003 §9), April's invoice
    stays due on its printed 1 May and dunning on 17 April leaves it alone."""
    contract_id = _svp(ex)
    [_, (april, _, _)] = _invoices(ex, contract_id)
    set_now(dt.datetime(2026, 4, 16, 10, tzinfo=UTC))
    ex.end("force_majeure")
    assert _invoices(ex, contract_id)[1] == (april, dt.date(2026, 5, 1), dt.date(2026, 5, 1))
    assert april not in _reminded(ex, dt.date(2026, 4, 17))


def test_003_s13_2_1_a_paid_invoice_is_not_accelerated(ex: Ex) -> None:
    """Only unpaid amounts fall due (003 §13.2.1): both invoices paid on 10 April, the
    breach on 16 April accelerates nothing."""
    contract_id = _svp(ex)
    _pay(
        ex.database,
        ex.cw.offers,
        ex.owner_client,
        "118.00",
        dt.date(2026, 4, 10),
        "pay-both-invoices",
    )
    set_now(dt.datetime(2026, 4, 16, 10, tzinfo=UTC))
    ex.end("client_breach")
    due = _invoices(ex, contract_id)[1][2]
    assert due == dt.date(2026, 5, 1)
    with ex.database.unit() as session:
        assert (
            session.execute(
                select(HistoryEntry).where(HistoryEntry.action == "invoicing.invoice.accelerated")
            ).all()
            == []
        )

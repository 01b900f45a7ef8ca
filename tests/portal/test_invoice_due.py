"""The invoice pages show the *effective* due date, the one dunning counts from, and say
why it differs from the printed one: due at once after an early termination through the
client's doing (003 §13.2.1), moved later by a late receipt (001 §4.4). Reuses the SVP
contract of ``tests/reversibility/test_early_termination.py``. Both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import unescape
from typing import Any

from lxml import html as lxml_html
from sqlalchemy import event, select

from nuages.accounts.roles import Role
from nuages.invoicing import receipts
from nuages.invoicing.models import Invoice, InvoiceReceipt
from nuages.kernel.clock import set_now
from tests.invoicing.factories import run_at
from tests.portal.conftest import signed_in
from tests.portal.harness import Browser
from tests.reversibility.conftest import Ex, ex  # noqa: F401  (the fixture)
from tests.reversibility.test_early_termination import UTC, _svp


def _invoices(on: Ex, contract_id: str) -> list[Invoice]:
    with on.database.unit() as session:
        return list(
            session.execute(
                select(Invoice).where(Invoice.contract_id == contract_id).order_by(Invoice.seq_no)
            ).scalars()
        )


def _due(page: str) -> str:
    [item] = lxml_html.fromstring(page).xpath('//li[@id="due"]')
    return " ".join(unescape(item.text_content()).split())


def _row(page: str, number: str) -> str:
    [row] = lxml_html.fromstring(page).xpath(f'//tr[td/a[text()="{number}"]]')
    return " ".join(unescape(row.text_content()).split())


@contextmanager
def _statements(on: Ex) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(on.database.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(on.database.engine, "before_cursor_execute", count)


def test_003_s13_2_1_invoice_pages_show_the_effective_due_date(
    ex: Ex,  # noqa: F811
    browser: Callable[[], Browser],
    user_with_password: Callable[..., Any],
) -> None:
    """003 §13.2.1: April's invoice, printed due 1 May 2026, falls due on 16 April when
    the contract ends for the client's breach that day: its page says "16 avr. 2026" and
    mentions the printed 1 May and the clause; the final invoice issued on 17 April is
    ordinary and shows its printed date alone; March's, received late (a receipt due 3
    April, 001 §4.4), shows 3 April and its printed 31 March. The list has the effective
    dates in a column, in French and English."""
    contract_id = _svp(ex)
    set_now(dt.datetime(2026, 4, 16, 10, tzinfo=UTC))
    ex.end("client_breach")
    run_at(ex.database, ex.cw.offers, dt.datetime(2026, 4, 17, 6, tzinfo=UTC))
    march, april, final = _invoices(ex, contract_id)
    assert april.due_date == dt.date(2026, 5, 1) and final.due_date is not None
    with ex.database.unit() as session:
        session.add(
            InvoiceReceipt(
                invoice_id=march.id,
                notice_id="",
                received_at=dt.datetime(2026, 3, 19, 9, tzinfo=UTC),
                due_date=dt.date(2026, 4, 3),
            )
        )
    set_now(dt.datetime(2026, 4, 17, 9, tzinfo=UTC))
    _owner, email = user_with_password(Role.CLIENT_OWNER, ex.owner_client)
    visitor = signed_in(browser, email)

    accelerated = _due(visitor.get(f"/invoices/{april.id}").text)
    assert accelerated.startswith("Échéance de paiement : 16 avr. 2026"), accelerated
    assert "date imprimée : 1 mai 2026" in accelerated and "003 §13.2.1" in accelerated
    assert "exigible immédiatement" in accelerated
    ordinary = _due(visitor.get(f"/invoices/{final.id}").text)
    assert ordinary == f"Échéance de paiement : {_fr(final.due_date)}", ordinary
    late = _due(visitor.get(f"/invoices/{march.id}").text)
    assert late.startswith("Échéance de paiement : 3 avr. 2026"), late
    assert "date imprimée : 31 mars 2026" in late and "reçue le 19 mars 2026" in late

    listing = visitor.get("/invoices").text
    assert "Échéance de paiement" in listing
    assert "16 avr. 2026 exigible immédiatement" in _row(listing, april.number)
    assert "1 mai 2026" not in _row(listing, april.number)
    assert "3 avr. 2026" in _row(listing, march.number)
    assert _fr(final.due_date) in _row(listing, final.number)

    visitor.submit("/", "/lang", lang="en")
    english = _due(visitor.get(f"/invoices/{april.id}").text)
    assert english.startswith("Due date: 16 Apr 2026"), english
    assert "printed date: 1 May 2026; due at once" in english


def _fr(day: dt.date | None) -> str:
    from nuages.portal import i18n

    return i18n.day(day, "fr")


def test_003_s13_2_1_due_dates_in_one_batch_agree_with_due_date(ex: Ex) -> None:  # noqa: F811
    """The list's helper (``receipts.due_dates``) gives, for each invoice, what
    ``receipts.due_date`` gives (003 §13.2.1 accelerated, 001 §4.4 received, printed),
    in three queries whatever the number of invoices (no query per row)."""
    contract_id = _svp(ex)
    set_now(dt.datetime(2026, 4, 16, 10, tzinfo=UTC))
    ex.end("client_breach")
    run_at(ex.database, ex.cw.offers, dt.datetime(2026, 4, 17, 6, tzinfo=UTC))
    invoices = _invoices(ex, contract_id)
    with ex.database.unit() as session:
        session.add(
            InvoiceReceipt(
                invoice_id=invoices[0].id,
                notice_id="",
                received_at=dt.datetime(2026, 3, 19, 9, tzinfo=UTC),
                due_date=dt.date(2026, 4, 3),
            )
        )
    with ex.database.unit() as session:
        with _statements(ex) as one:
            receipts.due_dates(session, invoices[:1])
        with _statements(ex) as three:
            batch = receipts.due_dates(session, invoices)
        assert len(one) <= 3 and len(three) == 3, three  # March has a receipt: 2 for it
        assert [batch[i.id].why for i in invoices] == ["received", "accelerated", "printed"]
        for invoice in invoices:
            assert batch[invoice.id].effective == receipts.due_date(session, invoice)
            assert batch[invoice.id].printed == invoice.due_date
        assert batch[invoices[1].id].clause == "003 §13.2.1"

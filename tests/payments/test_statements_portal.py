"""The back-office upload ``/admin/statements`` keeps the statement size limit of the API
(``NUAGES_MAX_STATEMENT_BYTES``, issue 15), read from the app's settings: a file over it
is refused on the page, in French, with nothing imported; a file under it passes even
when it is larger than the 1 MiB body limit of every other request
(``NUAGES_MAX_BODY_BYTES``), as on ``POST /api/v1/bank-statements``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.app import create_app
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing.models import Payment
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.payments.models import Statement
from tests.factories import World
from tests.invoicing.factories import Billing, utc
from tests.payments.test_statements import _invoice, _state
from tests.payments.test_statements_api import _statement
from tests.portal.harness import Browser, forms_of

PASSWORD = "correct horse battery staple"
Staff = Callable[..., Browser]


@pytest.fixture
def staff(
    tmp_path: Path, database: Database, offers: OfferRegistry, world: World
) -> Iterator[Staff]:
    """A signed-in provider admin on an app built with the given size settings."""
    apps: list[FastAPI] = []

    def make(**limits: int) -> Browser:
        settings = Settings(data_dir=tmp_path / "data", database_url=database.url, **limits)
        apps.append(create_app(settings, database, offers))
        actor = world.user(Role.PROVIDER_ADMIN, None, password=PASSWORD)
        with database.unit() as session:
            from nuages.accounts.models import User

            user = session.get(User, actor.user_id)
            assert user is not None
            email = user.email
        visitor = Browser(apps[-1])
        assert visitor.sign_in(email, PASSWORD).status_code == 200
        return visitor

    yield make
    for app in apps:
        compute = getattr(app.state, "compute", None)
        if compute is not None:
            compute.close()


def _padded(data: bytes, size: int) -> bytes:
    """The statement grown to ``size`` bytes by an XML comment after its declaration."""
    head, _, rest = data.partition(b"?>")
    filler = size - len(data) - len(b"<!---->")
    assert filler > 0
    return head + b"?>" + b"<!--" + b"x" * filler + b"-->" + rest


def _upload(visitor: Browser, data: bytes) -> object:
    page = visitor.get("/admin/statements")
    assert page.status_code == 200, page.text[:1000]
    form = next(f for f in forms_of(page.text) if f.action.endswith("/admin/statements"))
    return visitor.http.post(
        "/admin/statements",
        data={k: v for k, v in form.fields.items() if k != "statement"},
        files={"statement": ("releve.xml", data, "application/xml")},
    )


def _count(database: Database, model: type) -> int:
    with database.unit() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_statement_page_refuses_a_file_over_the_statement_setting_nothing_imported(
    staff: Staff, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """``max_statement_bytes`` = 8,000: a 9,000-byte statement paying an invoice is
    refused on the page (413, « Fichier trop gros. »), no statement recorded, the
    invoice still issued; the same statement at 7,000 bytes pays it."""
    set_now(utc(2026, 3, 1, 7))
    invoice = _invoice(database, offers, billing)
    data = _statement(invoice, f"facture {invoice.number}")
    set_now(utc(2026, 5, 1, 8))
    visitor = staff(max_statement_bytes=8_000)
    r = _upload(visitor, _padded(data, 9_000))
    assert r.status_code == 413, r.text[:2000]  # type: ignore[attr-defined]
    assert "Fichier trop gros." in r.text  # type: ignore[attr-defined]
    assert _count(database, Statement) == 0 and _count(database, Payment) == 0
    assert _state(database, invoice.id) == "issued"
    r = _upload(visitor, _padded(data, 7_000))
    assert r.status_code == 200, r.text[:2000]  # type: ignore[attr-defined]
    assert _count(database, Statement) == 1 and _state(database, invoice.id) == "paid"


def test_statement_page_takes_a_file_larger_than_the_body_limit_of_other_requests(
    staff: Staff, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """``max_body_bytes`` = 4,000 (every other request), ``max_statement_bytes`` =
    50,000: a 30,000-byte statement goes through the page and pays its invoice (before,
    the body limit refused it before the page was reached)."""
    set_now(utc(2026, 3, 1, 7))
    invoice = _invoice(database, offers, billing)
    data = _statement(invoice, f"facture {invoice.number}")
    set_now(utc(2026, 5, 1, 8))
    visitor = staff(max_body_bytes=4_000, max_statement_bytes=50_000)
    r = _upload(visitor, _padded(data, 30_000))
    assert r.status_code == 200, r.text[:2000]  # type: ignore[attr-defined]
    assert _state(database, invoice.id) == "paid"

"""Migration 0013_pay moves the rows of the two mandate records and the two batch tables
into the payments slice's one model each (issue 15), and back on downgrade: old rows
in, new rows out, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from nuages.billing.models import BillingAccount
from nuages.contracts.offers import OfferRegistry
from nuages.kernel import migrate
from nuages.kernel.db import Database
from nuages.payments.models import DirectDebitBatch, Mandate
from tests.conftest import fresh_postgres_database
from tests.invoicing.factories import Billing, utc

NOW = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    with fresh_postgres_database("nuages_p13") as url:
        yield url


def _old_rows(engine: sa.Engine, prepaid: str, client_id: str, invoiced: str) -> None:
    """What a database before 0013 holds: a top-up mandate and its debit, a top-up
    batch, an invoicing profile with its mandate columns, an invoice batch."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO sepa_mandates (id, contract_id, client_id, reference, iban, bic, "
                "holder_name, signed_on, state, used, revoked_at, created_at, updated_at, "
                "prenotice_days) VALUES ('m-old', :c, :cl, 'NUA-OLD-1', 'BE68539007547034', "
                "'GKCCBEBB', 'Exemple SPRL', :signed, 'active', :used, NULL, :now, :now, 5)"
            ),
            {
                "c": prepaid,
                "cl": client_id,
                "signed": dt.date(2026, 11, 1),
                "now": NOW,
                "used": True,
            },
        )
        conn.execute(
            sa.text(
                "INSERT INTO direct_debits (id, contract_id, client_id, mandate_id, amount, "
                "currency, request_key, end_to_end_id, state, batch_id, created_at, updated_at)"
                " VALUES ('d-old', :c, :cl, 'm-old', :amount, 'EUR', 'dd:x:1', 'NUAE2E1', "
                "'in_batch', 'MSG-TOPUP-1', :now, :now)"
            ),
            {"c": prepaid, "cl": client_id, "now": NOW, "amount": _ledger(engine, "25.00")},
        )
        conn.execute(
            sa.text(
                "INSERT INTO sepa_batches (id, created_at, collection_date, transactions, "
                "total, xml) VALUES ('MSG-TOPUP-1', :now, :day, 1, :total, '<x/>')"
            ),
            {"now": NOW, "day": dt.date(2026, 11, 16), "total": _ledger(engine, "25.00")},
        )
        conn.execute(
            sa.text(
                "UPDATE invoicing_profiles SET mandate_id = 'MANDAT-0001', "
                "mandate_signed_on = :signed, iban = 'FR7630006000011234567890189', "
                "bic = 'AGRIFRPPXXX', prenotice_days = NULL WHERE contract_id = :c"
            ),
            {"signed": dt.date(2026, 1, 20), "c": invoiced},
        )
        conn.execute(
            sa.text(
                "INSERT INTO invoicing_sepa_batches (id, message_id, collection_date, count, "
                "total, xml, state, created_at, settled_at) VALUES ('b-inv', 'MSG-INV-1', "
                ":day, 2, 25800, '<y/>', 'settled', :now, :now)"
            ),
            {"day": dt.date(2026, 4, 28), "now": NOW},
        )


def _ledger(engine: sa.Engine, amount: str) -> object:
    # billing's LedgerAmount: millionths on SQLite, NUMERIC on PostgreSQL.
    value = Decimal(amount)
    return int(value * 1_000_000) if engine.dialect.name == "sqlite" else value


def test_0013_moves_old_mandates_and_batches_into_payments_and_back(
    empty_url: str, offers: OfferRegistry
) -> None:
    """Upgrade: the top-up mandate keeps its id (its debit still points at it), the
    profile's mandate becomes a mandate row named after the client, both batches are
    rows of ``payments_batches`` (25.00 top-up, 258.00 invoices). Downgrade: they are
    back in the old tables."""
    migrate.upgrade(empty_url)
    database = Database(empty_url)
    billing = Billing(database, offers)
    client_id = billing.client("Migrée SARL")
    prepaid = billing.contract("isstar-cloud", client_id, utc(2026, 10, 1))
    invoiced = billing.contract("optima-cloud-azure", client_id, utc(2026, 10, 1))
    billing.profile(invoiced, address="3 avenue des Clients", postcode="69002", city="Lyon")
    with database.unit() as session:
        if session.get(BillingAccount, prepaid) is None:
            session.add(
                BillingAccount(
                    contract_id=prepaid,
                    client_id=client_id,
                    currency="EUR",
                    payment_reference="RF18MIGRATION",
                )
            )
    database.engine.dispose()

    migrate.downgrade(empty_url, "0011_pay")
    engine = sa.create_engine(empty_url)
    _old_rows(engine, prepaid, client_id, invoiced)
    engine.dispose()

    migrate.upgrade(empty_url)
    database = Database(empty_url)
    with database.unit() as session:
        rows = {m.reference: m for m in session.execute(sa.select(Mandate)).scalars()}
        assert set(rows) == {"NUA-OLD-1", "MANDAT-0001"}
        topup, invoice = rows["NUA-OLD-1"], rows["MANDAT-0001"]
        assert (topup.id, topup.contract_id, topup.used, topup.prenotice_days) == (
            "m-old",
            prepaid,
            True,
            5,
        )
        assert (invoice.contract_id, invoice.iban, invoice.bic, invoice.holder_name) == (
            invoiced,
            "FR7630006000011234567890189",
            "AGRIFRPPXXX",
            "Migrée SARL",
        )
        assert (invoice.signed_on, invoice.state, invoice.used) == (
            dt.date(2026, 1, 20),
            "active",
            False,
        )
        batches = {b.id: b for b in session.execute(sa.select(DirectDebitBatch)).scalars()}
        assert {(b.kind, b.message_id, b.count, b.total, b.state) for b in batches.values()} == {
            ("topup", "MSG-TOPUP-1", 1, Decimal("25.00"), "created"),
            ("invoice", "MSG-INV-1", 2, Decimal("258.00"), "settled"),
        }
        debit_mandate = session.execute(
            sa.text("SELECT mandate_id FROM direct_debits WHERE id = 'd-old'")
        ).scalar_one()
        assert debit_mandate == "m-old"
        tables = set(sa.inspect(session.connection()).get_table_names())
        assert not {"sepa_mandates", "sepa_batches", "invoicing_sepa_batches"} & tables
    database.engine.dispose()

    migrate.downgrade(empty_url, "0011_pay")
    engine = sa.create_engine(empty_url)
    with engine.connect() as conn:
        assert conn.execute(
            sa.text("SELECT id, reference, prenotice_days FROM sepa_mandates")
        ).all() == [("m-old", "NUA-OLD-1", 5)]
        assert conn.execute(
            sa.text("SELECT mandate_id, iban FROM invoicing_profiles WHERE contract_id = :c"),
            {"c": invoiced},
        ).one() == ("MANDAT-0001", "FR7630006000011234567890189")
        assert conn.execute(sa.text("SELECT id, transactions FROM sepa_batches")).all() == [
            ("MSG-TOPUP-1", 1)
        ]
        assert conn.execute(
            sa.text("SELECT message_id, total, state FROM invoicing_sepa_batches")
        ).all() == [("MSG-INV-1", 25800, "settled")]
    engine.dispose()

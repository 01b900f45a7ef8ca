"""SEPA pre-notification (issue 11 leftover): the debtor hears of each collection at
least 14 calendar days before it (SEPA Core Rulebook), unless the mandate agrees a
shorter period; both direct-debit batches (prepaid top-ups and invoices) keep it."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.billing import sepa
from nuages.billing.models import DirectDebit
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import sepa as invoice_sepa
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.notices.models import Notice
from tests.billing.factories import Funded, funded
from tests.billing.test_sepa_camt import MANDATE, STAFF, _debit
from tests.factories import World
from tests.invoicing.factories import Billing, run_at, utc


def _kinds(database: Database, kind: str) -> list[Notice]:
    with database.unit() as session:
        rows = list(session.execute(select(Notice).where(Notice.kind == kind)).scalars())
        session.expunge_all()
        return rows


def _topup_waiting(client: TestClient, world: World, **mandate: object) -> Funded:
    f = funded(world, client)
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/mandates",
        json={**MANDATE, **mandate},
        headers=f.owner.headers,
    )
    assert r.status_code == 201, r.text
    _debit(client, f, "50.00", "topup-1")
    return f


def test_regression_sepa_batch_default_lead_gives_the_rulebook_14_days(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """SEPA Core Rulebook: pre-notification at least 14 calendar days before the
    collection. The prepaid batch written on 2 November without a date collected on
    4 November (a 2-day lead); it now collects on 16 November and says 14 days."""
    set_now(utc(2026, 11, 2, 9))
    _topup_waiting(client, world)
    with database.unit() as session:
        batch = sepa.write_batch(session, offers, STAFF)
        assert batch is not None
        assert batch.collection_date == dt.date(2026, 11, 16)
    [notice] = _kinds(database, "sepa_prenotification")
    assert "14 calendar day(s) ahead" in notice.legal_ref


def test_sepa_rulebook_collection_sooner_than_14_days_leaves_the_debit_pending(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """A collection date 5 days ahead would cut the 14-day pre-notification short: the
    debit is left out with the reason and the date it may be collected from, stays
    pending (nothing sent, nothing announced), and goes in a batch dated 16 November."""
    set_now(utc(2026, 11, 2, 9))
    _topup_waiting(client, world)
    problems: list[dict[str, str]] = []
    with database.unit() as session:
        batch = sepa.write_batch(
            session, offers, STAFF, collection_date=dt.date(2026, 11, 7), problems=problems
        )
        assert batch is None
    [problem] = problems
    assert "14 calendar days" in problem["problem"] and "2026-11-16" in problem["problem"]
    with database.unit() as session:
        [debit] = session.execute(select(DirectDebit)).scalars()
        assert debit.state == "pending"
    assert _kinds(database, "sepa_prenotification") == []
    with database.unit() as session:
        later = sepa.write_batch(session, offers, STAFF, collection_date=dt.date(2026, 11, 16))
        assert later is not None


def test_sepa_rulebook_a_mandate_agreeing_5_days_is_collected_5_days_ahead(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """ "Unless agreed otherwise": a mandate signed with a 5-day pre-notification period
    (``prenotice_days``) is collected 5 days after the batch by default, and the
    notice's legal reference says 5 days."""
    set_now(utc(2026, 11, 2, 9))
    _topup_waiting(client, world, prenotice_days=5)
    with database.unit() as session:
        batch = sepa.write_batch(session, offers, STAFF)
        assert batch is not None and batch.collection_date == dt.date(2026, 11, 7)
    [notice] = _kinds(database, "sepa_prenotification")
    assert "5 calendar day(s) ahead" in notice.legal_ref


def test_sepa_rulebook_invoice_debits_are_prenotified_14_days_ahead(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """004 §8.2 invoices by direct debit: the batch collecting on 28 April, written on
    2 March, pre-notifies the debtor of its invoice (amount, date, mandate) in the same
    transaction; a batch on 10 March, 8 days after 2 March, leaves the invoice out
    naming the rule."""
    client = billing.client()
    contract = billing.contract("optima-cloud-azure", client, utc(2026, 2, 28, 23))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    billing.profile(
        contract,
        mandate={
            "mandate_id": "MANDAT-0001",
            "signed_on": "2026-01-20",
            "iban": "FR7630006000011234567890189",
            "bic": "AGRIFRPPXXX",
        },
    )
    run_at(database, offers, utc(2026, 3, 1, 6))
    set_now(utc(2026, 3, 2))
    with database.unit() as session:
        try:
            invoice_sepa.create_batch(
                session, STAFF, dt.date(2026, 3, 10), dt.date(2026, 4, 30), registry=offers
            )
        except Exception as exc:  # 409: nothing to collect then
            assert "14 calendar days" in str(exc)
        else:
            raise AssertionError("a collection 8 days ahead was accepted")
    assert _kinds(database, "sepa_prenotification") == []
    with database.unit() as session:
        batch, skipped = invoice_sepa.create_batch(
            session, STAFF, dt.date(2026, 4, 28), dt.date(2026, 4, 30), registry=offers
        )
        assert batch.count == 1 and skipped == []
    [notice] = _kinds(database, "sepa_prenotification")
    assert notice.client_id == client and notice.contract_id == contract
    assert "2026-04-28" in notice.subject and "MANDAT-0001" in notice.body


def test_pain008_of_a_topup_batch_is_valid_against_its_xsd(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """ISO 20022 pain.008.001.02: the top-up batch's file (collected 14 days ahead,
    FRST on the mandate's first debit) validates against the schema shipped with
    sepaxml."""
    from pathlib import Path

    import sepaxml
    import xmlschema

    set_now(utc(2026, 11, 2, 9))
    _topup_waiting(client, world)
    with database.unit() as session:
        batch = sepa.write_batch(session, offers, STAFF)
        assert batch is not None
        xml = batch.xml
    schema = Path(sepaxml.__file__).parent / "schemas" / "pain.008.001.02.xsd"
    xmlschema.XMLSchema(str(schema)).validate(xml)
    assert "<SeqTp>FRST</SeqTp>" in xml and "<ReqdColltnDt>2026-11-16</ReqdColltnDt>" in xml

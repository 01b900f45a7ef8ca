"""Runs, dunning, payments and metering happen "as of now" (issues 9.3, 17.8): a past
date catches up, a future one is refused with a message naming the field, and nothing
is written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from nuages.billing import ledger, metering
from nuages.billing.models import EntryKind, LedgerEntry
from nuages.cli import app as cli_app
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import dunning, payments, schemas
from nuages.invoicing.models import DunningNotice, Invoice, InvoiceRun, Payment
from nuages.kernel.clock import frozen_at, not_in_future
from nuages.kernel.db import Database
from nuages.kernel.errors import ValidationFailed
from tests.factories import World

from .factories import Billing, documents_of, run_at, utc

D = Decimal
WHO = Actor.system("test")


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The real ``nuages`` CLI over the test database."""
    monkeypatch.setenv("NUAGES_DATABASE_URL", database.url)
    from nuages.kernel import settings as settings_module

    settings_module.get_settings.cache_clear()
    yield CliRunner()
    settings_module.get_settings.cache_clear()


def _count(database: Database, model: type) -> int:
    with database.unit() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _prepaid(database: Database, offers: OfferRegistry, billing: Billing) -> str:
    """An isstar-cloud (prepaid, 000 §13.2) contract formed 1 March (Brussels) with
    100.00 on its account and VM M (0.048/h) running from 2 March 08:00 UTC."""
    client = billing.client("Start-up BVBA", country="BE")
    contract_id = billing.contract("isstar-cloud", client, utc(2026, 2, 28, 23))
    with database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        account = ledger.ensure_account(session, contract, offers.for_contract(session, contract))
        ledger.post(session, account, kind=EntryKind.TOPUP, amount=D(100), key="dates-topup")
    billing.vm(contract_id, "vm-m", utc(2026, 3, 2, 8), name="build")
    return contract_id


def test_not_in_future_helper_takes_today_and_the_past_refuses_tomorrow() -> None:
    """One rule for dates and moments given "as of now": today (UTC) and earlier pass,
    tomorrow fails; a moment one second ahead fails, naming the field."""
    with frozen_at(utc(2026, 3, 10, 12)):
        not_in_future("run_on", dt.date(2026, 3, 10))
        not_in_future("run_on", dt.date(2026, 1, 1))
        not_in_future("now", utc(2026, 3, 10, 12))
        with pytest.raises(ValidationFailed, match="run_on: 2026-03-11 is in the future"):
            not_in_future("run_on", dt.date(2026, 3, 11))
        with pytest.raises(ValidationFailed, match="now: 2026-03-10T12:00:01"):
            not_in_future("now", utc(2026, 3, 10, 12) + dt.timedelta(seconds=1))


def test_regression_run_dated_45_days_ahead_closes_no_prepaid_month(
    database: Database, offers: OfferRegistry, billing: Billing, cli: CliRunner
) -> None:
    """9.3: on 10 March a run dated 24 April (45 days ahead) used to issue March's
    prepaid consumption invoice with the usage metered so far (000 §13.2 invoices the
    month *after* it), and March's later usage was never invoiced. It is refused (service,
    CLI), nothing is written; a dry run may still preview. The run of 1 April then bills
    the whole month: VM M 0.048/h from 2 March 08:00 UTC to 31 March 22:00 UTC (end of
    March in Brussels) = 710 h → 34.08 net."""
    contract_id = _prepaid(database, offers, billing)
    metering.run(database.unit, utc(2026, 3, 10, 12), registry=offers)
    before = (_count(database, Invoice), _count(database, InvoiceRun))
    with pytest.raises(ValidationFailed, match="run_on: 2026-04-24 is in the future"):
        run_at(database, offers, utc(2026, 3, 10, 12), run_on=dt.date(2026, 4, 24))
    with frozen_at(utc(2026, 3, 10, 12)):
        r = cli.invoke(cli_app, ["invoicing", "run", "--on", "2026-04-24"])
    assert r.exit_code == 1 and "is in the future" in r.output, r.output
    assert (_count(database, Invoice), _count(database, InvoiceRun)) == before
    preview = run_at(
        database, offers, utc(2026, 3, 10, 12), run_on=dt.date(2026, 4, 24), dry_run=True
    )
    assert preview.previews and not preview.issued
    assert _count(database, Invoice) == before[0]

    metering.run(database.unit, utc(2026, 4, 1, 0), registry=offers)
    report = run_at(database, offers, utc(2026, 4, 1, 6))
    assert not report.problems, report.problems
    [(march, _lines)] = documents_of(database, contract_id)
    assert (march.period_start, march.total_net) == (dt.date(2026, 3, 1), D("34.08"))


def test_regression_run_api_refuses_a_date_ten_days_ahead(
    client: TestClient, world: World, database: Database, billing: Billing
) -> None:
    """9.3: the API used to accept any run date up to 45 days ahead. On 1 March at
    12:00 UTC, ``run_on`` 11 March is a 422 naming ``run_on`` and nothing is issued; the
    same date as a dry run previews (66.00 = azure-b2s 55.00 + 20 %); today runs."""
    admin = world.admin()
    client_id = billing.client()
    contract = billing.contract("optima-cloud-azure", client_id, utc(2026, 3, 1, 9))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    with frozen_at(utc(2026, 3, 1, 12)):
        r = client.post(
            "/api/v1/invoicing/runs", json={"run_on": "2026-03-11"}, headers=admin.headers
        )
        assert r.status_code == 422 and "run_on: 2026-03-11" in r.json()["detail"], r.text
        assert _count(database, Invoice) == 0
        r = client.post(
            "/api/v1/invoicing/runs",
            json={"run_on": "2026-03-11", "dry_run": True},
            headers=admin.headers,
        )
        assert r.status_code == 200 and r.json()["previews"][0]["grand_total"] == "66.00"
        r = client.post("/api/v1/invoicing/runs", json={}, headers=admin.headers)
        assert r.status_code == 200 and len(r.json()["issued"]) == 1, r.text


def test_regression_dunning_in_the_future_suspends_nothing(
    client: TestClient,
    world: World,
    database: Database,
    offers: OfferRegistry,
    billing: Billing,
    cli: CliRunner,
) -> None:
    """9.3: ``nuages invoicing dunning --on`` a future date used to take today the
    steps due then (003 §14.5 suspension 15 days after the due date). A future ``on``
    is refused by the service, the CLI (exit 1) and the API (422 naming ``on``); no
    notice is written."""
    client_id = billing.client()
    contract = billing.contract("optima-cloud-azure", client_id, utc(2026, 3, 1, 9))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    assert run_at(database, offers, utc(2026, 3, 1, 12)).issued
    with frozen_at(utc(2026, 3, 2, 7)):
        with pytest.raises(ValidationFailed, match="on: 2026-06-01 is in the future"):
            with database.unit() as session:
                dunning.run(session, WHO, offers, dt.date(2026, 6, 1))
        r = cli.invoke(cli_app, ["invoicing", "dunning", "--on", "2026-06-01"])
        assert r.exit_code == 1 and "is in the future" in r.output, r.output
        r = client.post(
            "/api/v1/dunning/runs", json={"on": "2026-06-01"}, headers=world.admin().headers
        )
        assert r.status_code == 422 and "on: 2026-06-01" in r.json()["detail"], r.text
        # Today (and a past day, catching up) are taken.
        r = cli.invoke(cli_app, ["invoicing", "dunning", "--on", "2026-03-02"])
        assert r.exit_code == 0, r.output
    assert _count(database, DunningNotice) == 0


def test_regression_payment_received_in_the_future_is_refused(
    client: TestClient, world: World, database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """9.3: a payment dated tomorrow used to be accepted (and could lift a suspension
    for money not received). Staff get 422 naming ``received_on``; nothing is written;
    today's date is taken (the 66.00 of the March invoice: azure-b2s 55.00 + 20 % VAT)."""
    client_id = billing.client()
    contract = billing.contract("optima-cloud-azure", client_id, utc(2026, 3, 1, 9))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    assert run_at(database, offers, utc(2026, 3, 1, 12)).issued
    body = {
        "client_id": client_id,
        "means": "transfer",
        "amount": "66.00",
        "received_on": "2026-03-11",
        "idempotency_key": "future-1",
    }
    admin = world.admin()
    with frozen_at(utc(2026, 3, 10, 12)):
        r = client.post("/api/v1/payments", json=body, headers=admin.headers)
        assert r.status_code == 422 and "received_on: 2026-03-11" in r.json()["detail"], r.text
        assert _count(database, Payment) == 0
        with database.unit() as session, pytest.raises(ValidationFailed):
            payments.record(
                session, WHO, billing.offers, schemas.PaymentCreate.model_validate(body)
            )
        r = client.post(
            "/api/v1/payments", json={**body, "received_on": "2026-03-10"}, headers=admin.headers
        )
        assert r.status_code == 201, r.text


def test_regression_meter_48_hours_ahead_charges_nothing(
    database: Database, offers: OfferRegistry, billing: Billing, cli: CliRunner
) -> None:
    """17.8: ``nuages billing meter --now`` 48 h ahead used to debit 48 hours that had
    not happened and mark them metered. It is refused (service and CLI exit 1) and no
    usage is written; metering up to the present then debits the hours that did happen:
    VM M from 2 March 08:00 to 10:00 UTC = 2 h."""
    _prepaid(database, offers, billing)
    with frozen_at(utc(2026, 3, 2, 10)):
        with pytest.raises(ValidationFailed, match="now: 2026-03-04T10:00:00"):
            metering.run(database.unit, utc(2026, 3, 4, 10), registry=offers)
        r = cli.invoke(cli_app, ["billing", "meter", "--now", "2026-03-04T10:00:00Z"])
        assert r.exit_code == 1 and "is in the future" in r.output, r.output
        with database.unit() as session:
            usage = session.execute(
                select(func.count()).where(LedgerEntry.kind == EntryKind.USAGE)
            ).scalar_one()
        assert usage == 0
        metering.run(database.unit, utc(2026, 3, 2, 10), registry=offers)
    with database.unit() as session:
        hours = session.execute(
            select(func.sum(LedgerEntry.quantity)).where(LedgerEntry.kind == EntryKind.USAGE)
        ).scalar_one()
    assert D(hours) == 2

"""The dashboard's money and maintenance lines (issue #12 §2: "balance and its run-out
date or the next invoice … upcoming deadlines and maintenance"): an invoiced contract's
next invoice with the amount a run would issue, a prepaid contract's days left, and
the maintenance windows affecting the client's VMs (only its own)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from html import unescape
from typing import Any

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role
from nuages.history.service import Actor
from nuages.invoicing import runs, upcoming
from nuages.kernel.clock import frozen_at, set_now, utc_now
from nuages.kernel.db import Database
from nuages.portal import i18n
from nuages.sla import maintenance
from nuages.sla.schemas import MaintenanceCreate
from tests.factories import World
from tests.invoicing.factories import Billing
from tests.portal.conftest import signed_in

Make = Callable[..., Any]


def test_next_invoice_estimate_is_what_the_run_then_issues(
    browser: Make, user_with_password: Make, world: World, database: Database, offers: Any,
    settings: Any,
) -> None:  # fmt: skip
    """001 §4.4 (cloudbizz: monthly, in advance): the first month is invoiced; the
    dashboard announces the next one on the first day of the next month, with the
    amount the dry run gives — and the real run on that day issues exactly that. Run at
    00:30 in Brussels, when the UTC date is still the day before (the announced day is
    the contract's local date)."""
    set_now(dt.datetime(2026, 12, 4, 23, 30, tzinfo=dt.UTC))
    today = dt.date(2026, 12, 5)  # in Brussels
    billing = Billing(database, offers)
    client_id = billing.client("Cloud SPRL")
    start = (utc_now() - dt.timedelta(days=40)).replace(hour=12, minute=0, second=0, microsecond=0)
    contract_id = billing.contract("cloudbizz", client_id, start)
    billing.line(contract_id, "server-m", start.date())
    with frozen_at(start + dt.timedelta(hours=1)):
        first = runs.run(database, Actor.system("test"), offers, start.date(),
                         contract_ids=[contract_id], settings=settings)  # fmt: skip
    assert first.issued, first.problems
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    with database.unit(readonly=True) as session:
        owner = Principal.staff("test")
        coming = upcoming.next_invoice(session, owner, offers, contract_id, settings)
    assert coming is not None and coming.estimate is not None and coming.estimate > 0
    assert coming.period_start == coming.issue_on or coming.issue_on == today
    page = unescape(signed_in(browser, email).get("/").text)
    assert "Prochaine facture le" in page
    assert i18n.money(coming.estimate, "EUR", "fr") in page
    # The run of the announced day (any period not invoiced yet is due by then).
    day = coming.issue_on
    with frozen_at(dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)):
        real = runs.run(database, Actor.system("test"), offers, day,
                        contract_ids=[contract_id], settings=settings)  # fmt: skip
    issued = [d for d in real.issued if d["period"] == coming.period_start.isoformat()]
    assert issued and Decimal(str(issued[0]["grand_total"])) == coming.estimate


def test_prepaid_days_left_and_maintenance_of_my_vms_only(
    browser: Make, user_with_password: Make, world: World, database: Database, offers: Any
) -> None:
    """000 §13.2: a prepaid contract shows its balance, run-out date and whole days
    left; 000 §7: a window planned on the client's VM is listed on its dashboard and
    not on another client's."""
    from nuages.billing import schemas as billing_schemas
    from nuages.billing import topups

    billing = Billing(database, offers)
    client_id = billing.client("Prépayé SA")
    now = utc_now()
    contract_id = billing.contract("isstar-cloud", client_id, now - dt.timedelta(hours=2))
    with database.unit() as session:
        topups.record_transfer(
            session, Principal.staff("test"), offers, contract_id,
            billing_schemas.TransferCreate(amount=Decimal("300.00"), reference="BANK-DL"),
        )  # fmt: skip
    vm_id = billing.vm(contract_id, "vm-s", now - dt.timedelta(hours=1))
    start = (now + dt.timedelta(days=5)).replace(hour=22, minute=0, second=0, microsecond=0)
    with database.unit() as session:
        maintenance.schedule(
            session, Principal.staff("test"), offers,
            MaintenanceCreate(scope="vm", scope_ref=vm_id, start=start,
                              end=start + dt.timedelta(hours=1), reason="Mise à jour <noyau>",
                              confirm_outside_window=True),
        )  # fmt: skip
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    page = signed_in(browser, email).get("/")
    text = unescape(page.text)
    assert "Maintenances prévues" in text and "Mise à jour <noyau>" in text
    assert "&lt;noyau&gt;" in page.text  # escaped like every name
    assert "jour(s) restant(s)" in text and "300,00" in text
    # 000 §9: the term's end among the next deadlines, named in French (not the slice's
    # English description).
    assert "Prochaines échéances" in text and "Terme du contrat" in text
    assert "the term ends" not in text
    _other, other_email = user_with_password(Role.CLIENT_OWNER, world.client("Autre"))
    other = unescape(signed_in(browser, other_email).get("/").text)
    assert "Mise à jour <noyau>" not in other
    assert "Aucune maintenance prévue sur vos machines." in other

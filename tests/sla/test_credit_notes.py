"""002 §6 credits on an invoiced offer: claimed, then a credit note on the next
invoice, exactly once and linked to its report (issue 22)."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from nuages.accounts.principal import Principal
from nuages.accounts.roles import ROLE_SCOPES, Role
from nuages.compute.models import Vm
from nuages.compute.services import outages as recorded
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing.models import Invoice
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database
from nuages.kernel.errors import Conflict
from nuages.sla import credits, jobs
from nuages.sla.models import SlaCredit, SlaReport
from tests.invoicing.conftest import billing  # noqa: F401
from tests.invoicing.factories import Billing, run_at, utc

WHO = Actor.system("test")
OFFERS = Path(__file__).resolve().parents[2] / "offers"
PARIS = ZoneInfo("Europe/Paris")


def test_002_s6_claimed_credit_is_one_credit_note_on_the_next_invoice(
    database: Database,
    offers: OfferRegistry,
    billing: Billing,  # noqa: F811
) -> None:
    """002 §6: axantis-cloud-vm-avance, a VM at 45.00 net a month invoiced in advance for
    December 2026 (54.00 with 20 % VAT). Down 90 minutes on Thu 3 December 09:00 Paris:
    December has 22 working days (25 December a holiday) × 600 = 13,200 coverage
    minutes, (13200 − 90)/13200 = 99.318 % → 10 % of the invoiced 54.00 = 5.40 (under
    the 20 % cap of the VM's fees, 9.00). The owner claims it on 1 January; January's
    invoice is issued; the next SLA runs turn the claim into one credit note of 5.40
    on it, named by the credit (``applied_ref``), never a second."""
    client_id = billing.client()
    contract_id = billing.contract("axantis-cloud-vm-avance", client_id, utc(2026, 11, 30, 23))
    vm_id = billing.vm(contract_id, "avance-2-4", utc(2026, 12, 1, 5), name="web-1")
    run_at(database, offers, utc(2026, 12, 1, 6))
    down = dt.datetime(2026, 12, 3, 8, tzinfo=dt.UTC)  # 09:00 Paris
    with database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        assert recorded.open_outage(session, vm, start=down, detected_at=down, cause="crashed")
        recorded.close_outage(session, vm, down + dt.timedelta(minutes=90), WHO)
    with frozen_at(utc(2027, 1, 1, 3)):
        jobs.run(database, WHO, offers, 2026, 12)
    with database.unit() as session:
        report = session.execute(select(SlaReport)).scalar_one()
        assert report.credit_amount == Decimal("5.40")
        contract = session.get(Contract, contract_id)
        assert contract is not None
    owner = Principal(
        user_id="owner", email="o@example.com", role=Role.CLIENT_OWNER, client_id=client_id,
        scopes=ROLE_SCOPES[Role.CLIENT_OWNER],
    )  # fmt: skip
    with frozen_at(utc(2027, 1, 1, 4)), database.unit() as session:
        assert credits.claim(session, owner, report.id).state == "due"
    with frozen_at(utc(2027, 1, 1, 5)):
        waiting = jobs.run(database, WHO, offers, 2026, 12)
    assert (waiting["applied"], waiting["waiting"]) == (0, 1)  # no invoice since the claim
    run_at(database, offers, utc(2027, 1, 1, 6))
    with frozen_at(utc(2027, 1, 1, 7)):
        applied = jobs.run(database, WHO, offers, 2026, 12)
        again = jobs.run(database, WHO, offers, 2026, 12)
    assert (applied["applied"], again["applied"], again["issued"]) == (1, 0, 0)
    with database.unit() as session:
        credit = session.execute(select(SlaCredit)).scalar_one()
        notes = list(
            session.execute(select(Invoice).where(Invoice.kind == "credit_note")).scalars()
        )
        [note] = notes
        january = session.get(Invoice, note.corrects_id)
        assert january is not None and january.period_start == dt.date(2027, 1, 1)
        assert abs(note.grand_total) == Decimal("5.40")
        assert (credit.state, credit.applied_ref) == ("applied", f"credit_note:{note.number}")
        assert credit.report_id == report.id


def test_002_s6_claim_after_the_offers_window_is_refused_and_writes_nothing(
    database: Database, tmp_path: Path
) -> None:
    """002 §6 "sur demande" with an operator's claim window of 30 calendar days (the
    seed states none: claims stay open, SPEC §17): November's credit is issued on
    1 December 03:00 Paris; a claim on 31 December (30 days run to the end of
    31 December) is still in time, on 1 January it is a 409 naming the window, and the
    credit stays claimable."""
    folder = tmp_path / "offers"
    shutil.copytree(OFFERS, folder)
    terms = folder / "axantis-cloud-vm-avance.toml"
    text = terms.read_text()
    plain = 'claim = { mode = "on_request", clause = "002 §6" }'
    assert plain in text
    window = '{ amount = 30, unit = "calendar_days" }'
    terms.write_text(text.replace(plain, plain.replace("clause", f"window = {window}, clause")))
    registry = OfferRegistry.from_directory(folder)
    claim = registry.current("axantis-cloud-vm-avance").sla.claim
    assert claim is not None and claim.window is not None
    orders = Billing(database, registry)
    client_id = orders.client()
    contract_id = orders.contract("axantis-cloud-vm-avance", client_id, utc(2026, 10, 31, 23))
    vm_id = orders.vm(contract_id, "avance-2-4", utc(2026, 11, 1, 5), name="web-1")
    down = dt.datetime(2026, 11, 3, 8, tzinfo=dt.UTC)
    with database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        assert recorded.open_outage(session, vm, start=down, detected_at=down, cause="crashed")
        recorded.close_outage(session, vm, down + dt.timedelta(minutes=60), WHO)
    with frozen_at(utc(2026, 12, 1, 2)):
        jobs.run(database, WHO, registry, 2026, 11)
    owner = Principal(
        user_id="owner", email="o@example.com", role=Role.CLIENT_OWNER, client_id=client_id,
        scopes=ROLE_SCOPES[Role.CLIENT_OWNER],
    )  # fmt: skip
    with database.unit() as session:
        report = session.execute(select(SlaReport)).scalar_one()
        credit = session.execute(select(SlaCredit)).scalar_one()
        assert credit.claim_until is not None
        assert credit.claim_until.astimezone(PARIS) == dt.datetime(2027, 1, 1, tzinfo=PARIS)
    with frozen_at(utc(2026, 12, 31, 23)), pytest.raises(Conflict, match="claim window"):
        with database.unit() as session:
            credits.claim(session, owner, report.id)
    with database.unit() as session:
        assert session.execute(select(SlaCredit.state)).scalar_one() == "claimable"
    with frozen_at(utc(2026, 12, 31, 12)), database.unit() as session:
        assert credits.claim(session, owner, report.id).state == "due"

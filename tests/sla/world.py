"""SLA test helpers: contracts with running VMs, without booting anything."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import select

from nuages.billing import ledger
from nuages.billing.models import LedgerEntry
from nuages.compute.models import Vm
from nuages.contracts.models import Contract
from tests.compute.world import ComputeWorld


def running_vm(
    cw: ComputeWorld,
    contract_id: str,
    *,
    flavour: str,
    since: dt.datetime,
    host_id: str | None = None,
    managed: bool = False,
    name: str = "web-1",
) -> str:
    """A VM of ``contract_id`` that has been running since ``since`` (as a finished
    create operation leaves it)."""
    image = cw.image(f"img-{uuid.uuid4().hex[:8]}")
    with cw.database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        vm = Vm(
            id=str(uuid.uuid4()), client_id=contract.client_id, contract_id=contract_id,
            name=name, flavour_id=flavour, image_id=image.id, host_id=host_id, vcpus=1,
            ram_mib=512, disk_gib=1, vm_state="running", power_state="running",
            created_at=since, activated_at=since, managed=managed,
        )  # fmt: skip
        session.add(vm)
        session.flush()
        return vm.id


def debit(cw: ComputeWorld, contract_id: str, vm_id: str, amount: str, at: dt.datetime) -> None:
    """A prepaid usage debit of ``vm_id`` (000 §13.2), as metering writes it."""
    with cw.database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        account = ledger.ensure_account(
            session, contract, cw.offers.for_contract(session, contract)
        )
        session.add(
            LedgerEntry(
                contract_id=contract_id,
                client_id=contract.client_id,
                kind="usage",
                amount=-Decimal(amount),
                currency="EUR",
                at=at,
                recorded_at=at,
                idempotency_key=f"test-usage:{vm_id}:{at.isoformat()}",
                resource_type="vm",
                resource_id=vm_id,
                period_start=at - dt.timedelta(hours=1),
                period_end=at,
            )
        )
        del account


def entries(cw: ComputeWorld, contract_id: str, kind: str) -> list[LedgerEntry]:
    with cw.database.unit() as session:
        return list(
            session.execute(
                select(LedgerEntry).where(
                    LedgerEntry.contract_id == contract_id, LedgerEntry.kind == kind
                )
            ).scalars()
        )

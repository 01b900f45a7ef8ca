"""The monthly job's counting path in SQL gives the calculator's figures (issue 22).

Varied months on SQLite and PostgreSQL: overlapping, touching and nested outages,
recorded (crashes, the guest's own stops) and declared by staff (excusable causes and
not), outages straddling the month's edges and one still open, times to the
microsecond, October 2026 (the clocks go back on the 25th) and November 2026 (1 and 11
November holidays), maintenance announced in time (left out of count and coverage) and
late (an outage), a negative prepaid balance (000 §5), failure notices (002 §6), offers
002 (Mon–Fri 08:00–18:00 Paris), 000 (24/7 Brussels, 5-minute minimum) and 001 (24/7).
Each VM's line (counted minutes, coverage, availability, credit) must be the same.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from zoneinfo import ZoneInfo

from nuages.accounts.roles import Role
from nuages.billing.models import NegativeBalancePeriod
from nuages.compute.models import Vm, VmOutage
from nuages.contracts.models import Contract
from nuages.kernel.clock import frozen_at
from nuages.sla import maintenance, outages, reports
from nuages.sla.models import NOT_EXCUSABLE, FailureNotice
from nuages.sla.schemas import IncidentCreate, MaintenanceCreate
from nuages.terms import apply
from tests.compute.world import CLI, ComputeWorld, cw_fixture  # noqa: F401
from tests.sla.world import debit, running_vm

UTC = dt.UTC
OFFERS = {
    "axantis-cloud-vm-avance": ("avance-2-4", ZoneInfo("Europe/Paris")),
    "isstar-cloud": ("vm-s", ZoneInfo("Europe/Brussels")),
    "cloudbizz": (None, ZoneInfo("Europe/Brussels")),
}


def _local(zone: ZoneInfo, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone).astimezone(UTC)


def _flavour(cw: ComputeWorld, offer_id: str) -> str:
    flavour = OFFERS[offer_id][0]
    if flavour is None:
        flavour = cw.offers.current(offer_id).catalogue.flavours[0].id
    return flavour


def _seed(cw: ComputeWorld, rng: random.Random) -> dict[str, list[str]]:
    """Contracts per offer with their VMs' months (returns VM ids per contract)."""
    out: dict[str, list[str]] = {}
    base = dt.datetime(2026, 9, 28, tzinfo=UTC)
    for offer_id, (_, zone) in OFFERS.items():
        offer = cw.offers.current(offer_id)
        causes = [*offer.sla.excusable_causes, NOT_EXCUSABLE, NOT_EXCUSABLE]
        for n in range(2):
            client_id = cw.world.client(f"{offer_id} {n}")
            cw.world.user(Role.CLIENT_OWNER, client_id)  # the maintenance notices' recipient
            contract_id = cw.contract(client_id, offer_id)
            vms = [
                running_vm(
                    cw,
                    contract_id,
                    flavour=_flavour(cw, offer_id),
                    since=_local(zone, 2026, 9, 1),
                    name=f"vm-{k}",
                )
                for k in range(3)
            ]
            out[contract_id] = vms
            rows = []
            for vm_id in vms:
                for _ in range(rng.randrange(4, 12)):
                    start = base + dt.timedelta(
                        minutes=rng.randrange(0, 66 * 1440), microseconds=rng.randrange(10**6)
                    )
                    length = dt.timedelta(minutes=rng.choice([1, 4, 5, 6, 30, 90, 600, 2000]))
                    cause = rng.choice(["crashed", "crashed", "host-unreachable", "guest-shutdown"])
                    rows.append((vm_id, start, start + length, cause))
                # Overlapping, nested and touching rows on a weekday morning.
                t = _local(zone, 2026, 11, 3, 9, 0) + dt.timedelta(seconds=rng.randrange(600))
                rows += [
                    (vm_id, t, t + dt.timedelta(minutes=40), "crashed"),
                    (vm_id, t + dt.timedelta(minutes=10), t + dt.timedelta(minutes=20), "crashed"),
                    (vm_id, t + dt.timedelta(minutes=40), t + dt.timedelta(minutes=43), "crashed"),
                    (vm_id, t + dt.timedelta(minutes=30), t + dt.timedelta(hours=3), "crashed"),
                ]
            # Straddling the month's edges (local midnight), and the DST night.
            rows.append(
                (vms[0], _local(zone, 2026, 10, 30, 17), _local(zone, 2026, 11, 2, 9, 7), "crashed")
            )
            rows.append(
                (
                    vms[1],
                    _local(zone, 2026, 10, 25, 1),
                    _local(zone, 2026, 10, 26, 8, 30),
                    "crashed",
                )
            )
            rows.append((vms[2], _local(zone, 2026, 11, 11, 7), _local(zone, 2026, 11, 12, 9), "x"))
            if offer.billing.mode == "prepaid":  # an account, debits: the credit's base
                debit(cw, contract_id, vms[0], "100", _local(zone, 2026, 11, 20))
                debit(cw, contract_id, vms[1], "30", _local(zone, 2026, 10, 20))
            with cw.database.unit() as session:
                session.add_all(
                    VmOutage(
                        vm_id=vm_id,
                        client_id=client_id,
                        contract_id=contract_id,
                        start=s,
                        end=e,
                        cause=c,
                        detected_at=s,
                    )
                    for vm_id, s, e, c in rows
                )
                # Still open: counts until the month's end (or now).
                session.add(
                    VmOutage(
                        vm_id=vms[1],
                        client_id=client_id,
                        contract_id=contract_id,
                        start=_local(zone, 2026, 11, 30, 16),
                        end=None,
                        cause="crashed",
                        detected_at=_local(zone, 2026, 11, 30, 16),
                    )
                )
                if n == 1:
                    session.add(
                        FailureNotice(
                            vm_id=vms[2],
                            client_id=client_id,
                            contract_id=contract_id,
                            noticed_at=_local(zone, 2026, 11, 12, 11),
                            description="down",
                        )
                    )
                if n == 1 and offer.billing.mode == "prepaid":
                    session.add(
                        NegativeBalancePeriod(
                            contract_id=contract_id,
                            client_id=client_id,
                            started_at=_local(zone, 2026, 11, 3, 9, 20),
                            ended_at=_local(zone, 2026, 11, 5, 10),
                        )
                    )
            for vm_id in vms[:2]:
                for _ in range(3):
                    start = base + dt.timedelta(minutes=rng.randrange(0, 64 * 1440))
                    end = start + dt.timedelta(minutes=rng.randrange(1, 900))
                    with frozen_at(end + dt.timedelta(days=1)), cw.database.unit() as session:
                        outages.declare(
                            session,
                            CLI,
                            cw.offers,
                            IncidentCreate(
                                scope="vm",
                                scope_ref=vm_id,
                                start=start,
                                end=end,
                                cause=rng.choice(causes),
                                description="declared",
                            ),
                        )
            # Maintenance announced weeks ahead (in time), and 47 h ahead (late for 000 §7).
            for vm_id, start, announced in (
                (vms[0], _local(zone, 2026, 11, 4, 9), _local(zone, 2026, 9, 20)),
                (vms[0], _local(zone, 2026, 10, 27, 17), _local(zone, 2026, 9, 20)),
                (vms[1], _local(zone, 2026, 11, 3, 9, 30), _local(zone, 2026, 9, 20)),
                (vms[2], _local(zone, 2026, 11, 18, 8), _local(zone, 2026, 11, 16, 9)),
            ):
                with frozen_at(announced), cw.database.unit() as session:
                    maintenance.schedule(
                        session,
                        CLI,
                        cw.offers,
                        MaintenanceCreate(
                            scope="vm",
                            scope_ref=vm_id,
                            start=start,
                            end=start + dt.timedelta(hours=2, minutes=15),
                            reason="update",
                            confirm_outside_window=True,
                        ),
                    )
    return out


def test_issue_22_counting_path_gives_the_calculators_figures(cw: ComputeWorld) -> None:
    """Both paths, every contract, October and November 2026: the same lines (counted
    minutes, coverage, availability, credit) per VM; most VMs counted in SQL."""
    seeded = _seed(cw, random.Random(2211))
    counted_in_sql = excused_in_sql = 0
    with frozen_at(dt.datetime(2026, 12, 2, 3, tzinfo=UTC)), cw.database.unit() as session:
        for year, month in ((2026, 10), (2026, 11)):
            pairs = []
            for contract_id in seeded:
                contract = session.get(Contract, contract_id)
                assert contract is not None
                pairs.append((contract, cw.offers.for_contract(session, contract)))
            for zone in {o.offer.timezone for _, o in pairs}:
                batch = [(c, o) for c, o in pairs if o.offer.timezone == zone]
                start, end = apply.calendar_for(batch[0][1]).month_bounds(year, month)
                slow_facts = reports._facts(session, batch, start, end)
                fast_facts = reports._facts(session, batch, start, end, fast=True)
                for contract, offer in batch:
                    slow = reports._measure(contract, offer, year, month, slow_facts)
                    fast = reports._measure(contract, offer, year, month, fast_facts)
                    minutes = {x["vm_id"]: x["counted_minutes"] for x in slow.lines}
                    assert minutes == {x["vm_id"]: x["counted_minutes"] for x in fast.lines}
                    assert slow.lines == fast.lines, (offer.id, year, month)
                    assert slow.credit_amount == fast.credit_amount
                    assert slow.fingerprint == fast.fingerprint
                    # The lines' JSON written from templates is json.dumps's, byte for byte.
                    for measured in (slow, fast):
                        assert measured.texts is not None
                        assert measured.lines_json == json.dumps(measured.lines, sort_keys=True)
                for count in fast_facts.counts.values():
                    counted_in_sql += sum(
                        1 for v in count.any_outage if v not in fast_facts.by_calculator
                    )
                # Only the VMs with a failure notice or a late window used the calculator;
                # windows announced in time are counted in SQL.
                assert len(fast_facts.by_calculator) <= 2 * len(batch)
                excused_in_sql += sum(
                    1
                    for contract, offer in batch
                    for vm_id in seeded[contract.id]
                    if vm_id not in fast_facts.by_calculator
                    and maintenance.split(offer, fast_facts.windows.get(vm_id, []))[0]
                )
    assert counted_in_sql >= 30 and excused_in_sql >= 10
    with cw.database.unit() as session:
        assert session.query(Vm).count() == 18


def test_issue_22_report_fingerprint_unchanged_by_the_single_encoding() -> None:
    """Reports issued before compare by fingerprint: the one built from the stored lines
    is the digest of ``json.dumps([lines, str(credit)], sort_keys=True, default=str)``
    that earlier versions wrote (else every month would be re-issued as a correction)."""
    import hashlib
    import json
    from decimal import Decimal

    month = reports.ContractMonth(None, None, 2026, 11)  # type: ignore[arg-type]
    month.lines = [
        {"vm_id": "a", "name": "web-1", "credit": "4.50", "late_maintenance": 1},
        {"vm_id": "b", "name": "é", "rolling_cap_applied": False, "objective_met": True},
    ]
    month.credit_amount = Decimal("4.50")
    old = json.dumps([month.lines, str(month.credit_amount)], sort_keys=True, default=str)
    assert month.fingerprint == hashlib.sha256(old.encode()).hexdigest()
    assert json.loads(month.lines_json) == month.lines

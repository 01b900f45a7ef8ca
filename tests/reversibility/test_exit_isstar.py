"""000 §18 and §13.2 (isstar-cloud, prepaid): whatever the cause of the end an image of
each VM is handed over (qcow2, SHA-256, expiring link), the credit balance is refunded
as the cause says, open holds are lifted, and once the links expired the data is
erased with a signed record and the contract closed. Also the daily job run twice
acts once, and an erasure killed half-way is finished by the next run."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update

from nuages.billing import ledger
from nuages.billing.models import EntryKind, LedgerEntry
from nuages.compute.models import Operation, VmExport
from nuages.compute.services import operations
from nuages.contracts import holds
from nuages.contracts.models import Contract, ContractHold
from nuages.history.models import HistoryEntry
from nuages.history.service import Actor
from nuages.kernel.clock import set_now
from nuages.reversibility.models import ContractExit, ExitDelivery
from tests.reversibility.conftest import Ex

UTC = dt.UTC


def _topup(ex: Ex, amount: str) -> None:
    with ex.database.unit() as session:
        contract = session.get(Contract, ex.contract_id)
        assert contract is not None
        account = ledger.ensure_account(session, contract, ex.cw.offers.current("isstar-cloud"))
        ledger.post(
            session, account, kind=EntryKind.TOPUP, amount=Decimal(amount), key=f"t:{amount}"
        )


def _count(ex: Ex, model: type, **where: object) -> int:
    with ex.database.unit() as session:
        stmt = select(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return len(list(session.execute(stmt).scalars()))


def test_000_s18_image_of_each_vm_refund_and_erasure(ex: Ex) -> None:
    """000 §18: a client's notice ends the contract; an image of each VM is written
    (a real qcow2 whose SHA-256 is the one shown), its link expires after 7 days
    (compute's LINK_DAYS; the clause states no duration), then the VMs, disks,
    snapshots, backups and exports are erased, the history holds the erasure record
    (what, when, by whom, manifest SHA-256) and the contract is closed.
    000 §13.2: a client's ordinary notice refunds like a non-renewal, 100 % of
    the 120.00 balance. Issue 10: the open hold is lifted "contract ended"."""
    ex.setup("isstar-cloud")
    _topup(ex, "120.00")
    with ex.database.unit() as session:
        holds.place(
            session, Actor.system("t"), ex.cw.offers.current("isstar-cloud"), ex.contract_id,
            "staff-decision", "audit",
        )  # fmt: skip
    set_now(dt.datetime(2026, 4, 1, 10, tzinfo=UTC))
    body = ex.end("client_notice")
    assert body["cause"] == "client_notice" and body["clause"] == "000 §18"
    assert body["refund_amount"] == "120.00"
    assert body["window_ends_at"] is None
    # A member (sub-responsable) reads the exit but never its money (000 §5).
    from nuages.accounts.roles import Role

    member = ex.cw.world.user(Role.CLIENT_MEMBER, ex.owner_client)
    shown = ex.exit(member)
    assert (shown["state"], shown["refund_amount"], shown["unpaid"]) == (body["state"], None, [])
    with ex.database.unit() as session:
        [hold] = session.execute(select(ContractHold)).scalars()
        assert (hold.lift_reason, hold.lifted_at is not None) == ("contract ended", True)
        refund = session.execute(
            select(LedgerEntry).where(LedgerEntry.kind == "refund")
        ).scalar_one()
        assert refund.amount == Decimal("-120.000000") or refund.amount == Decimal("-120")
        assert ledger.balance(session, ex.contract_id) == 0
    # The suspended VMs resume with the lifted hold; the next pass asks for the images.
    body = ex.daily()
    body = ex.daily()
    assert body["state"] == "handed_over", body
    deliveries = body["deliveries"]
    assert sorted(d["vm_id"] for d in deliveries) == sorted(ex.vm_ids)
    for d in deliveries:
        assert d["kind"] == "image" and d["state"] == "ready" and d["fee"] is None
        r = ex.http.get(d["download"], headers=ex.owner.headers)
        assert r.status_code == 200
        assert hashlib.sha256(r.content).hexdigest() == d["sha256"]
        path = ex.cw.tmp / "image.qcow2"
        path.write_bytes(r.content)
        info = json.loads(
            subprocess.run(
                ["qemu-img", "info", "--output=json", str(path)],
                check=True, capture_output=True, text=True,
            ).stdout
        )  # fmt: skip
        assert info["format"] == "qcow2"
    assert body["deadline"] == deliveries[0]["expires_at"] or body["deadline"] is not None
    # Before the links expire nothing is erased; the job run twice writes nothing.
    set_now(dt.datetime(2026, 4, 7, 10, tzinfo=UTC))
    entries = _count(ex, HistoryEntry)
    assert ex.daily()["state"] == "handed_over"
    assert ex.daily()["state"] == "handed_over"
    assert _count(ex, HistoryEntry) == entries
    # Links expired (7 days): erased, the record written, the contract closed.
    set_now(dt.datetime(2026, 4, 9, 10, tzinfo=UTC))
    assert ex.daily()["state"] == "erasing"
    body = ex.daily()
    assert body["state"] == "closed", body
    assert ex.disks() == []
    assert all(not Path(p).exists() for p in _export_paths(ex))
    with ex.database.unit() as session:
        assert session.get(Contract, ex.contract_id).state == "closed"  # type: ignore[union-attr]
        record = session.execute(
            select(HistoryEntry).where(HistoryEntry.action == "contract.erasure")
        ).scalar_one()
        params = json.loads(record.params)
        assert {v["id"] for v in params["vms"]} == set(ex.vm_ids)
        assert len(params["exports"]) == 2 and params["manifest_sha256"]
        assert params["reason"].startswith("every image of 000 §18")
        assert record.actor_label == "reversibility"
        assert body["erasure_record_hash"] == record.hash
    assert ex.daily()["state"] == "closed"
    assert _count(ex, HistoryEntry, action="contract.erasure") == 1
    # The owners were told, in both languages, with the clause and the erasure record.
    with ex.database.unit() as session:
        from nuages.notices.models import Notice

        notices = {
            n.kind: n
            for n in session.execute(
                select(Notice).where(Notice.kind.in_(["exit_opened", "exit_erased"]))
            ).scalars()
        }
    assert set(notices) == {"exit_opened", "exit_erased"}
    assert notices["exit_opened"].state != "failed", notices["exit_opened"].error
    assert "120.00" in notices["exit_opened"].body and "000 §18" in notices["exit_opened"].body
    assert record.hash in notices["exit_erased"].body and "-- English version --" in (
        notices["exit_erased"].body
    )


def _export_paths(ex: Ex) -> list[str]:
    with ex.database.unit() as session:
        return list(session.execute(select(VmExport.path)).scalars())


@pytest.mark.parametrize(
    ("cause", "fault", "refund"),
    [
        ("non_renewal", None, "80.00"),
        ("provider_breach", None, "80.00"),
        ("client_breach", None, None),
        ("force_majeure", None, "80.00"),
        ("client_breach", "shared", "40.00"),
    ],
)
def test_000_s13_2_balance_refund_by_cause(
    ex: Ex, cause: str, fault: str | None, refund: str | None
) -> None:
    """000 §13.2: non-renewal and the provider's fault refund the whole balance
    (80.00), the client's fault nothing, a shared fault (stated by staff) half (40.00);
    force majeure, nobody's fault, refunds like a non-renewal (SPEC §17). The refund
    is one ledger entry, written once."""
    ex.setup("isstar-cloud", vms=0)
    _topup(ex, "80.00")
    body = ex.end(cause, fault)
    assert body["refund_amount"] == (refund or "0.00")
    ex.daily()
    assert _count(ex, LedgerEntry, kind="refund") == (1 if refund else 0)


def test_regression_killed_erasure_is_finished_by_the_next_run(ex: Ex) -> None:
    """Killed during an erasure (the worker dies while a VM's delete runs, its disk
    still there), the next run — compute's crash recovery, then the daily job —
    finishes it: no disk is left and the contract is closed."""
    ex.setup("isstar-cloud", vms=1)
    set_now(dt.datetime(2026, 4, 1, 10, tzinfo=UTC))
    ex.end("non_renewal")
    ex.daily()
    r = ex.post("erase", {"reason": "client asked by phone"}, ex.admin)
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    from nuages.reversibility import service

    service.run_daily(ex.database, ex.cw.offers, ex.cw.runtime)  # asks for the delete
    with ex.database.unit() as session:
        [op] = session.execute(select(Operation).where(Operation.kind == "delete")).scalars()
        # The worker claimed it and died (a pid that does not exist).
        session.execute(
            update(Operation)
            .where(Operation.id == op.id)
            .values(state="running", runner=f"{__import__('socket').gethostname()}:999999999")
        )
    assert ex.disks() != []
    assert ex.exit()["state"] == "erasing"
    operations.recover_operations(ex.database, ex.cw.runtime)
    assert ex.daily()["state"] == "closed"
    assert ex.disks() == []
    with ex.database.unit() as session:
        exit_ = session.execute(select(ContractExit)).scalar_one()
        assert exit_.erasure_reason == "staff: client asked by phone"
        assert session.execute(select(ExitDelivery)).scalars().all() != []

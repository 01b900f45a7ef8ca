"""The exit of each invoiced seed offer, dates checked against its clause (001 §7,
002 §10, 003 §13.2, 004 §17.2 and §5), with its bad input: a copy with invoices
unpaid where the offer forbids it, a choice after its window, an erasure while a copy
is being written — each refused with the clause, nothing written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from nuages.history.service import Actor
from nuages.invoicing import payments
from nuages.invoicing import schemas as invoicing_schemas
from nuages.invoicing.models import Invoice, PendingCharge
from nuages.kernel.clock import set_now
from nuages.reversibility.models import ExitDelivery
from tests.invoicing.factories import Billing, run_at
from tests.reversibility.conftest import Ex

UTC = dt.UTC
PARIS, BRUSSELS = ZoneInfo("Europe/Paris"), ZoneInfo("Europe/Brussels")


def _count(ex: Ex, model: type) -> int:
    with ex.database.unit() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _charges(ex: Ex) -> list[tuple[str, Decimal]]:
    with ex.database.unit() as session:
        return [
            (c.idempotency_key, c.amount)
            for c in session.execute(
                select(PendingCharge).where(PendingCharge.kind == "reversibility")
            ).scalars()
        ]


def _at(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso)


def test_001_s7_three_months_paid_up_recovery_250_per_transfer_then_destroyed(ex: Ex) -> None:
    """001 §7: ended 1 April 2026, the client has 3 months (to 1 July 2026 at the end
    of the day, Brussels) to choose; a copy is refused (402, clause named, nothing
    written) while the March invoice is unpaid; once paid, a partial recovery (one VM)
    and a full one are two transfers at EUR 250 each, charged once each on the final
    invoice; a choice dated after the window is refused; then the data is destroyed
    and the contract closed."""
    billing = Billing(ex.database, ex.cw.offers)
    contract_id = billing.contract(
        "cloudbizz", ex.owner_client, dt.datetime(2026, 2, 28, 23, tzinfo=UTC)
    )
    billing.line(contract_id, "desktop-std", dt.date(2026, 3, 1))
    [issued] = run_at(ex.database, ex.cw.offers, dt.datetime(2026, 3, 1, 6, tzinfo=UTC)).issued
    set_now(dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
    ex.setup("cloudbizz", contract_id=contract_id)
    set_now(dt.datetime(2026, 4, 1, 8, tzinfo=UTC))
    body = ex.end("non_renewal")
    assert body["clause"] == "001 §7" and body["state"] == "awaiting_choice"
    assert _at(body["window_ends_at"]).astimezone(BRUSSELS) == dt.datetime(
        2026, 7, 2, tzinfo=BRUSSELS
    )
    r = ex.post("copies", {"vm_ids": None})
    assert r.status_code == 402, r.text  # type: ignore[attr-defined]
    assert "001 §7" in r.json()["detail"] and r.json()["unpaid"] == [issued["number"]]  # type: ignore[attr-defined]
    assert _count(ex, ExitDelivery) == 0 and _charges(ex) == []
    with ex.database.unit() as session:
        invoice = session.get(Invoice, issued["invoice_id"])
        assert invoice is not None
        payments.record(
            session, Actor.system("t"), ex.cw.offers,
            invoicing_schemas.PaymentCreate(
                client_id=ex.owner_client, means="transfer", amount=invoice.grand_total,
                received_on=dt.date(2026, 4, 1), idempotency_key="pay-march",
            ),
        )  # fmt: skip
    r = ex.post("copies", {"vm_ids": [ex.vm_ids[0]]})
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    assert [d["kind"] for d in r.json()["deliveries"]] == ["partial"]  # type: ignore[attr-defined]
    ex.run_queued()
    r = ex.post("copies", {"vm_ids": None})
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    ex.run_queued()
    body = ex.daily()
    assert body["state"] == "handed_over"
    assert sorted((d["kind"], d["transfer"]) for d in body["deliveries"]) == [
        ("partial", 1), ("recovery", 2), ("recovery", 2),
    ]  # fmt: skip
    assert all(d["sha256"] and d["state"] == "ready" for d in body["deliveries"])
    assert sorted(a for _k, a in _charges(ex)) == [Decimal("250.00"), Decimal("250.00")]
    ex.daily()
    assert len(_charges(ex)) == 2  # once per transfer, whatever the runs
    # The fees go on the contract's final invoice, once (a second run bills nothing).
    [final] = run_at(ex.database, ex.cw.offers, dt.datetime(2026, 4, 20, 6, tzinfo=UTC)).issued
    assert final["period"] == "final"
    assert run_at(ex.database, ex.cw.offers, dt.datetime(2026, 4, 21, 6, tzinfo=UTC)).issued == []
    with ex.database.unit() as session:
        from nuages.invoicing.models import InvoiceLine

        amounts = sorted(
            line.net_amount
            for line in session.execute(
                select(InvoiceLine).where(InvoiceLine.invoice_id == final["invoice_id"])
            ).scalars()
            # The late interest of the March invoice (001 §4.4) is billed there too.
            if "réversibilité" in line.description
        )
    assert amounts == [Decimal("250.00"), Decimal("250.00")]
    set_now(dt.datetime(2026, 4, 21, 9, tzinfo=UTC))
    # A choice by a letter dated after the window: refused, nothing written.
    set_now(dt.datetime(2026, 7, 3, 9, tzinfo=UTC))
    r = ex.post("choice", {"choice": "recovery", "letter_at": None})
    assert r.status_code == 409, r.text  # type: ignore[attr-defined]
    assert "001 §7" in r.json()["detail"]  # type: ignore[attr-defined]
    assert ex.exit()["choice"] is None and len(_charges(ex)) == 2
    # The window is over: destroyed (no choice of recovery), the contract closed.
    assert ex.daily()["state"] == "erasing"
    assert ex.daily()["state"] == "closed"
    assert ex.disks() == []


def test_002_s10_service_continues_30_working_days_then_erased(ex: Ex) -> None:
    """002 §10: ended Wednesday 1 April 2026, the service continues (the VMs are not
    stopped) for 30 working days in France, the end's day not counted: 2-3 April (2),
    Easter Monday 6 April off, 7-30 April (18: 20), 1 May off, 4-7 May (24), 8 May off,
    11-13 May (27), Ascension 14 May off, 15, 18, 19 May (30) — to the end of Tuesday
    19 May 2026; that evening nothing is erased, the next morning the VMs and all data
    are."""
    ex.setup("axantis-cloud-vm-avance")
    set_now(dt.datetime(2026, 4, 1, 8, tzinfo=UTC))
    body = ex.end("client_notice")
    assert body["clause"] == "002 §10" and body["service_continues"] is True
    assert ex.run_queued() == []  # nothing stopped, nothing copied
    assert _at(body["window_ends_at"]).astimezone(PARIS) == dt.datetime(2026, 5, 20, tzinfo=PARIS)
    set_now(dt.datetime(2026, 5, 19, 21, 59, tzinfo=UTC))
    assert ex.daily()["state"] == "awaiting_choice"
    set_now(dt.datetime(2026, 5, 20, 6, tzinfo=UTC))
    assert ex.daily()["state"] == "erasing"
    body = ex.daily()
    assert body["state"] == "closed" and "002 §10" in body["erasure_reason"]
    assert ex.disks() == []


def test_002_s10_no_reversibility_after_a_payment_default(ex: Ex) -> None:
    """002 §10: an end for a payment default gives no window: erased at once."""
    ex.setup("axantis-cloud-vm-avance", vms=1)
    set_now(dt.datetime(2026, 4, 1, 8, tzinfo=UTC))
    body = ex.end("negative_balance")
    assert body["denied"] is True
    r = ex.post("copies", {"vm_ids": None})
    assert r.status_code == 409 and "payment default" in r.json()["detail"]  # type: ignore[attr-defined]
    assert ex.daily()["state"] == "closed"
    assert ex.disks() == []


def test_003_s13_2_services_stop_72h_and_no_erasure_while_a_copy_is_written(ex: Ex) -> None:
    """003 §13.2: services stop at once (the running VM is stopped); the client has 72 h
    (to 4 April 2026 10:00 UTC) to withdraw; a withdrawal copy is free, and staff
    cannot erase while it is being written (409 naming the clause, nothing written);
    after 72 h a copy is an extraction at the client's cost; no erasure by itself."""
    ex.setup("virtualsr-svp", vms=1)
    from nuages.compute.services import vms as compute_vms
    from tests.compute.world import CLI

    with ex.database.unit() as session:
        _vm, op = compute_vms.request(
            session, CLI, ex.cw.runtime, ex.vm_ids[0], compute_vms.Action.START
        )
    assert ex.cw.run(op.id) == "succeeded"
    set_now(dt.datetime(2026, 4, 1, 10, tzinfo=UTC))
    body = ex.end("client_notice")
    assert body["clause"] == "003 §13.2"
    assert _at(body["window_ends_at"]) == dt.datetime(2026, 4, 4, 10, tzinfo=UTC)
    with ex.database.unit() as session:
        from nuages.compute.models import Vm

        assert session.get(Vm, ex.vm_ids[0]).vm_state == "stopped"  # type: ignore[union-attr]
    r = ex.post("copies", {"vm_ids": None})
    assert r.status_code == 202 and r.json()["deliveries"][0]["kind"] == "withdrawal"  # type: ignore[attr-defined]
    entries = _count(ex, ExitDelivery)
    r = ex.post("erase", {"reason": "now"}, ex.admin)
    assert r.status_code == 409 and "003 §13.2" in r.json()["detail"]  # type: ignore[attr-defined]
    assert (
        ex.exit()["state"] in ("awaiting_choice", "exporting")
        and _count(ex, ExitDelivery) == entries
    )
    ex.run_queued()
    set_now(dt.datetime(2026, 4, 5, 10, tzinfo=UTC))
    assert ex.daily()["state"] == "handed_over"
    r = ex.post("copies", {"vm_ids": None})
    assert r.status_code == 202 and r.json()["deliveries"][-1]["kind"] == "extraction"  # type: ignore[attr-defined]
    ex.run_queued()
    set_now(dt.datetime(2026, 6, 5, 10, tzinfo=UTC))
    assert ex.daily()["state"] == "handed_over"  # 003 §13.2 says no erasure by itself
    assert ex.post("confirm", {"received": True}).status_code == 200  # type: ignore[attr-defined]
    assert ex.daily()["state"] == "erasing"  # the deletions asked for and run
    assert ex.daily()["state"] == "closed"
    assert ex.disks() == []


def test_004_s17_2_backup_360_per_vm_within_15_days_and_s5_ends_on_confirmation(ex: Ex) -> None:
    """004 §17.2: within 15 days of the end (to the end of 16 April 2026, Paris) a full
    backup of each VM on request at EUR 360 excl. VAT per VM (2 VMs: 2 charges, each
    once); after the 15 days a request is refused. 004 §5: the window's end erases
    nothing; only the client's confirmation ends the contract (billed until then)."""
    ex.setup("optima-cloud-azure")
    set_now(dt.datetime(2026, 4, 1, 8, tzinfo=UTC))
    body = ex.end("client_notice")
    assert body["clause"] == "004 §17.2" and body["confirmation_ends"] is True
    assert _at(body["window_ends_at"]).astimezone(PARIS) == dt.datetime(2026, 4, 17, tzinfo=PARIS)
    # The deadline shown on the contract, and in the deadlines listing.
    assert body["deadline"] == body["window_ends_at"]
    assert body["deadline_means"] == "last day to ask for a full backup of each VM (004 §17.2)"
    with ex.database.unit() as session:
        from nuages.contracts.models import Contract
        from nuages.reversibility import service

        contract = session.get(Contract, ex.contract_id)
        assert contract is not None
        [(at, kind, clause, _text)] = service.upcoming(session, contract)
    assert (at, kind, clause) == (_at(body["window_ends_at"]), "exit_window", "004 §17.2")
    r = ex.post("copies", {"vm_ids": None})
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    ex.run_queued()
    body = ex.daily()
    assert [d["kind"] for d in body["deliveries"]] == ["backup", "backup"]
    assert sorted(a for _k, a in _charges(ex)) == [Decimal("360.00")] * 2
    set_now(dt.datetime(2026, 4, 17, 8, tzinfo=UTC))
    r = ex.post("copies", {"vm_ids": None})
    assert r.status_code == 409 and "004 §17.2" in r.json()["detail"]  # type: ignore[attr-defined]
    assert len(_charges(ex)) == 2
    set_now(dt.datetime(2026, 6, 1, 8, tzinfo=UTC))
    assert ex.daily()["state"] == "handed_over"  # 004 §5: not ended until confirmed
    assert ex.disks() != []
    r = ex.post("confirm", {"received": True})
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    with ex.database.unit() as session:
        from nuages.contracts.models import Contract

        ended = session.get(Contract, ex.contract_id).ended_at  # type: ignore[union-attr]
    assert ended == dt.datetime(2026, 6, 1, 8, tzinfo=UTC)  # 004 §5: billed until then
    assert ex.daily()["state"] == "erasing"
    assert ex.daily()["state"] == "closed"
    assert ex.disks() == []


def test_003_s13_2_data_returned_only_once_everything_is_paid(ex: Ex) -> None:
    """003 §13.2 (and §14.5): with the March invoice unpaid, a withdrawal is refused
    with 402 naming the clause and the invoice, and nothing is written."""
    billing = Billing(ex.database, ex.cw.offers)
    contract_id = billing.contract(
        "virtualsr-svp", ex.owner_client, dt.datetime(2026, 2, 28, 23, tzinfo=UTC)
    )
    billing.line(contract_id, "svp-s", dt.date(2026, 3, 1))
    [issued] = run_at(ex.database, ex.cw.offers, dt.datetime(2026, 3, 1, 6, tzinfo=UTC)).issued
    set_now(dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
    ex.setup("virtualsr-svp", vms=1, contract_id=contract_id)
    set_now(dt.datetime(2026, 4, 1, 10, tzinfo=UTC))
    body = ex.end("client_breach")
    assert body["requires_paid_up"] is True
    assert [u["number"] for u in body["unpaid"]] == [issued["number"]]
    r = ex.post("copies", {"vm_ids": None})
    assert r.status_code == 402, r.text  # type: ignore[attr-defined]
    assert "003 §13.2" in r.json()["detail"]  # type: ignore[attr-defined]
    assert _count(ex, ExitDelivery) == 0


def test_001_s7_deletion_chosen_by_registered_letter_erases_at_once(ex: Ex) -> None:
    """001 §7: the client chooses deletion by a registered letter dated within the 3
    months: the data is destroyed at once (no copy, no fee) and the deletion recorded;
    a second choice is refused."""
    ex.setup("cloudbizz", vms=1)
    set_now(dt.datetime(2026, 4, 1, 8, tzinfo=UTC))
    ex.end("non_renewal")
    set_now(dt.datetime(2026, 5, 4, 9, tzinfo=UTC))
    r = ex.post("choice", {"choice": "deletion", "letter_at": "2026-04-30T10:00:00Z"})
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert r.json()["state"] == "erasing" and r.json()["choice"] == "deletion"  # type: ignore[attr-defined]
    r = ex.post("choice", {"choice": "recovery", "letter_at": None})
    assert r.status_code == 409, r.text  # type: ignore[attr-defined]
    ex.daily()
    body = ex.daily()
    assert body["state"] == "closed" and body["letter_at"] == "2026-04-30T10:00:00Z"
    assert "deletion" in body["erasure_reason"] and _charges(ex) == []
    assert ex.disks() == []


def test_001_s7_exit_window_listed_among_the_contract_deadlines(ex: Ex) -> None:
    """Issue #21 item 8: `GET /contracts/{id}/deadlines` lists the exit's dates beside
    the contract's own: under 001 §7 the 3-month choice window opened on 1 April 2026."""
    set_now(dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
    ex.setup("cloudbizz")
    set_now(dt.datetime(2026, 4, 1, 8, tzinfo=UTC))
    body = ex.end("non_renewal")
    r = ex.http.get(f"/api/v1/contracts/{ex.contract_id}/deadlines", headers=ex.owner.headers)
    assert r.status_code == 200, r.text
    listed = [(_at(d["at"]), d["clause"]) for d in r.json()]
    assert (_at(str(body["window_ends_at"])), "001 §7") in listed

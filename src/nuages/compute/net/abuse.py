"""Abuse reports and violation notices, kept per client (003 §7.9, §8).

003 §7.9 has two cases. A notification of illicit use of the client's IP address (a
*misuse* report) lets the provider propose a new French IP address to which the client
must switch (``service.new_ip`` asks for such a report). A notification that the client
breaks French law (a *violation*) is passed on to the client — the violation notice,
sent through the notices slice — and the client must stop the activity; "à défaut" the
provider may suspend the service (``suspend``: a hold on the contract's ``breach``
ground, 003 §8, placed and lifted by written notice, never a termination by itself).
Read for the client (SPEC §17) the clause gives the provider these two measures and no
other: nothing here terminates a contract, however many reports a client has.

Staff record and settle reports; a client reads its own (404 for another client's).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute.models import Vm
from nuages.compute.net import enforce
from nuages.compute.net.models import AbuseReport
from nuages.compute.services.access import load_vm
from nuages.contracts import holds
from nuages.contracts.models import Contract
from nuages.history import service as history
from nuages.kernel.access import get_visible, visible
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from nuages.notices import service as notices

CLAUSE = "003 §7.9"
KINDS = ("misuse", "violation")
# 003 §8: "le Client a manqué à l'une de ses obligations contractuelles" — the
# suspension ground an unheeded violation notice opens.
SUSPENSION_GROUND = "breach"


@dataclass(frozen=True)
class Standing:
    """A client's reports counted (003 §7.9: kept per client)."""

    client_id: str
    misuse_reports: int
    violation_notices: int
    open_reports: int
    suspensions: int


def _staff(actor: Principal) -> None:
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden(f"only the provider's staff record and settle abuse reports ({CLAUSE})")


def record(
    session: Session,
    actor: Principal,
    *,
    kind: str,
    source: str,
    evidence: str,
    received_at: dt.datetime,
    client_id: str | None = None,
    vm_id: str | None = None,
) -> AbuseReport:
    """Staff record a report received about a client (or one of its VMs), with who sent
    it and what they sent. A violation is passed on to the client at once: the
    violation notice (``abuse_violation``) is written in the same transaction."""
    _staff(actor)
    if kind not in KINDS:
        raise ValidationFailed(f"kind: one of {', '.join(KINDS)}")
    if received_at.tzinfo is None:
        raise ValidationFailed("received_at: give a time zone")
    if received_at > utc_now():
        raise ValidationFailed("received_at: a report is recorded once received, not before")
    vm: Vm | None = None
    if vm_id is not None:
        vm = load_vm(session, actor, vm_id)
        if client_id is not None and client_id != vm.client_id:
            raise ValidationFailed("client_id: the VM belongs to another client")
        client_id = vm.client_id
    if client_id is None:
        raise ValidationFailed("client_id: name the client (or the VM) the report is about")
    client = session.get(Client, client_id)
    if client is None:
        raise ValidationFailed("client_id: no such client")
    report = AbuseReport(
        client_id=client.id,
        vm_id=vm.id if vm is not None else None,
        kind=kind,
        source=source,
        evidence=evidence,
        received_at=received_at.astimezone(dt.UTC),
        recorded_by=actor.actor.id or actor.actor.label,
        close_reason="",
    )
    session.add(report)
    session.flush()
    if kind == "violation":
        notice = notices.queue(
            session,
            actor.actor,
            "abuse_violation",
            client_id=client.id,
            contract_id=vm.contract_id if vm is not None else None,
            object_type="abuse_report",
            object_id=report.id,
            key=f"abuse-violation:{report.id}",
            legal_ref=CLAUSE,
            context={
                "vm_name": vm.name if vm is not None else "",
                "source": source,
                "received_on": report.received_at.date().isoformat(),
                "evidence": evidence,
            },
        )
        report.notice_id = notice.id
        session.flush()
    history.record(
        session,
        actor.actor,
        object_type="abuse_report",
        object_id=report.id,
        action=f"abuse.{kind}.record",
        params={
            "vm_id": report.vm_id,
            "source": source,
            "received_at": report.received_at.isoformat(),
            "notice_id": report.notice_id,
        },
        client_id=client.id,
    )
    return report


def get_report(session: Session, actor: Principal, report_id: str) -> AbuseReport:
    """A report the caller may see (staff: any; a client: its own), else 404."""
    actor.require(Scope.READ)
    return get_visible(session, actor, AbuseReport, report_id, "abuse report")


def list_reports(
    session: Session,
    actor: Principal,
    *,
    client_id: str | None = None,
    vm_id: str | None = None,
    kind: str | None = None,
) -> list[AbuseReport]:
    """The reports the caller may see, oldest first, by client, VM and kind."""
    actor.require(Scope.READ)
    stmt = visible(
        actor,
        select(AbuseReport).order_by(AbuseReport.received_at, AbuseReport.id),
        AbuseReport.client_id,
    )
    if client_id is not None:
        stmt = stmt.where(AbuseReport.client_id == client_id)
    if vm_id is not None:
        stmt = stmt.where(AbuseReport.vm_id == vm_id)
    if kind is not None:
        stmt = stmt.where(AbuseReport.kind == kind)
    return list(session.execute(stmt.limit(1000)).scalars())


def standing(session: Session, actor: Principal, client_id: str) -> Standing:
    """The client's reports counted per kind (003 §7.9 "kept per client")."""
    actor.require(Scope.READ)
    if not actor.is_staff and actor.client_id != client_id:
        raise NotFound("no such client")
    rows = session.execute(
        select(AbuseReport.kind, func.count(), func.count(AbuseReport.hold_id))
        .where(AbuseReport.client_id == client_id)
        .group_by(AbuseReport.kind)
    ).all()
    counts = {kind: (int(n), int(held)) for kind, n, held in rows}
    open_reports = session.execute(
        select(func.count()).where(
            AbuseReport.client_id == client_id, AbuseReport.closed_at.is_(None)
        )
    ).scalar_one()
    return Standing(
        client_id=client_id,
        misuse_reports=counts.get("misuse", (0, 0))[0],
        violation_notices=counts.get("violation", (0, 0))[0],
        open_reports=int(open_reports),
        suspensions=sum(held for _n, held in counts.values()),
    )


def _open(session: Session, actor: Principal, report_id: str) -> AbuseReport:
    report = get_report(session, actor, report_id)  # another client's: 404 first
    _staff(actor)
    if report.closed_at is not None:
        raise Conflict("this abuse report is closed")
    return report


def close(session: Session, actor: Principal, report_id: str, reason: str) -> AbuseReport:
    """Staff find a report settled (the activity stopped, the report unfounded): it
    stays on the client's record, closed."""
    report = _open(session, actor, report_id)
    report.closed_at = utc_now()
    report.close_reason = reason
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="abuse_report",
        object_id=report.id,
        action=f"abuse.{report.kind}.close",
        params={"reason": reason},
        client_id=report.client_id,
    )
    return report


def suspend(session: Session, actor: Principal, report_id: str, reason: str) -> AbuseReport:
    """003 §7.9 "A défaut, VIRTUAL SR se réserve le droit de suspendre le service": the
    client did not stop what a violation notice named, so staff suspend the VM's
    contract (a hold on ``breach``, 003 §8, with its written notice). Refused (409,
    citing the clause) for a misuse report (its measure is a new address), a closed
    report, one whose notice was not written, a report naming no VM, or an offer that
    does not provide for it."""
    report = _open(session, actor, report_id)
    if report.kind != "violation":
        raise Conflict(f"a misuse report calls for a new IP address, not a suspension ({CLAUSE})")
    if report.notice_id is None:
        raise Conflict(f"the client was not sent the violation notice ({CLAUSE})")
    if report.hold_id is not None:
        raise Conflict("the service is already suspended for this report")
    if report.vm_id is None:
        raise Conflict("name the VM in the report: its contract is the one suspended")
    vm = session.get(Vm, report.vm_id)
    if vm is None:  # pragma: no cover - a report's VM is never deleted from the table
        raise NotFound("no such VM")
    offer = enforce.offer_of(session, vm)
    terms = offer.abuse if offer is not None else None
    if offer is None or terms is None or not terms.suspension_after_violation_notice:
        raise Conflict(
            f"this VM's offer provides for no suspension after a violation notice ({CLAUSE})"
        )
    contract = session.get(Contract, vm.contract_id)
    assert contract is not None
    hold, _new = holds.place(
        session,
        actor.actor,
        offer,
        contract.id,
        SUSPENSION_GROUND,
        f"{reason} (violation notice {report.notice_id}, {CLAUSE})",
        clause=f"{CLAUSE}, 003 §8",
    )
    report.hold_id = hold.id
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="abuse_report",
        object_id=report.id,
        action="abuse.violation.suspend",
        params={"hold_id": hold.id, "contract_id": contract.id, "reason": reason},
        client_id=report.client_id,
    )
    return report


def misuse_report_for(session: Session, vm: Vm, report_id: str | None) -> AbuseReport:
    """The open misuse report a new address answers (003 §7.9 "VIRTUAL SR pourra
    proposer … une nouvelle adresse IP" after such a notification): about this VM or
    about its client as a whole; else 422 naming ``report_id``."""
    if report_id is None:
        raise ValidationFailed(
            f"report_id: a new IP address answers a recorded misuse report ({CLAUSE}); "
            "record it first (POST /api/v1/abuse-reports)"
        )
    report = session.get(AbuseReport, report_id)
    if (
        report is None
        or report.client_id != vm.client_id
        or report.kind != "misuse"
        or report.vm_id not in (None, vm.id)
    ):
        raise ValidationFailed(f"report_id: no misuse report about this VM ({CLAUSE})")
    if report.closed_at is not None:
        raise ValidationFailed(f"report_id: the misuse report is closed ({CLAUSE})")
    return report

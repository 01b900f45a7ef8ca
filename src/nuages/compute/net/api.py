"""The network routes (issue 14): a VM's firewall, and staff's network measures."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, status

from nuages.api.deps import PrincipalDep, SessionDep
from nuages.compute.api import runtime
from nuages.compute.net import abuse, service
from nuages.compute.net import schemas as s
from nuages.compute.services.access import load_vm

router = APIRouter(prefix="/api/v1", tags=["network"])


def _firewall(view: service.FirewallView) -> s.FirewallOut:
    policy, net = view.policy, view.standing
    terms = view.terms
    return s.FirewallOut(
        vm_id=view.vm.id,
        default_in=policy.default_in.value,
        default_out=policy.default_out.value,
        mail_server=bool(net and net.mail_server),
        firewall_server=bool(net and net.firewall_server),
        registered=sorted(filter(None, (net.registered if net else "").split(","))),
        smtp_blocked=not policy.mail_server,
        approval_needed=view.approval_needed,
        udp_pps_limit=terms.udp_pps_limit,
        icmp_pps_limit=terms.icmp_pps_limit,
        cut=policy.cut,
        cut_ground=net.cut_ground if net else None,
        cut_at=net.cut_at if net else None,
        until_reinstall=bool(net and net.until_reinstall),
        cut_expected_end_at=net.expected_end_at if net else None,
        rules=[s.RuleOut.model_validate(r) for r in view.rules],
    )


@router.get("/vms/{vm_id}/firewall", response_model=s.FirewallOut)
def get_firewall(vm_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """The VM's firewall: the offer's default policy, the provider's egress rules (SMTP
    003 §7.4, registered uses 003 §7.5, UDP/ICMP limits 004 annexe 1), the rules."""
    return _firewall(service.get_firewall(session, principal, vm_id))


@router.post(
    "/vms/{vm_id}/firewall/rules", status_code=status.HTTP_201_CREATED, response_model=s.RuleOut
)
def add_rule(
    vm_id: str, body: s.RuleCreate, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Add a rule (002 §3.6); it is enforced on the host at once, or waits for staff
    approval on a firewall server whose offer says so (003 §7.1.1: state ``pending``)."""
    new = service.NewRule(
        direction=body.direction,
        protocol=body.protocol,
        action=body.action,
        source=body.source,
        port=body.port,
        priority=body.priority,
    )
    return service.add_rule(session, principal, runtime(request), vm_id, new)


@router.delete("/vms/{vm_id}/firewall/rules/{rule_id}", response_model=s.FirewallOut)
def delete_rule(
    vm_id: str, rule_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Remove a rule (or ask for its removal on a firewall server, 003 §7.1.1); answers
    the firewall as it is now."""
    service.delete_rule(session, principal, runtime(request), vm_id, rule_id)
    return _firewall(service.get_firewall(session, principal, vm_id))


@router.post("/vms/{vm_id}/firewall/rules/{rule_id}/approve", response_model=s.FirewallOut)
def approve_rule(
    vm_id: str, rule_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff approve a firewall server's pending rule change (003 §7.1.1)."""
    service.approve_rule(session, principal, runtime(request), vm_id, rule_id)
    return _firewall(service.get_firewall(session, principal, vm_id))


@router.post("/vms/{vm_id}/network", response_model=s.FirewallOut)
def declare(
    vm_id: str,
    body: s.NetworkDeclare,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff declare a mail server (003 §7.4), a firewall server (003 §7.1.1), the
    registered IRC/proxy/video uses (003 §7.5)."""
    service.declare(
        session,
        principal,
        runtime(request),
        vm_id,
        mail_server=body.mail_server,
        firewall_server=body.firewall_server,
        registered=list(body.registered) if body.registered is not None else None,
    )
    return _firewall(service.get_firewall(session, principal, vm_id))


@router.post("/vms/{vm_id}/network-cut", response_model=s.CutOut)
def network_cut(
    vm_id: str, body: s.NetworkCut, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff cut the VM's network, or that of every live VM of its client
    (``all_of_client``; 000 §6, §11.1); ``compromised`` lasts until a reinstall
    (003 §7.3). The client's owners are notified, with ``expected_end_at`` where staff
    know it (004 §7)."""
    target = load_vm(session, principal, vm_id, write=True)
    vms = service.cut(
        session,
        principal,
        runtime(request),
        ground=body.ground,
        reason=body.reason,
        vm_id=None if body.all_of_client else vm_id,
        client_id=target.client_id if body.all_of_client else None,
        expected_end_at=body.expected_end_at,
    )
    return s.CutOut(vm_ids=[vm.id for vm in vms], ground=body.ground)


_PLAIN_RESTORE = s.NetworkRestore()


@router.post("/vms/{vm_id}/network-restore", response_model=s.FirewallOut)
def network_restore(
    vm_id: str,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    body: s.NetworkRestore = _PLAIN_RESTORE,  # optional: a plain restore has none
) -> object:
    """Staff lift a cut (not a compromised server's: its reinstall does, 003 §7.3);
    ``wrongful`` gives the held time of a cut on a contractual ground back (000 §11.1)."""
    service.restore(
        session, principal, runtime(request), vm_id, reason=body.reason, wrongful=body.wrongful
    )
    return _firewall(service.get_firewall(session, principal, vm_id))


@router.post("/vms/{vm_id}/new-ip", response_model=s.NewIpOut)
def new_ip(
    vm_id: str, body: s.NewIp, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff move the VM to a fresh address of its pools after a misuse report; the old
    one is quarantined (003 §7.9)."""
    vm, old, new = service.new_ip(
        session,
        principal,
        runtime(request),
        vm_id,
        quarantine_days=body.quarantine_days,
        reason=body.reason,
        report_id=body.report_id,
    )
    return s.NewIpOut(vm_id=vm.id, old_address=old, new_address=new)


# ---------------------------------------------------------------- abuse (003 §7.9)


@router.post("/abuse-reports", status_code=status.HTTP_201_CREATED, response_model=s.AbuseReportOut)
def record_abuse(body: s.AbuseReportCreate, principal: PrincipalDep, session: SessionDep) -> object:
    """Staff record a misuse report or a violation received about a client or a VM; a
    violation is passed on to the client at once by its violation notice (003 §7.9)."""
    return abuse.record(
        session,
        principal,
        kind=body.kind,
        source=body.source,
        evidence=body.evidence,
        received_at=body.received_at,
        client_id=body.client_id,
        vm_id=body.vm_id,
    )


@router.get("/abuse-reports", response_model=list[s.AbuseReportOut])
def list_abuse(
    principal: PrincipalDep,
    session: SessionDep,
    client_id: str | None = None,
    vm_id: str | None = None,
    kind: Literal["misuse", "violation"] | None = None,
) -> object:
    """The abuse reports kept per client (staff: every client's; a client: its own)."""
    return abuse.list_reports(session, principal, client_id=client_id, vm_id=vm_id, kind=kind)


@router.get("/abuse-reports/{report_id}", response_model=s.AbuseReportOut)
def get_abuse(report_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One abuse report."""
    return abuse.get_report(session, principal, report_id)


@router.post("/abuse-reports/{report_id}/close", response_model=s.AbuseReportOut)
def close_abuse(
    report_id: str, body: s.AbuseAction, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff find the report settled; it stays on the client's record, closed."""
    return abuse.close(session, principal, report_id, body.reason)


@router.post("/abuse-reports/{report_id}/suspend", response_model=s.AbuseReportOut)
def suspend_after_abuse(
    report_id: str, body: s.AbuseAction, principal: PrincipalDep, session: SessionDep
) -> object:
    """003 §7.9 "A défaut": the violation went on after its notice, so staff suspend
    the VM's contract (a hold on the breach ground, 003 §8)."""
    return abuse.suspend(session, principal, report_id, body.reason)


@router.get("/clients/{client_id}/abuse-standing", response_model=s.AbuseStandingOut)
def abuse_standing(client_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """The client's misuse reports, violation notices and suspensions counted."""
    found = abuse.standing(session, principal, client_id)
    return s.AbuseStandingOut(**found.__dict__)

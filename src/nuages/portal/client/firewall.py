"""A VM's firewall page (issue 14, 002 §3.6): the offer's default policy, the provider's
egress rules, the rules with a form to add one and a button to remove each. The form is
checked by the API's own schema (``RuleCreate``), so the page refuses what the API does.
Staff also get the network measures there: cut (000 §6, §11.1; with its expected end,
004 §7) and restore (wrongful: 000 §11.1), through the same services as
``POST /vms/{id}/network-cut`` / ``-restore``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from nuages.compute.api import runtime
from nuages.compute.net import enforce
from nuages.compute.net import schemas as net_schemas
from nuages.compute.net import service as firewall
from nuages.compute.services.access import load_vm
from nuages.contracts import holds
from nuages.kernel.errors import NuagesError
from nuages.portal import service as portal
from nuages.portal.client.extensions import local_moment
from nuages.portal.errors import of as error_text
from nuages.portal.web import PostedForm, SignedIn, Visit, field_errors

router = APIRouter()
FIELDS = ("direction", "protocol", "port", "source", "action", "priority")
CUT_FIELDS = ("ground", "reason", "expected_end_at")


def _page(
    visit: Visit, vm_id: str, values: dict[str, Any], errors: dict[str, str], status: int
) -> Response:
    with visit.read() as session:
        view = firewall.get_firewall(session, visit.me, vm_id)
        offer = enforce.offer_of(session, view.vm)
        names = sorted({*firewall.NETWORK_GROUNDS, *(holds.grounds_of(offer) if offer else {})})
        return visit.render(
            "client/vm_firewall.html",
            status=status,
            vm=view.vm,
            view=view,
            values=values,
            errors=errors,
            once=visit.once(),
            grounds=[(g, g) for g in names],
        )


@router.get("/vms/{vm_id}/firewall")
def firewall_page(visit: SignedIn, vm_id: str) -> Response:
    """The VM's firewall."""
    return _page(visit, vm_id, {}, {}, 200)


@router.post("/vms/{vm_id}/firewall/rules")
def firewall_add(posted: PostedForm, vm_id: str) -> Response:
    """Add a rule (once per form)."""
    visit = posted.visit
    values: dict[str, Any] = {name: posted.get(name) for name in FIELDS}
    try:
        body = net_schemas.RuleCreate(
            direction=values["direction"],
            protocol=values["protocol"],
            port=values["port"] or None,
            source=values["source"] or "0.0.0.0/0",
            action=values["action"],
            priority=int(values["priority"] or 100),
        )
    except (ValidationError, ValueError) as exc:
        errors: dict[str, str] = (
            field_errors(exc, FIELDS)
            if isinstance(exc, ValidationError)
            else {"priority": error_text(exc)}
        )
        return _page(visit, vm_id, values, errors, 422)
    target = f"/vms/{vm_id}/firewall"
    try:
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once, target)
            firewall.add_rule(
                session,
                visit.me,
                runtime(visit.request),
                vm_id,
                firewall.NewRule(
                    direction=body.direction,
                    protocol=body.protocol,
                    action=body.action,
                    source=body.source,
                    port=body.port,
                    priority=body.priority,
                ),
            )
            portal.set_result(use, target)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or target, "already_sent")
    except NuagesError as exc:
        if exc.status == 404:
            raise
        return _page(visit, vm_id, values, field_errors(exc, FIELDS), exc.status)
    return visit.redirect(target, "firewall_changed")


@router.post("/vms/{vm_id}/firewall/rules/{rule_id}/delete")
def firewall_delete(posted: PostedForm, vm_id: str, rule_id: str) -> Response:
    """Remove a rule (or ask for its removal on a firewall server, 003 §7.1.1)."""
    visit = posted.visit
    target = f"/vms/{vm_id}/firewall"
    try:
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once, target)
            firewall.delete_rule(session, visit.me, runtime(visit.request), vm_id, rule_id)
            portal.set_result(use, target)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or target, "already_sent")
    except NuagesError as exc:
        if exc.status == 404:
            raise
        return _page(visit, vm_id, {}, {"_": error_text(exc)}, exc.status)
    return visit.redirect(target, "firewall_changed")


def _staff_measure(posted: PostedForm, vm_id: str, act: Any, done: str) -> Response:
    """Run a staff network measure once per form; errors shown on the page."""
    visit = posted.visit
    target = f"/vms/{vm_id}/firewall"
    try:
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once, target)
            act(session)
            portal.set_result(use, target)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or target, "already_sent")
    except NuagesError as exc:
        if exc.status == 404:
            raise
        values = {n: posted.get(n) for n in (*CUT_FIELDS, "all_of_client", "wrongful")}
        return _page(visit, vm_id, values, field_errors(exc, CUT_FIELDS), exc.status)
    return visit.redirect(target, done)


@router.post("/vms/{vm_id}/network-cut")
def network_cut(posted: PostedForm, vm_id: str) -> Response:
    """Staff cut the VM's network, or that of all its client's VMs (000 §6, §11.1)."""
    visit = posted.visit
    ground, reason = posted.get("ground"), posted.get("reason").strip()
    values = {n: posted.get(n) for n in (*CUT_FIELDS, "all_of_client")}
    if not reason:
        return _page(visit, vm_id, values, {"reason": "say what was seen"}, 422)
    until = posted.get("expected_end_at").strip()
    try:
        # Typed in the provider's zone (Europe/Paris), stored in UTC (004 §7).
        expected_end_at = local_moment(until, "expected_end_at") if until else None
    except ValueError as exc:
        return _page(visit, vm_id, values, {"expected_end_at": str(exc)}, 422)

    def act(session: Any) -> None:
        vm = load_vm(session, visit.me, vm_id, write=True)
        everyone = posted.get("all_of_client") == "yes"
        firewall.cut(
            session,
            visit.me,
            runtime(visit.request),
            ground=ground,
            reason=reason[:500],
            vm_id=None if everyone else vm.id,
            client_id=vm.client_id if everyone else None,
            expected_end_at=expected_end_at,
        )

    return _staff_measure(posted, vm_id, act, "network_cut")


@router.post("/vms/{vm_id}/network-restore")
def network_restore(posted: PostedForm, vm_id: str) -> Response:
    """Staff lift the VM's cut; ``wrongful`` gives its held time back (000 §11.1)."""
    visit = posted.visit

    def act(session: Any) -> None:
        firewall.restore(
            session,
            visit.me,
            runtime(visit.request),
            vm_id,
            reason=posted.get("reason").strip()[:500],
            wrongful=posted.get("wrongful") == "yes",
        )

    return _staff_measure(posted, vm_id, act, "network_restored")

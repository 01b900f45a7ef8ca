"""The client's audits (001 §16.8): the audits announced on its contracts and the form
an owner uses to announce one; the notice (5 jours ouvrables in the contract's
calendar) is checked by ``gdpr.audits`` as for ``POST /gdpr/audits``, a start too early
refused next to the date with the earliest one allowed, nothing written."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from nuages.compute.api import registry
from nuages.contracts import service as contracts
from nuages.gdpr import audits
from nuages.gdpr.schemas import AuditCreate
from nuages.kernel.errors import NuagesError
from nuages.portal import service as portal
from nuages.portal.web import PostedForm, SignedIn, Visit, field_errors

router = APIRouter()
FIELDS = ("contract_id", "starts_on", "auditor", "scope")


def _page(visit: Visit, values: dict[str, Any], errors: dict[str, str], status: int) -> Response:
    with visit.read() as session:
        rows = list(session.execute(audits.list_audits(visit.me).limit(200)).scalars())
        shown, _ = contracts.list_contracts(session, visit.me, 1, 200)
        return visit.render(
            "client/audits.html",
            status=status,
            audits=rows,
            contracts=[(c.id, f"{c.offer_id} · {c.id[:8]}") for c in shown],
            values=values,
            errors=errors,
            once=values.get("_once") or visit.once(),
        )


@router.get("/gdpr/audits")
def audits_page(visit: SignedIn) -> Response:
    """The audits announced and the form to announce one."""
    return _page(visit, {}, {}, 200)


@router.post("/gdpr/audits")
def audit_request(posted: PostedForm) -> Response:
    """Announce the audit once however often the form is sent."""
    visit = posted.visit
    values: dict[str, Any] = {name: posted.get(name).strip() for name in FIELDS}
    values["_once"] = posted.once
    try:
        body = AuditCreate.model_validate({name: values[name] or None for name in FIELDS})
    except ValidationError as exc:
        return _page(visit, values, field_errors(exc, FIELDS), 422)
    try:
        with visit.write() as session:
            use = portal.claim(session, visit.me.user_id, posted.once)
            audits.request_audit(session, visit.me, registry(visit.request), body)
            portal.set_result(use, "/gdpr/audits")
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or "/gdpr/audits", "already_sent")
    except NuagesError as exc:
        return _page(visit, values, field_errors(exc, FIELDS), exc.status)
    return visit.redirect("/gdpr/audits", "audit_requested")

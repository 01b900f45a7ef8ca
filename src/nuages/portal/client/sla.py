"""A contract's service level (issue 22): the month's availability, credit and claim
state (002 §6, 000 §5, 001 §6), and the upcoming maintenance of its VMs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from nuages.kernel.errors import NuagesError
from nuages.portal.web import Paging, PostedForm, SignedIn
from nuages.sla import service as sla_service
from nuages.sla import views
from nuages.sla.schemas import FailureNoticeCreate

router = APIRouter()


@router.get("/contracts/{contract_id}/sla")
def contract_sla(
    contract_id: str,
    visit: SignedIn,
    month: Annotated[str | None, Query(max_length=7)] = None,
) -> Response:
    """The month's report (issued, or as it stands), the maintenance to come, and the
    contract's issued monthly reports with their credits (issue 12), 24 a page."""
    paging = Paging.of(visit.request, per_page=24)
    with visit.read() as session:
        shown = views.contract_sla(
            session, visit.me, visit.request.app.state.offers, contract_id, month
        )
        issued, total = views.list_reports(
            session, visit.me, month=None, contract_id=contract_id,
            page=paging.page, per_page=paging.per_page,
        )  # fmt: skip
        return visit.render(
            "client/sla.html", sla=shown, contract_id=contract_id, issued=issued,
            paging=paging, pages=paging.pages(total), total=total,
        )  # fmt: skip


@router.post("/vms/{vm_id}/failure-notice")
def failure_notice(posted: PostedForm, vm_id: str) -> Response:
    """The client's "Notification de Défaillance" of a VM (002 §6), dated when it
    arrives: the VM's unavailability counts from it if it comes before detection."""
    visit = posted.visit
    description = posted.get("description").strip()[:2000]
    if not description:
        return visit.redirect(f"/vms/{vm_id}", "failure_notice_empty")
    try:
        with visit.write() as session:
            sla_service.file_notice(
                session, visit.me, vm_id, FailureNoticeCreate(description=description)
            )
    except NuagesError as exc:
        if exc.status == 404:
            raise
        return visit.redirect(f"/vms/{vm_id}", "failure_notice_refused")
    return visit.redirect(f"/vms/{vm_id}", "failure_notice_recorded")

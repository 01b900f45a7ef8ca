"""REST endpoints of failure notices (002 §6 "Notification de Défaillance")."""

from __future__ import annotations

from fastapi import APIRouter, status

from nuages.api.deps import PageDep, PrincipalDep, SessionDep
from nuages.kernel.validation import Page, page_of
from nuages.sla import schemas, service

router = APIRouter(prefix="/api/v1", tags=["sla"])


@router.post(
    "/vms/{vm_id}/failure-notices",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.FailureNoticeOut,
)
def file_failure_notice(
    vm_id: str, body: schemas.FailureNoticeCreate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Tell the provider this VM fails (002 §6): its unavailability counts from now at the
    latest."""
    return service.file_notice(session, principal, vm_id, body)


@router.get("/vms/{vm_id}/failure-notices", response_model=Page[schemas.FailureNoticeOut])
def list_failure_notices(
    vm_id: str, principal: PrincipalDep, session: SessionDep, paging: PageDep
) -> object:
    """The failure notices of a VM, oldest first."""
    items, total = service.list_notices(session, principal, vm_id, paging.page, paging.per_page)
    return page_of(items, total, paging.page, paging.per_page)

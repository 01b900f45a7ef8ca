"""REST endpoints of data protection (001 §15–16): the register, sub-processors,
breaches, audits, the DPO contact and staff access to a client's personal data."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status

from nuages.api.deps import PrincipalDep, SessionDep
from nuages.contracts.offers import OfferRegistry
from nuages.gdpr import access, audits, breaches, register, schemas, subprocessors

router = APIRouter(prefix="/api/v1", tags=["gdpr"])


def _offers(request: Request) -> OfferRegistry:
    registry: OfferRegistry = request.app.state.offers
    return registry


@router.get(
    "/clients/{client_id}/gdpr/register",
    responses={200: {"content": {"application/pdf": {}}, "description": "JSON, or the PDF"}},
)
def gdpr_register(
    client_id: str,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    format: Annotated[Literal["json", "pdf"], Query()] = "json",
) -> Any:
    """The register of processing kept for the client (GDPR Art. 30.2, 001 §16.4 (iv)),
    built from live data: hosts' countries and sub-processors as they are now."""
    data = register.build(session, principal, _offers(request), client_id)
    if format == "pdf":
        return Response(
            register.to_pdf(data),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="register-{client_id}.pdf"'},
        )
    return data


@router.put("/clients/{client_id}/gdpr/dpo")
def set_dpo(
    client_id: str, body: schemas.DpoSet, principal: PrincipalDep, session: SessionDep
) -> Any:
    """Name the client's DPO or GDPR contact: GDPR notices go there."""
    client = access.set_dpo(session, principal, client_id, body)
    return {
        "client_id": client.id,
        "name": client.dpo_name,
        "email": client.dpo_email,
        "phone": client.dpo_phone,
    }


@router.get("/gdpr/sub-processors", response_model=list[schemas.SubProcessorOut])
def list_subprocessors(principal: PrincipalDep, session: SessionDep) -> Any:
    """The provider's sub-processors (001 §16.9), current first."""
    return list(session.execute(subprocessors.list_subprocessors(principal)).scalars())


@router.post(
    "/gdpr/sub-processors",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.SubProcessorChange,
)
def add_subprocessor(
    body: schemas.SubProcessorCreate, principal: PrincipalDep, session: SessionDep
) -> Any:
    """Staff add or replace a sub-processor; every client is informed (001 §16.9)."""
    row, replaced, count = subprocessors.add(session, principal, body)
    return {"sub_processor": row, "replaced": replaced, "notified_clients": count}


def _breach_out(session: Any, principal: Any, breach: Any) -> dict[str, Any]:
    out = schemas.BreachOut.model_validate(
        {
            "id": breach.id, "summary": breach.summary, "occurred_at": breach.occurred_at,
            "detected_at": breach.detected_at, "opened_at": breach.opened_at,
            "notified": breaches.notified(session, principal, breach),
        }
    )  # fmt: skip
    return out.model_dump(mode="json")


@router.post(
    "/gdpr/breaches", status_code=status.HTTP_201_CREATED, response_model=schemas.BreachOut
)
def open_breach(body: schemas.BreachCreate, principal: PrincipalDep, session: SessionDep) -> Any:
    """Staff notify a breach (001 §16.7): every listed field required; each affected
    client's DPO gets a high-importance e-mail at once."""
    breach, _ = breaches.open_breach(session, principal, body)
    return _breach_out(session, principal, breach)


@router.get("/gdpr/breaches", response_model=list[schemas.BreachOut])
def list_breaches(principal: PrincipalDep, session: SessionDep) -> Any:
    """The breaches the caller was notified of (staff: all), with detection and sending times."""
    rows = session.execute(breaches.list_breaches(principal).limit(200)).scalars()
    return [_breach_out(session, principal, b) for b in rows]


@router.post("/gdpr/audits", status_code=status.HTTP_201_CREATED, response_model=schemas.AuditOut)
def request_audit(
    body: schemas.AuditCreate, request: Request, principal: PrincipalDep, session: SessionDep
) -> Any:
    """The client announces an audit (001 §16.8: at least 5 jours ouvrables ahead)."""
    return audits.request_audit(session, principal, _offers(request), body)


@router.get("/gdpr/audits", response_model=list[schemas.AuditOut])
def list_audits(principal: PrincipalDep, session: SessionDep) -> Any:
    """The caller's audits (staff: all), latest start first."""
    return list(session.execute(audits.list_audits(principal).limit(500)).scalars())


@router.get("/clients/{client_id}/gdpr/accesses", response_model=list[schemas.AccessOut])
def list_accesses(client_id: str, principal: PrincipalDep, session: SessionDep) -> Any:
    """Staff accesses to the client's personal data (001 §15.3), newest first."""
    return access.list_accesses(session, principal, client_id)


@router.post(
    "/clients/{client_id}/gdpr/accesses",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.AccessOut,
)
def grant_access(
    client_id: str, body: schemas.AccessCreate, principal: PrincipalDep, session: SessionDep
) -> Any:
    """Staff open an access with its reason, for a few hours (001 §15.3)."""
    return access.grant(session, principal, client_id, body)


@router.delete("/clients/{client_id}/gdpr/accesses/{access_id}", response_model=schemas.AccessOut)
def revoke_access(
    client_id: str, access_id: str, principal: PrincipalDep, session: SessionDep
) -> Any:
    """Revoke an access now (staff, or the client's owner)."""
    return access.revoke(session, principal, client_id, access_id)

"""The client's view of staff accesses to its personal data (001 §15.3): every grant
with its reason, expiry and revocation, and the owner's button to revoke one at once
(001 §16.1: the client controls these accesses), through ``gdpr.access``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from nuages.gdpr import access
from nuages.kernel.errors import NotFound, NuagesError
from nuages.portal import service as portal
from nuages.portal.web import PostedForm, SignedIn, Visit, field_errors

router = APIRouter()


def _client_id(visit: Visit) -> str:
    if visit.me.client_id is None:  # staff use /admin/clients/{id}/accesses
        raise NotFound("no such client")
    return visit.me.client_id


def _page(visit: Visit, errors: dict[str, str], status: int) -> Response:
    client_id = _client_id(visit)
    with visit.read() as session:
        rows = access.list_accesses(session, visit.me, client_id)
        return visit.render(
            "client/accesses.html", status=status, accesses=rows, errors=errors,
            once=visit.once(),
        )  # fmt: skip


@router.get("/gdpr/accesses")
def accesses_page(visit: SignedIn) -> Response:
    """The staff accesses opened on the visitor's client, newest first."""
    return _page(visit, {}, 200)


@router.post("/gdpr/accesses/{access_id}/revoke")
def access_revoke(posted: PostedForm, access_id: str) -> Response:
    """Revoke one access now (an owner; others are refused with the reason shown)."""
    visit = posted.visit
    client_id = _client_id(visit)
    try:
        with visit.write() as session:
            portal.claim(session, visit.me.user_id, posted.once, "/gdpr/accesses")
            access.revoke(session, visit.me, client_id, access_id)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or "/gdpr/accesses", "already_sent")
    except NotFound:
        raise
    except NuagesError as exc:
        return _page(visit, field_errors(exc, ()), exc.status)
    return visit.redirect("/gdpr/accesses", "access_revoked")

"""SSH keys (SPEC §4: management of SSH keys for VM access): the visitor's and their
client's keys, adding one (checked by the compute slice), deleting one."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from nuages.compute import schemas
from nuages.compute.services import keys
from nuages.kernel.errors import NotFound, NuagesError
from nuages.portal import service as portal
from nuages.portal.errors import of as error_text
from nuages.portal.web import Paging, PostedForm, SignedIn, Visit, field_errors

router = APIRouter()
FIELDS = ("name", "public_key")


def _page(visit: Visit, values: dict[str, str], errors: dict[str, str], status: int) -> Response:
    paging = Paging.of(visit.request)
    with visit.read() as session:
        shown, total = keys.list_keys(session, visit.me, paging.page, paging.per_page)
        return visit.render(
            "client/keys.html",
            status=status,
            keys=shown,
            total=total,
            paging=paging,
            pages=paging.pages(total),
            filters={},
            values=values,
            errors=errors,
            once=visit.once(),
        )


@router.get("/keys")
def key_list(visit: SignedIn) -> Response:
    """The keys and the form to add one."""
    return _page(visit, {}, {}, 200)


@router.post("/keys")
def key_add(posted: PostedForm) -> Response:
    """Add a public key (ssh-ed25519, ssh-rsa…); a malformed one is refused next to it."""
    visit = posted.visit
    values = {name: posted.get(name).strip() for name in FIELDS}
    try:
        body = schemas.SshKeyCreate(name=values["name"], public_key=values["public_key"])
        with visit.write() as session:
            portal.claim(session, visit.me.user_id, posted.once, "/keys")
            keys.create_key(session, visit.me, body)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or "/keys", "already_sent")
    except (NuagesError, ValidationError) as exc:
        status = exc.status if isinstance(exc, NuagesError) else 422
        return _page(visit, values, field_errors(exc, FIELDS), status)
    return visit.redirect("/keys", "key_added")


@router.post("/keys/{key_id}/delete")
def key_delete(posted: PostedForm, key_id: str) -> Response:
    """Delete a key (VMs created with it keep it until reinstalled)."""
    visit = posted.visit
    try:
        with visit.write() as session:
            keys.delete_key(session, visit.me, key_id)
    except NotFound:
        raise
    except NuagesError as exc:
        return _page(visit, {}, {"_": error_text(exc)}, exc.status)
    return visit.redirect("/keys", "key_deleted")

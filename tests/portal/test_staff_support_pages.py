"""Issue #16 pages for staff and clients: the back-office ticket list (answered on the
ticket's page, 003 §5.1.3's response clock), staff accesses to personal data opened
with a reason and an expiry and revoked by staff or by the client's owner (001 §15.3).
Both databases (``database`` fixture)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from nuages.accounts.roles import Role
from nuages.gdpr.models import StaffAccess
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.support.models import Ticket
from tests.factories import World
from tests.portal.conftest import signed_in

Make = Callable[..., Any]
PARIS = ZoneInfo("Europe/Paris")


def test_003_s5_1_3_staff_ticket_list_and_answer_end_the_response_clock(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    """A client's ticket shows in the staff list (and by state); staff answer it from
    its page: the first answer is recorded and the ticket leaves the "open" filter."""
    set_now(dt.datetime(2026, 11, 10, 10, 0, tzinfo=PARIS))
    client_id = world.client("Tickets SARL")
    owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    client = signed_in(browser, email)
    made = client.http.post(
        "/api/v1/contracts",
        json={"offer_id": "virtualsr-pcv", "accept_terms": True},
        headers=owner.headers,
    )
    assert made.status_code == 201, made.text
    opened = client.http.post(
        "/api/v1/tickets",
        json={"category": "question", "contract_id": made.json()["id"],
              "subject": "Quota disque", "body": "Combien d'espace reste-t-il ?"},
        headers=owner.headers,
    )  # fmt: skip
    assert opened.status_code == 201, opened.text
    ticket_id = opened.json()["id"]
    _admin, staff_email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, staff_email)
    listed = staff.get("/admin/tickets?state=open")
    assert listed.status_code == 200 and "Quota disque" in listed.text
    assert f'href="/tickets/{ticket_id}"' in listed.text
    set_now(dt.datetime(2026, 11, 10, 11, 0, tzinfo=PARIS))
    form = staff.form(f"/tickets/{ticket_id}", f"/tickets/{ticket_id}/messages")
    answered = staff.post(
        f"/tickets/{ticket_id}/messages", {**form.fields, "body": "Il reste 40 Go."}
    )
    assert answered.status_code == 200 and "Message envoyé." in answered.text
    with database.unit() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.state == "answered"
        assert ticket.first_response_at is not None
    assert "Quota disque" not in staff.get("/admin/tickets?state=open").text
    assert "Quota disque" in staff.get("/admin/tickets?state=answered").text
    assert client.get("/admin/tickets").status_code == 404


def test_001_s15_3_staff_access_opened_with_reason_and_revoked_by_the_owner(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    """Staff open an access (too short a reason: refused next to the field, in French
    and in English, nothing written); it expires after the hours asked; the client sees
    it with its reason and its owner revokes it; staff revoke another one."""
    set_now(dt.datetime(2026, 11, 10, 10, 0, tzinfo=PARIS))
    client_id = world.client("Accès SA")
    _owner, owner_email = user_with_password(Role.CLIENT_OWNER, client_id)
    _admin, staff_email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, staff_email)
    page = f"/admin/clients/{client_id}/accesses"
    assert "Aucun accès." in staff.get(page).text
    short = staff.submit(page, page, what="users", reason="court", hours="4")
    assert short.status_code == 422 and 'id="e-reason"' in short.text, short.text[-2000:]
    assert "au moins" in unescape(short.text)
    with database.unit() as session:
        assert session.execute(select(StaffAccess)).first() is None
    staff.submit("/admin", "/lang", lang="en")
    english = staff.submit(page, page, what="users", reason="court", hours="4")
    assert english.status_code == 422 and "at least" in unescape(english.text)
    staff.submit("/admin", "/lang", lang="fr")
    reason = "ticket 12 : le propriétaire est bloqué"
    done = staff.submit(page, page, what="users", reason=reason, hours="4")
    assert done.status_code == 200 and "Accès ouvert" in done.text
    staff.submit(page, page, what="consoles", reason="ticket 13 : la VM ne démarre pas", hours="2")
    with database.unit() as session:
        rows = {r.what: r for r in session.execute(select(StaffAccess)).scalars()}
        assert rows["users"].expires_at - rows["users"].granted_at == dt.timedelta(hours=4)
        users_id, consoles_id = rows["users"].id, rows["consoles"].id
    client = signed_in(browser, owner_email)
    seen = unescape(client.get("/gdpr/accesses").text)
    assert reason in seen and staff_email in seen
    revoke = f"/gdpr/accesses/{users_id}/revoke"
    revoked = client.submit("/gdpr/accesses", revoke)
    assert revoked.status_code == 200 and "Accès révoqué." in revoked.text
    with database.unit() as session:
        assert session.get(StaffAccess, users_id).revoked_at is not None  # type: ignore[union-attr]
    staff_revoke = f"{page}/{consoles_id}/revoke"
    assert f'action="{page}/{users_id}/revoke"' not in staff.get(page).text
    by_staff = staff.submit(page, staff_revoke)
    assert by_staff.status_code == 200 and "Accès révoqué." in by_staff.text
    with database.unit() as session:
        assert session.get(StaffAccess, consoles_id).revoked_at is not None  # type: ignore[union-attr]
    assert f'action="/gdpr/accesses/{consoles_id}/revoke"' not in client.get("/gdpr/accesses").text
    _b, other_email = user_with_password(Role.CLIENT_OWNER, world.client("Autre"))
    assert reason not in unescape(signed_in(browser, other_email).get("/gdpr/accesses").text)

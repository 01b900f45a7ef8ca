"""The back-office outbox shows notices that bounced after a server accepted them
(issue #11) and, on top, the alert of a bounced legal notice."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from nuages.accounts.models import Client
from nuages.accounts.roles import Role
from nuages.history.service import Actor
from nuages.kernel.db import Database
from nuages.notices import bounces, service
from nuages.notices.dsn import verp_address
from nuages.notices.models import Notice
from tests.factories import World
from tests.notices.dsn_mail import postfix_dsn
from tests.portal.conftest import signed_in

Make = Callable[..., Any]


def test_issue_11_admin_outbox_lists_bounced_notices_with_the_legal_alert(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    client_id = world.client("Rennes SAS")
    with database.unit() as session:
        notice = service.queue(
            session,
            Actor.system("test"),
            "formal_notice",
            client_id=client_id,
            object_type="invoice",
            object_id="inv-9",
            context={"number": "F-9", "text": "Payez.", "outstanding": "9.00", "currency": "EUR"},
            key="test:portal-bounce",
        )
        notice.state = "sent"
        notice_id, rcpt = notice.id, json.loads(notice.recipients)[0]
        session.flush()
        session.expunge(notice)
    from email.message import EmailMessage

    returned = EmailMessage()
    returned["Message-ID"] = "<x@y>"
    to = verp_address(notice_id, "isstar.example")
    result = bounces.intake(
        database,
        postfix_dsn(returned, to=to, recipient=rcpt),
        domain="isstar.example",
        source="file",
        envelope_rcpts=(to,),
    )
    assert result.outcome == "matched" and result.failed == (rcpt,)
    _admin, email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, email)
    page = staff.get("/admin/notices?state=bounced")
    assert page.status_code == 200
    assert "registered letter to Rennes SAS" in page.text  # the alert, on top
    assert "bounced: " in page.text and "5.1.1" in page.text
    assert "rejetés après envoi" in page.text

    # Resend (the copy's own Message-ID): refused while the bounced address stands …
    action = f"/admin/notices/{notice_id}/resend"
    refused = staff.submit("/admin/notices?state=bounced", action)
    assert refused.status_code == 409 and rcpt in refused.text
    assert "registered letter to Rennes SAS" in refused.text  # nothing changed
    # … and sent once the billing address is corrected; the alert is closed.
    with database.unit() as session:
        session.get(Client, client_id).billing_email = "compta@rennes.fr"  # type: ignore[union-attr]
    done = staff.submit("/admin/notices?state=bounced", action)
    assert done.status_code == 200
    assert "registered letter to Rennes SAS" not in done.text
    with database.unit() as session:
        copy = service.resent_as(session, notice_id)
        assert copy is not None and copy.state == "queued"
        assert json.loads(copy.recipients) == ["compta@rennes.fr"]
        assert copy.kind == "formal_notice" and copy.message_id != notice.message_id
        assert session.get(Notice, notice_id).alert == ""  # type: ignore[union-attr]
    assert action not in staff.get("/admin/notices?state=bounced").text  # resent once

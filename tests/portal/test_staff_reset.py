"""Provider staff reset their password by e-mail too (issue #12 §2 "password reset by
e-mail"): the link goes through the notices outbox (kind ``password_reset``, to the
user alone; a staff notice has no client) to a real SMTP server on loopback (aiosmtpd),
and the test reads the link from the mail it received. The link is single-use and
expires after one hour."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from nuages.accounts import service as accounts
from nuages.app import create_app
from nuages.kernel.clock import set_now, utc_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.notices.delivery import deliver_pass
from nuages.notices.models import Notice
from nuages.portal import service as portal
from tests.notices.smtp import SmtpServer
from tests.portal.conftest import PASSWORD
from tests.portal.harness import Browser

STAFF_EMAIL = "ops@provider.example"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return settings.model_copy(
        update={"smtp_url": smtp.url, "mail_from": "portail@isstar.example", "smtp_timeout": 2.0}
    )


def _link_from_mail(smtp: SmtpServer) -> str:
    [received] = smtp.received
    assert received.rcpt_tos == [STAFF_EMAIL]
    body = received.message.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(r"http://testserver(/reset/new\?token=[A-Za-z0-9_-]+)", body.get_content())
    assert found is not None, body.get_content()
    return found.group(1)


def test_regression_staff_get_a_reset_link_by_email(
    database: Database, offers: object, mail_settings: Settings, smtp: SmtpServer
) -> None:
    """Before, a staff address got nothing (notices needed a client). Now the mail
    reaches the staff member; the link sets a new password once; used again, or a
    second link after its hour, it is refused."""
    with database.unit() as session:
        accounts.create_admin(session, STAFF_EMAIL, PASSWORD, with_token=False)
    app = create_app(mail_settings, database, offers)  # type: ignore[arg-type]
    visitor = Browser(app)
    asked = visitor.submit("/reset", "/reset", email=STAFF_EMAIL)
    assert asked.url.path == "/signin" and "Si cette adresse" in asked.text
    with database.unit() as session:
        notice = session.execute(select(Notice)).scalar_one()
        assert notice.kind == "password_reset" and notice.client_id is None
        assert notice.scope == "private"
    report = deliver_pass(database, mail_settings)
    assert report.sent == [notice.id], report
    link = _link_from_mail(smtp)
    new_password = "a new staff password"
    short = visitor.submit(link, "/reset/new", password="short", confirm="short")
    assert short.status_code == 422 and 'id="e-password"' in short.text
    done = visitor.submit(link, "/reset/new", password=new_password, confirm=new_password)
    assert done.url.path == "/signin" and "Mot de passe changé" in done.text
    assert Browser(app).sign_in(STAFF_EMAIL, new_password).url.path == "/admin"
    assert Browser(app).sign_in(STAFF_EMAIL, PASSWORD).status_code == 401
    again = Browser(app).get(link)
    assert again.url.path == "/reset" and "plus valable" in again.text
    # A second link, used after its hour: refused.
    Browser(app).submit("/reset", "/reset", email=STAFF_EMAIL)
    deliver_pass(database, mail_settings)
    later = smtp.received[-1].message.get_body(preferencelist=("plain",))
    assert later is not None
    second = re.search(r"http://testserver(/reset/new\?token=[A-Za-z0-9_-]+)", later.get_content())
    assert second is not None
    set_now(utc_now() + portal.RESET_VALID + dt.timedelta(seconds=1))
    expired = Browser(app).get(second.group(1))
    assert expired.url.path == "/reset" and "plus valable" in expired.text

"""The portal's foundation (issue #12): sign-in with a lockout, sign-out, password reset
by e-mail, CSRF on every form, 404 for another client's objects, HTML escaped, one VM
per form however often it is sent, an expired session in the middle of a form."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from html import unescape
from typing import Any

from sqlalchemy import func, select

from nuages.accounts import lockout
from nuages.accounts.roles import Role
from nuages.compute.models import Vm
from nuages.kernel.clock import set_now, utc_now
from nuages.kernel.db import Database
from nuages.notices.models import Notice
from tests.compute.world import ComputeWorld, make_runtime
from tests.factories import World
from tests.portal.conftest import PASSWORD, signed_in
from tests.portal.harness import Browser

Make = Callable[..., Any]


def _vm_world(world: World, offers: Any, tmp_path: Any, database: Database) -> ComputeWorld:
    runtime = make_runtime(tmp_path / "cw", database)
    return ComputeWorld(world, runtime, offers, tmp_path)


def test_owner_signs_in_and_sees_dashboard_and_vm_list(
    browser: Make, user_with_password: Make, world: World
) -> None:
    client_id = world.client("Dupont SA")
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor: Browser = browser()
    first = visitor.get("/")
    assert first.url.path == "/signin"  # not signed in: the sign-in page, then back
    page = visitor.sign_in(email, PASSWORD)
    assert page.status_code == 200 and page.url.path == "/"
    assert "Tableau de bord" in page.text
    listing = visitor.get("/vms")
    assert listing.status_code == 200 and "Aucune machine" in listing.text


def test_pages_carry_csp_and_no_inline_script(browser: Make) -> None:
    page = browser().get("/signin")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert re.findall(r"<script(?![^>]*\bsrc=)", page.text) == []
    assert "style=" not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    # The API keeps its JSON answers and no portal headers.
    api = browser().get("/api/v1/me")
    assert api.headers["content-type"].startswith("application/problem+json")


def test_wrong_password_then_lockout_refuses_even_the_right_one(
    browser: Make, user_with_password: Make, world: World
) -> None:
    """After 5 failures in 15 minutes the address is locked for the window."""
    _owner, email = user_with_password(Role.CLIENT_OWNER, world.client())
    visitor: Browser = browser()
    for _ in range(lockout.MAX_FAILURES - 1):
        answer = visitor.sign_in(email, "wrong password!")
        assert answer.status_code == 401 and "incorrect" in answer.text
    locked = visitor.sign_in(email, "wrong password!")
    assert locked.status_code == 429 and "bloquée" in locked.text
    again = visitor.sign_in(email, PASSWORD)
    assert again.status_code == 429, "the right password must not open a locked address"
    set_now(utc_now() + lockout.WINDOW + dt.timedelta(seconds=1))
    assert visitor.sign_in(email, PASSWORD).url.path == "/"


def test_forged_csrf_is_refused_and_nothing_written(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    client_id = world.client()
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, email)
    answer = visitor.post(
        "/vms/new",
        {"_csrf": "forged", "_once": "x", "contract_id": "c", "flavour": "vm-s", "image": "i",
         "name": "evil"},
    )  # fmt: skip
    assert answer.status_code == 403 and "rien n'a été enregistré" in unescape(answer.text)
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(Vm)).scalar_one() == 0
    # Sign-out without the token is refused too: the session stays.
    assert visitor.post("/signout", {"_csrf": ""}).status_code == 403
    assert visitor.get("/").url.path == "/"


def test_other_clients_vm_page_answers_404(
    browser: Make, user_with_password: Make, world: World, offers: Any, tmp_path: Any,
    database: Database,
) -> None:  # fmt: skip
    cw = _vm_world(world, offers, tmp_path, database)
    try:
        a = world.client("A")
        contract_id = cw.contract(a)
        cw.host()
        image = cw.image()
        owner_a, _ = cw.owner(a)
        from nuages.compute import schemas
        from nuages.compute.services import vms

        with database.unit() as session:
            vm, _op = vms.create_vm(
                session, cw.principal(owner_a), cw.runtime, offers,
                schemas.VmCreate(contract_id=contract_id, flavour="vm-s", image=image.id,
                                 name="a-vm"),
            )  # fmt: skip
        _b, email_b = user_with_password(Role.CLIENT_OWNER, world.client("B"))
        visitor = signed_in(browser, email_b)
        for path in (
            f"/vms/{vm.id}",
            f"/vms/{vm.id}/status",
            f"/vms/{vm.id}/confirm?action=delete",
        ):
            answer = visitor.get(path)
            assert answer.status_code == 404, path
            assert "a-vm" not in answer.text
        # An action on it: 404 too, and nothing queued.
        form = visitor.form("/vms")  # any page gives the visitor's CSRF token
        refused = visitor.post(
            f"/vms/{vm.id}/action", {"_csrf": form.fields["_csrf"], "_once": "o1",
                                     "action": "stop"},
        )  # fmt: skip
        assert refused.status_code == 404
    finally:
        cw.runtime.close()


def test_html_in_input_is_escaped(browser: Make) -> None:
    evil = '<script>alert("x")</script>@example.com'
    answer = browser().sign_in(evil, "whatever password")
    assert "<script>alert" not in answer.text
    assert "&lt;script&gt;alert" in answer.text


def test_one_vm_however_often_the_form_is_sent(
    browser: Make, world: World, offers: Any, tmp_path: Any, database: Database
) -> None:
    """A double-clicked (or re-sent) creation form creates one VM; the second answer
    shows the first one's VM with a clear message."""
    cw = _vm_world(world, offers, tmp_path, database)
    try:
        client_id = world.client()
        cw.contract(client_id)
        cw.host()
        image = cw.image()
        actor = world.user(Role.CLIENT_OWNER, client_id, password=PASSWORD)
        email = _email_of(database, actor.user_id)
        visitor = signed_in(browser, email)
        form = visitor.form("/vms/new", "/vms/new")
        data = {**form.fields, "name": "web-1", "image": image.id}
        first = visitor.post("/vms/new", data)
        assert first.status_code == 200 and first.url.path.startswith("/vms/"), first.text[:800]
        second = visitor.post("/vms/new", data)
        assert second.url.path == first.url.path
        assert "déjà été envoyé" in second.text
        with database.unit() as session:
            assert session.execute(select(func.count()).select_from(Vm)).scalar_one() == 1
        # A new form (new token) with a bad name: the error is next to the field.
        form = visitor.form("/vms/new", "/vms/new")
        bad = visitor.post("/vms/new", {**form.fields, "name": "Bad Name!", "image": image.id})
        assert bad.status_code == 422 and 'id="e-name"' in bad.text
    finally:
        cw.runtime.close()


def _email_of(database: Database, user_id: str) -> str:
    from nuages.accounts.models import User

    with database.unit() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user.email


def test_expired_session_mid_form_signs_in_then_back_with_a_message(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    _owner, email = user_with_password(Role.CLIENT_OWNER, world.client())
    visitor = signed_in(browser, email)
    form = visitor.form("/vms")  # the filter form has no CSRF; take the sign-out's
    assert form is not None
    page = visitor.get("/vms/new")
    assert page.status_code == 200
    set_now(utc_now() + dt.timedelta(days=2))  # the one-day session is over
    answer = visitor.http.post(
        "/vms/new",
        data={"_csrf": "whatever", "name": "web-1"},
        headers={"referer": "http://testserver/vms/new"},
        follow_redirects=True,
    )
    assert answer.url.path == "/signin" and "expiré" in answer.text
    back = visitor.submit(str(answer.url.path) + "?" + answer.url.query.decode(), "/signin",
                          email=email, password=PASSWORD)  # fmt: skip
    assert back.url.path == "/vms/new"
    assert "rien n'avait été enregistré" in unescape(back.text)


def test_sign_out_revokes_the_session(
    browser: Make, user_with_password: Make, world: World
) -> None:
    _owner, email = user_with_password(Role.CLIENT_OWNER, world.client())
    visitor = signed_in(browser, email)
    cookie = visitor.http.cookies.get("nuages_session")
    out = visitor.submit("/", "/signout")
    assert out.url.path == "/signin" and "déconnecté" in out.text
    thief: Browser = browser()
    thief.http.cookies.set("nuages_session", cookie or "")
    assert thief.get("/").url.path == "/signin"


def test_password_reset_by_email_once(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    """The link goes out through the notices outbox (kind password_reset, to the user
    alone, readable by no token) and works once."""
    client_id = world.client()
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor: Browser = browser()
    sent = visitor.submit("/reset", "/reset", email=email)
    assert "lien" in sent.text
    unknown = visitor.submit("/reset", "/reset", email="nobody@example.com")
    assert unknown.text.count("Si cette adresse") == 1  # same answer: no account discovery
    with database.unit() as session:
        notice = session.execute(select(Notice).where(Notice.kind == "password_reset")).scalar_one()
        assert json.loads(notice.recipients) == [email] and notice.scope == "private"
        link = re.search(r"http://testserver(/reset/new\?token=\S+)", notice.body)
    assert link is not None
    new_password = "another long password"
    done = visitor.submit(link.group(1), "/reset/new", password=new_password,
                          confirm=new_password)  # fmt: skip
    assert done.url.path == "/signin" and "Mot de passe changé" in done.text
    assert visitor.sign_in(email, new_password).url.path == "/"
    reused = browser().get(link.group(1))
    assert reused.url.path == "/reset" and "plus valable" in reused.text

"""The contract's data in the portal (issue #21): a client's contract page shows the
moves of its data outside the EU with their exit window (001 §5.3); an owner asks for
a partial recovery, seeing its EUR 250 fee before confirming (001 §7), once however
often the form is sent; back-office staff record a move. French and English; no
inline script or style (the portal's CSP)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal

from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.invoicing.models import PendingCharge
from nuages.kernel.clock import set_now
from nuages.portal import i18n
from nuages.portal.web import LANG_COOKIE
from nuages.reversibility.models import ContractRelocation, PartialRecovery
from tests.portal.conftest import PASSWORD
from tests.portal.harness import Browser, forms_of
from tests.reversibility.conftest import Ex

UTC = dt.UTC


def _count(ex: Ex, model: type) -> int:
    with ex.database.unit() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _visitor(ex: Ex, role: Role, client_id: str | None) -> Browser:
    actor = ex.cw.world.user(role, client_id, password=PASSWORD)
    with ex.database.unit() as session:
        from nuages.accounts.models import User

        user = session.get(User, actor.user_id)
        assert user is not None
        email = user.email
    visitor = Browser(ex.http.app)
    assert visitor.sign_in(email, PASSWORD).status_code == 200
    return visitor


def _csp_clean(text: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)", text), "inline script"
    assert " style=" not in text and "<style" not in text, "inline style"


def test_001_s7_owner_sees_the_250_fee_before_confirming_a_partial_recovery(ex: Ex) -> None:
    """001 §7: the contract page links to partial recovery; the owner picks a VM, the
    next page states the fee (250,00 € / €250.00) and writes nothing; confirmed, one
    transfer is asked and charged once, a re-sent form doing nothing more; the copy
    downloads with the visitor's session (regression: the pages linked to the API's
    URL, which needs a bearer token, so a click got 401). A member sees
    neither the form nor the fee (000 §1, §5); no VM chosen is a 422 naming the field."""
    set_now(dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
    ex.setup("cloudbizz", vms=2)
    owner = _visitor(ex, Role.CLIENT_OWNER, ex.owner_client)
    base = f"/contracts/{ex.contract_id}/partial-recoveries"
    contract_page = owner.get(f"/contracts/{ex.contract_id}")
    assert contract_page.status_code == 200 and base in contract_page.text
    page = owner.get(base)
    assert page.status_code == 200 and "001 §7" in page.text and "Aucun transfert." in page.text
    _csp_clean(page.text)
    empty = owner.submit(base, base)
    assert empty.status_code == 422 and "Choisissez au moins une machine." in empty.text
    preview = owner.submit(base, base, vm_ids=ex.vm_ids[0])
    assert preview.status_code == 200, preview.text[:800]
    assert "Ce transfert sera facturé 250,00\xa0€ (001 §7)" in preview.text
    assert "vm0" in preview.text
    _csp_clean(preview.text)
    assert _count(ex, PartialRecovery) == 0 and _count(ex, PendingCharge) == 0
    [confirm] = [f for f in forms_of(preview.text) if f.fields.get("confirm") == "yes"]
    assert confirm.fields["vm_ids"] == ex.vm_ids[0]
    done = owner.post(confirm.action, confirm.fields)
    assert done.status_code == 200 and "Transfert demandé" in done.text
    assert _count(ex, PartialRecovery) == 1
    again = owner.post(confirm.action, confirm.fields)
    assert again.status_code == 200 and _count(ex, PartialRecovery) == 1
    with ex.database.unit() as session:
        amounts = list(session.execute(select(PendingCharge.amount)).scalars())
    assert amounts == [Decimal("250.00")]
    ex.run_queued()
    listed = owner.get(base).text
    [link] = re.findall(rf'href="(/vms/{ex.vm_ids[0]}/exports/[^"]+/download)"', listed)
    got = owner.get(link)  # the visitor's session, no API token
    assert got.status_code == 200 and got.content[:4] == b"QFI\xfb"  # a qcow2 file
    assert hashlib.sha256(got.content).hexdigest() == got.headers["x-checksum-sha256"]
    assert got.headers["x-checksum-sha256"] in listed
    stranger = _visitor(ex, Role.CLIENT_OWNER, ex.cw.world.client("Autre SA"))
    assert stranger.get(link).status_code == 404
    # The same pages in English.
    owner.http.cookies.set(LANG_COOKIE, "en")
    english = owner.submit(base, base, vm_ids=ex.vm_ids[1])
    assert "This transfer will be charged €250.00 (001 §7)" in english.text
    # A member: no form, no fee.
    member = _visitor(ex, Role.CLIENT_MEMBER, ex.owner_client)
    seen = member.get(base).text
    assert "Seul le Responsable du contrat demande un transfert" in seen
    # The fee as the page would write it, not a bare "250": a random CSRF token
    # contains those digits about one page in thirty.
    assert f'action="{base}"' not in seen and "250,00" not in seen


def test_001_s7_partial_recovery_page_where_the_offer_gives_none(ex: Ex) -> None:
    """isstar-cloud (000) gives no partial recovery while the contract runs: no link on
    the contract page, the page says so and has no form."""
    set_now(dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
    ex.setup("isstar-cloud", vms=1)
    owner = _visitor(ex, Role.CLIENT_OWNER, ex.owner_client)
    base = f"/contracts/{ex.contract_id}/partial-recoveries"
    assert base not in owner.get(f"/contracts/{ex.contract_id}").text
    page = owner.get(base).text
    assert "ne prévoit pas de réversibilité partielle" in page and f'action="{base}"' not in page


def test_001_s5_3_staff_record_a_move_and_the_client_sees_its_exit_window(ex: Ex) -> None:
    """001 §5.3: staff record a move to Montréal (CA) from the back-office contract
    page; the client's contract page shows it with the date the move may happen (3
    months' notice) and the end of its 30-day penalty-free exit. A move inside the EU
    is refused next to the field (001 §5.2), nothing written; another client's visitor
    gets 404 on the back-office form's target."""
    set_now(dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
    ex.setup("cloudbizz", vms=1)
    set_now(dt.datetime(2026, 6, 1, 10, tzinfo=UTC))
    staff = _visitor(ex, Role.PROVIDER_ADMIN, None)
    admin_page = f"/admin/contracts/{ex.contract_id}"
    action = f"{admin_page}/relocations"
    page = staff.get(admin_page)
    assert page.status_code == 200 and "Annoncer un déplacement des données hors UE" in page.text
    _csp_clean(page.text)
    inside = staff.submit(admin_page, action, site="paris-2", country="FR", reason="move")
    assert inside.status_code == 422, inside.text[:500]
    assert "001 §5.2" in inside.text and _count(ex, ContractRelocation) == 0
    done = staff.submit(admin_page, action, site="montreal-1", country="CA",
                        reason="data centre consolidation")  # fmt: skip
    assert done.status_code == 200 and "Déplacement enregistré" in done.text
    assert _count(ex, ContractRelocation) == 1
    with ex.database.unit() as session:
        move = session.execute(select(ContractRelocation)).scalar_one()
        # 001 §5.3 (ii): 30 days from the notification, to the end of the 30th day in
        # the contract's calendar (Brussels): 2 July 2026 00:00 CEST.
        assert move.exit_until == dt.datetime(2026, 7, 1, 22, tzinfo=UTC)
        exit_until = move.exit_until
        assert move.moves_at >= move.notified_at + dt.timedelta(days=89)  # 3 months (i)
    assert "montreal-1" in staff.get(admin_page).text
    owner = _visitor(ex, Role.CLIENT_OWNER, ex.owner_client)
    shown = owner.get(f"/contracts/{ex.contract_id}").text
    assert "Déplacements de vos données hors de l&#39;Union européenne" in shown
    assert "montreal-1 (CA)" in shown and "001 §5.3" in shown
    assert i18n.when(exit_until, "fr") in shown  # the exit window's end, as the page says it
    _csp_clean(shown)
    owner.http.cookies.set(LANG_COOKIE, "en")
    english = owner.get(f"/contracts/{ex.contract_id}").text
    assert "Termination without indemnity until" in english
    # A client cannot reach the back-office form.
    refused = owner.post(action, {"site": "montreal-1", "country": "CA", "reason": "x"})
    assert refused.status_code in {403, 404} and _count(ex, ContractRelocation) == 1

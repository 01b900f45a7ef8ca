"""The last pages of the client area and back-office (issue #12 §2, §3): ordering an
extension and its authorisation by the Responsable (000 §8), the back-office's list of
those waiting, refusing announced terms (000 §4), paying by card (000 §13.2: how to,
then staff record the terminal's authorisation once) and the SEPA batches."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role
from nuages.app import create_app
from nuages.billing import ledger, topups
from nuages.billing import schemas as billing_schemas
from nuages.billing.models import Extension
from nuages.contracts import terms_changes
from nuages.contracts.models import ContractTermsChange
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.portal import i18n
from tests.factories import World
from tests.invoicing.factories import Billing
from tests.portal.conftest import PASSWORD
from tests.portal.harness import Browser

Make = Callable[..., Any]
ROOT = Path(__file__).resolve().parents[2]
STAFF = Principal.staff("test")


def _isstar(database: Database, offers: Any, topup: str = "300.00") -> tuple[str, str]:
    """A formed isstar-cloud contract with a funded account: (client id, contract id)."""
    billing = Billing(database, offers)
    client_id = billing.client("Extensions SA")
    contract_id = billing.contract("isstar-cloud", client_id, utc_now() - dt.timedelta(hours=2))
    with database.unit() as session:
        topups.record_transfer(
            session,
            STAFF,
            offers,
            contract_id,
            billing_schemas.TransferCreate(
                amount=Decimal(topup), reference=f"BANK-{contract_id[:8]}"
            ),
        )
    return client_id, contract_id


def _signed(app: Any, email: str) -> Browser:
    visitor = Browser(app)
    assert visitor.sign_in(email, PASSWORD).status_code == 200
    return visitor


def test_000_s8_member_orders_an_extension_the_responsable_authorises_it(
    portal_app: Any, user_with_password: Make, world: World, database: Database, offers: Any
) -> None:
    """000 §8: a member's order waits for the Responsable (the only owner here); the
    back-office lists it as waiting; the owner authorises it on the contract's page.
    A period the wrong way round is refused next to its field, nothing written."""
    client_id, contract_id = _isstar(database, offers)
    _owner, owner_email = user_with_password(Role.CLIENT_OWNER, client_id)
    _member, member_email = user_with_password(Role.CLIENT_MEMBER, client_id)
    member = _signed(portal_app, member_email)
    page = f"/contracts/{contract_id}/extensions"
    start = utc_now() + dt.timedelta(hours=2)

    def typed(moment: dt.datetime) -> str:  # what a visitor types: Paris time
        return moment.astimezone(i18n.ZONE).strftime("%Y-%m-%dT%H:%M")

    bad = member.submit(
        page,
        page,
        item_id="vm-s",
        starts_at=typed(start),
        ends_at=typed(start - dt.timedelta(hours=1)),
    )
    assert bad.status_code == 422 and 'id="e-ends_at"' in bad.text
    with database.unit() as session:
        assert session.execute(select(Extension)).first() is None
    ordered = member.submit(
        page,
        page,
        item_id="vm-s",
        quantity="2",
        reason="soldes <b>",
        starts_at=typed(start),
        ends_at=typed(start + dt.timedelta(days=1)),
    )
    assert ordered.status_code == 200 and "attend l'autorisation" in unescape(ordered.text)
    assert "soldes &lt;b&gt;" in ordered.text
    assert "/approve" not in ordered.text, "a member does not authorise"
    staff_email = "staff-ext@example.com"
    from nuages.accounts import service as accounts

    with database.unit() as session:
        accounts.create_admin(session, staff_email, PASSWORD, with_token=False)
    staff = _signed(portal_app, staff_email)
    waiting = staff.get("/admin/extensions")
    assert waiting.status_code == 200 and contract_id in waiting.text
    owner = _signed(portal_app, owner_email)
    with database.unit() as session:
        ext = session.execute(select(Extension)).scalar_one()
    done = owner.submit(page, f"/extensions/{ext.id}/approve")
    assert done.status_code == 200 and "Extension autorisée." in unescape(done.text)
    with database.unit() as session:
        assert session.get(Extension, ext.id).state == "approved"  # type: ignore[union-attr]
    # Another client's owner: the extension does not exist for them.
    _other, other_email = user_with_password(Role.CLIENT_OWNER, world.client("Autre"))
    assert _signed(portal_app, other_email).get(page).status_code == 404


def test_000_s4_owner_refuses_new_terms_by_registered_letter(
    settings: Any, database: Database, user_with_password: Make, tmp_path: Path
) -> None:
    """000 §4: announced today, the new isstar-cloud terms may be refused for a month
    by registered letter; the form asks for the letter's date (refused without it, the
    reason next to the field) and the refusal keeps the old terms."""
    folder = tmp_path / "offers"
    shutil.copytree(ROOT / "offers", folder)
    registry = OfferRegistry.from_directory(folder, check_interval=0)
    app = create_app(settings, database, registry)
    client_id, contract_id = _isstar(database, registry)
    path = next(p for p in folder.glob("*.toml") if 'id = "isstar-cloud"' in p.read_text())
    path.write_text(path.read_text() + "\n# version 2\n")
    registry.reload()
    with database.unit() as session:
        terms_changes.publish(session, STAFF, registry, "isstar-cloud", summary="Support <24/7>")
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    owner = _signed(app, email)
    page = f"/contracts/{contract_id}/terms"
    shown = owner.get(page)
    assert shown.status_code == 200 and "Support &lt;24/7&gt;" in shown.text
    assert "lettre recommandée" in unescape(shown.text)
    missing = owner.submit(page, f"{page}/refuse", letter_date="")
    assert missing.status_code == 422 and 'id="e-letter_date"' in missing.text
    today = utc_now().date().isoformat()
    refused = owner.submit(page, f"{page}/refuse", letter_date=today)
    assert refused.status_code == 200 and "Refus enregistré" in unescape(refused.text)
    with database.unit() as session:
        row = session.execute(select(ContractTermsChange)).scalar_one()
        assert row.state == "refused" and row.letter_date == utc_now().date()
    withdrawn = owner.submit(page, f"{page}/withdraw")
    assert "Refus retiré" in unescape(withdrawn.text)


def test_000_s13_2_card_top_up_how_to_then_staff_record_it_once(
    portal_app: Any, user_with_password: Make, database: Database, offers: Any
) -> None:
    """000 §13.2 lists the card among top-up means: the account page says how to pay
    (the provider's terminal, the payment reference); staff record the authorisation
    reference, which credits once — the same reference again is refused, nothing
    credited twice."""
    client_id, contract_id = _isstar(database, offers, topup="100.00")
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    account = _signed(portal_app, email).get(f"/contracts/{contract_id}/account")
    assert 'id="card-topup"' in account.text and "Par carte bancaire" in account.text
    from nuages.accounts import service as accounts

    with database.unit() as session:
        accounts.create_admin(session, "staff-card@example.com", PASSWORD, with_token=False)
    staff = _signed(portal_app, "staff-card@example.com")
    page = f"/admin/contracts/{contract_id}"
    with database.unit() as session:
        before = ledger.balance(session, contract_id)
    done = staff.submit(page, f"{page}/card", card_amount="50,00", card_reference="AUTH 123")
    assert done.status_code == 200
    again = staff.submit(page, f"{page}/card", card_amount="50.00", card_reference="auth123")
    assert again.status_code == 409 and "error" in again.text
    with database.unit() as session:
        assert ledger.balance(session, contract_id) == before + Decimal("50.00")


def test_000_s13_2_card_top_up_under_the_webhook_provider_says_so_and_offers_no_terminal_form(
    portal_app: Any,
    user_with_password: Make,
    database: Database,
    offers: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``NUAGES_SELLER_CARD_PROVIDER=webhook`` the provider's signed event credits
    card top-ups: the account page says the amount is credited once the payment service
    confirms it (not the terminal text), and the staff contract page has no form to
    record a card payment by hand (it would be refused, and counted twice)."""
    from nuages.accounts import service as accounts
    from nuages.kernel import settings as settings_module

    monkeypatch.setenv("NUAGES_SELLER_CARD_PROVIDER", "webhook")
    settings_module.get_settings.cache_clear()
    try:
        client_id, contract_id = _isstar(database, offers, topup="100.00")
        _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
        account = unescape(_signed(portal_app, email).get(f"/contracts/{contract_id}/account").text)
        assert "service de paiement confirme la transaction" in account
        assert "propre terminal" not in account
        with database.unit() as session:
            accounts.create_admin(session, "staff-hook@example.com", PASSWORD, with_token=False)
        staff = _signed(portal_app, "staff-hook@example.com")
        page = staff.get(f"/admin/contracts/{contract_id}").text
        assert f"/admin/contracts/{contract_id}/transfer" in page
        assert f"/admin/contracts/{contract_id}/card" not in page
    finally:
        monkeypatch.undo()
        settings_module.get_settings.cache_clear()


def test_staff_list_sepa_batches_and_download_one(
    portal_app: Any, database: Database, offers: Any
) -> None:
    """The SEPA page lists every batch (filter by state) and each one's file downloads
    from the back-office itself (the session, not an API token)."""
    from nuages.accounts import service as accounts
    from nuages.payments.models import DirectDebitBatch

    with database.unit() as session:
        accounts.create_admin(session, "staff-sepa@example.com", PASSWORD, with_token=False)
        batch = DirectDebitBatch(
            id="NUAGES-TEST-0001",
            message_id="NUAGES-TEST-0001",
            kind="invoice",
            collection_date=dt.date(2026, 12, 10),
            count=0,
            total_cents=0,
            xml="<Document/>",
            state="created",
        )
        session.add(batch)
        session.flush()
        batch_id = batch.id
    staff = _signed(portal_app, "staff-sepa@example.com")
    listing = staff.get("/admin/sepa")
    assert listing.status_code == 200 and f"/admin/sepa/{batch_id}" in listing.text
    assert "NUAGES-TEST-0001" not in staff.get("/admin/sepa?state=settled").text
    detail = staff.get(f"/admin/sepa/{batch_id}")
    assert detail.status_code == 200 and f"/admin/sepa/{batch_id}/xml" in detail.text
    xml = staff.get(f"/admin/sepa/{batch_id}/xml")
    assert xml.status_code == 200 and xml.text == "<Document/>"
    assert xml.headers["content-type"].startswith("application/xml")


def test_regression_account_page_renders_its_entries(
    portal_app: Any, user_with_password: Make, database: Database, offers: Any
) -> None:
    """The account page read ``created_at`` of ledger entries, which have ``at``: once
    an account had an entry its page failed (500). Now the entry is listed with its
    date (its description in French on a French page, issue 12)."""
    client_id, contract_id = _isstar(database, offers, topup="120.00")
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    page = _signed(portal_app, email).get(f"/contracts/{contract_id}/account")
    assert page.status_code == 200 and "virement bancaire" in page.text and "120,00" in page.text


def test_001_s3_3_staff_give_and_close_a_formal_notice(
    portal_app: Any, database: Database, offers: Any
) -> None:
    """001 §3.3: staff put the client on notice for a breach from the contract's page
    (the reason is required, said next to its field); the open notice is listed with
    the day the contract becomes terminable, and closed once remedied."""
    from nuages.accounts import service as accounts
    from nuages.contracts.models import ContractFormalNotice

    billing = Billing(database, offers)
    client_id = billing.client("Manquement SARL")
    contract_id = billing.contract("cloudbizz", client_id, utc_now() - dt.timedelta(days=3))
    with database.unit() as session:
        accounts.create_admin(session, "staff-formal@example.com", PASSWORD, with_token=False)
    staff = _signed(portal_app, "staff-formal@example.com")
    page = f"/admin/contracts/{contract_id}"
    action = f"{page}/formal-notices"
    empty = staff.submit(page, action, ground="client_breach", reason="")
    assert empty.status_code == 422 and 'id="e-reason"' in empty.text
    given = staff.submit(page, action, ground="client_breach", reason="Relais de courrier <ouvert>")
    assert given.status_code == 200 and "Mises en demeure en cours" in given.text
    assert "Relais de courrier &lt;ouvert&gt;" in given.text
    with database.unit() as session:
        row = session.execute(select(ContractFormalNotice)).scalar_one()
        assert row.closed_at is None and row.terminable_from > row.given_at
    closed = staff.submit(page, f"{action}/{row.id}/close", reason="remédié")
    assert closed.status_code == 200 and "Aucune mise en demeure en cours." in closed.text

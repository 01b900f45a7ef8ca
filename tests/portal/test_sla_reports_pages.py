"""SLA monthly reports in the portal (issue 12): the back-office's list per contract
and month with credits, the contract's SLA page listing its issued months; and the
lists paged (staff SLA page, client extensions, prepaid SEPA files): page 2 shows the
older rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role
from nuages.history.service import Actor
from nuages.kernel.clock import frozen_at
from nuages.payments.models import DirectDebitBatch
from nuages.sla import outages, reports
from nuages.sla.schemas import IncidentCreate
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401
from tests.portal.conftest import signed_in
from tests.sla.test_reports import _down
from tests.sla.world import running_vm

PARIS = ZoneInfo("Europe/Paris")
Make = Callable[..., Any]


def _issued_november(cw: ComputeWorld, client_id: str) -> str:
    """A contract whose November 2026 report is issued with a 60-minute outage."""
    contract_id = cw.contract(client_id, "axantis-cloud-vm-avance")
    vm = running_vm(cw, contract_id, flavour="avance-2-4",
                    since=dt.datetime(2026, 10, 1, tzinfo=PARIS))  # fmt: skip
    _down(cw, vm, dt.datetime(2026, 11, 3, 9, tzinfo=PARIS).astimezone(dt.UTC), 60)
    with frozen_at(dt.datetime(2026, 12, 2, 6, tzinfo=dt.UTC)), cw.database.unit() as session:
        reports.issue_month(session, Actor.system("test"), cw.offers, 2026, 11,
                            contract_ids=[contract_id])  # fmt: skip
    return contract_id


def test_002_s6_staff_list_monthly_reports_and_the_client_sees_its_months(
    cw: ComputeWorld, browser: Make, user_with_password: Make
) -> None:
    """002 §6: the issued November report (99.5 %, its credit) is listed for staff, per
    contract and month; a month filter without it shows none, a bad month says so; the
    contract's SLA page lists the issued month with a link to it; clients get 404."""
    client_id = cw.world.client("Reports SA")
    contract_id = _issued_november(cw, client_id)
    _admin, admin_email = user_with_password(Role.PROVIDER_ADMIN, None)
    _owner, owner_email = user_with_password(Role.CLIENT_OWNER, client_id)
    with frozen_at(dt.datetime(2026, 12, 2, 8, tzinfo=dt.UTC)):
        staff = signed_in(browser, admin_email)
        listing = staff.get("/admin/sla/reports")
        assert listing.status_code == 200, listing.text[:400]
        text = unescape(listing.text)
        assert contract_id in text and "2026-11" in text and "99.5" in text
        assert "4,50" in text  # the credit, in French
        october = unescape(staff.get("/admin/sla/reports?month=2026-10").text)
        assert contract_id not in october and "Aucun rapport émis." in october
        bad = unescape(staff.get("/admin/sla/reports?month=2026-13").text)
        assert "Mois attendu au format AAAA-MM." in bad
        assert "/admin/sla/reports" in staff.get("/admin/sla").text
        owner = signed_in(browser, owner_email)
        assert owner.get("/admin/sla/reports").status_code == 404
        page = unescape(owner.get(f"/contracts/{contract_id}/sla?month=2026-11").text)
        assert "Rapports mensuels émis" in page
        assert f"/contracts/{contract_id}/sla?month=2026-11" in page


def test_staff_sla_page_2_shows_the_older_outages(
    cw: ComputeWorld, browser: Make, user_with_password: Make
) -> None:
    """The outages list is paged (50 by default): one a page, page 2 has the older."""
    staff_principal = Principal.staff("test")
    contract_id = cw.contract(cw.world.client("Paged SA"), "axantis-cloud-vm-avance")
    running_vm(cw, contract_id, flavour="avance-2-4",
               since=dt.datetime(2026, 10, 1, tzinfo=PARIS))  # fmt: skip
    with frozen_at(dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)), cw.database.unit() as s:
        for day, cause in ((3, "not-excusable"), (10, "not-excusable")):
            outages.declare(s, staff_principal, cw.offers, IncidentCreate(
                scope="platform", start=dt.datetime(2026, 11, day, 9, tzinfo=dt.UTC),
                end=dt.datetime(2026, 11, day, 9, 40, tzinfo=dt.UTC), cause=cause,
                description=f"panne du {day}",
            ))  # fmt: skip
    _admin, admin_email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, admin_email)
    first = unescape(staff.get("/admin/sla?per_page=1").text)
    second = unescape(staff.get("/admin/sla?page=2&per_page=1").text)
    assert "10 nov. 2026" in first and "3 nov. 2026" not in first
    assert "3 nov. 2026" in second and "10 nov. 2026" not in second
    assert 'href="/admin/sla?page=2&per_page=1"' in staff.get("/admin/sla?per_page=1").text


def test_prepaid_sepa_files_page_2_shows_the_older_file(
    cw: ComputeWorld, browser: Make, user_with_password: Make
) -> None:
    """Prepaid pain.008 files, 20 a page (``files_page``), apart from the invoices'
    batches' own pager."""
    with cw.database.unit() as session:
        for n, day in ((1, 1), (2, 2)):
            session.add(DirectDebitBatch(
                id=f"NUAGES-PREPAID-{n:04d}", message_id=f"NUAGES-PREPAID-{n:04d}",
                kind="topup", created_at=dt.datetime(2026, 11, day, tzinfo=dt.UTC),
                collection_date=dt.date(2026, 11, day + 5), count=0, total_cents=0,
                xml="<Document/>",
            ))  # fmt: skip
    _admin, admin_email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, admin_email)
    first = staff.get("/admin/sepa?files_per_page=1").text
    second = staff.get("/admin/sepa?files_page=2&files_per_page=1").text
    assert "NUAGES-PREPAID-0002" in first and "NUAGES-PREPAID-0001" not in first
    assert "NUAGES-PREPAID-0001" in second and "NUAGES-PREPAID-0002" not in second
    assert "files_page=2" in first


def test_client_extensions_page_2_shows_the_older_extension(
    portal_app: Any, user_with_password: Make, database: Any, offers: Any
) -> None:
    """The contract's extensions, newest first, 50 a page: page 2 has the older one."""
    from nuages.kernel.clock import utc_now
    from nuages.portal import i18n
    from tests.portal.test_contract_pages import _isstar, _signed

    client_id, contract_id = _isstar(database, offers)
    _owner, owner_email = user_with_password(Role.CLIENT_OWNER, client_id)
    owner = _signed(portal_app, owner_email)
    page = f"/contracts/{contract_id}/extensions"
    start = utc_now() + dt.timedelta(hours=2)

    def typed(moment: dt.datetime) -> str:
        return moment.astimezone(i18n.ZONE).strftime("%Y-%m-%dT%H:%M")

    for reason in ("older-one", "newer-one"):
        with frozen_at(utc_now() + dt.timedelta(seconds=1 if reason == "newer-one" else 0)):
            end = typed(start + dt.timedelta(days=1))
            done = owner.submit(page, page, item_id="vm-s", quantity="1", reason=reason,
                                starts_at=typed(start), ends_at=end)  # fmt: skip
        assert done.status_code == 200, done.text[:300]
    first = owner.get(f"{page}?per_page=1").text
    second = owner.get(f"{page}?page=2&per_page=1").text
    assert "newer-one" in first and "older-one" not in first
    assert "older-one" in second and "newer-one" not in second
    assert f'href="{page}?page=2&per_page=1"' in first

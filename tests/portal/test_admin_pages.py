"""The back-office (issue #12 §3): every staff page renders, client users are told it
does not exist, staff confirm an invoiced order, run invoicing (dry run first, then
once), place and lift a hold, and record the transfer that forms a prepaid contract."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role
from nuages.compute.models import Host, HostSite
from nuages.contracts import schemas as contract_schemas
from nuages.contracts import service as contracts
from nuages.contracts.models import Contract
from nuages.invoicing import lines
from nuages.invoicing import schemas as invoicing_schemas
from nuages.invoicing.models import Invoice
from nuages.kernel.clock import set_now, utc_now
from nuages.kernel.db import Database
from tests.compute.world import host_xml
from tests.factories import World
from tests.portal.conftest import signed_in
from tests.portal.harness import forms_of

Make = Callable[..., Any]
STAFF = Principal.staff("test")
PAGES = [
    "/admin",
    "/admin/clients",
    "/admin/contracts",
    "/admin/contracts?state=pending",
    "/admin/hosts",
    "/admin/images",
    "/admin/ip-pools",
    "/admin/invoicing",
    "/admin/dunning",
    "/admin/payments",
    "/admin/sepa",
    "/admin/statements",
    "/admin/disputes",
    "/admin/rates",
    "/admin/notices",
    "/admin/notices?state=failed",
    "/vms",
    "/history",
]


def _order(database: Database, offers: Any, client_id: str, offer_id: str) -> str:
    with database.unit() as session:
        return contracts.create_contract(
            session,
            STAFF,
            offers,
            contract_schemas.ContractCreate(
                offer_id=offer_id, client_id=client_id, accept_terms=True
            ),
        ).id


def test_every_staff_page_renders_and_clients_get_404(
    browser: Make, user_with_password: Make, world: World, database: Database, offers: Any
) -> None:
    client_id = world.client("<b>Bold</b> SA")
    contract_id = _order(database, offers, client_id, "isstar-cloud")
    _admin, email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, email)
    assert staff.get("/").url.path == "/admin"
    for lang in ("fr", "en"):
        staff.http.cookies.set("nuages_lang", lang)
        for path in [*PAGES, f"/admin/clients/{client_id}", f"/admin/contracts/{contract_id}"]:
            answer = staff.get(path)
            assert answer.status_code == 200, (path, answer.text[:300])
            assert "<b>Bold</b>" not in answer.text
    _owner, owner_email = user_with_password(Role.CLIENT_OWNER, client_id)
    owner = signed_in(browser, owner_email)
    for path in (*PAGES[:4], f"/admin/contracts/{contract_id}"):
        assert owner.get(path).status_code == 404, path


def test_staff_confirm_an_order_and_run_invoicing_dry_first(
    browser: Make, user_with_password: Make, world: World, database: Database, offers: Any
) -> None:
    """001 §2.5: the cloudbizz order is final when the provider confirms it; the dry run
    writes nothing, the real run issues the month's invoice once however often sent."""
    client_id = world.client()
    contract_id = _order(database, offers, client_id, "cloudbizz")
    _admin, email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, email)
    confirmed = staff.submit(
        "/admin/contracts?state=pending", f"/admin/contracts/{contract_id}/confirm"
    )
    assert confirmed.status_code == 200
    with database.unit() as session:
        assert session.get(Contract, contract_id).state == "active"  # type: ignore[union-attr]
        lines.add_line(
            session,
            STAFF,
            offers,
            contract_id,
            invoicing_schemas.LineCreate(item_id="server-m", since=utc_now().date()),
        )
    set_now(utc_now() + dt.timedelta(days=40))  # a month later: the first one is due
    staff = signed_in(browser, email)
    dry = staff.submit("/admin/invoicing", "/admin/invoicing", dry_run="yes")
    assert dry.status_code == 200 and contract_id in dry.text
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(Invoice)).scalar_one() == 0
    real_form = next(f for f in forms_of(dry.text) if f.action == "/admin/invoicing")
    assert "dry_run" not in real_form.fields
    first = staff.post("/admin/invoicing", real_form.fields)
    assert first.status_code == 200 and "Factures émises" in first.text
    with database.unit() as session:
        issued = session.execute(select(func.count()).select_from(Invoice)).scalar_one()
    assert issued >= 1
    again = staff.post("/admin/invoicing", real_form.fields)
    assert "déjà été envoyé" in again.text.replace("&#39;", "'")
    with database.unit() as session:
        assert session.execute(select(func.count()).select_from(Invoice)).scalar_one() == issued


def test_staff_place_and_lift_a_hold_and_record_the_forming_transfer(
    browser: Make, user_with_password: Make, world: World, database: Database, offers: Any
) -> None:
    """000 §3.1: the transfer of the minimum amount forms the prepaid contract; 004 §7:
    a hold names its ground and reason, and is lifted with one."""
    client_id = world.client()
    contract_id = _order(database, offers, client_id, "isstar-cloud")
    _admin, email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, email)
    page = f"/admin/contracts/{contract_id}"
    bad = staff.submit(page, f"{page}/transfer", amount="abc", reference="BANK-9")
    assert bad.status_code == 422 and 'id="e-amount"' in bad.text
    staff.submit(page, f"{page}/transfer", amount="100.00", reference="BANK-9")
    with database.unit() as session:
        assert session.get(Contract, contract_id).state == "active"  # type: ignore[union-attr]
    held = staff.submit(page, f"{page}/holds", ground="staff-decision", reason="abuse report 42")
    assert held.status_code == 200 and "abuse report 42" in held.text, held.text[:2000]
    with database.unit() as session:
        assert session.get(Contract, contract_id).state == "suspended"  # type: ignore[union-attr]
    form = next(f for f in forms_of(held.text) if f.action.endswith("/lift"))
    staff.post(form.action, {**form.fields, "reason": "remedied"})
    with database.unit() as session:
        assert session.get(Contract, contract_id).state == "active"  # type: ignore[union-attr]
    junk = staff.http.post(
        "/admin/statements",
        data={"_csrf": form.fields["_csrf"]},
        files={"statement": ("s.xml", b"<not camt", "text/xml")},
    )
    assert junk.status_code == 422 and 'id="e-statement"' in junk.text


def test_staff_refresh_a_hosts_size_from_the_hosts_page(
    browser: Make, user_with_password: Make, database: Database, tmp_path: Path
) -> None:
    """The hosts page's "Relire la taille" button reads the host's size again from
    libvirt (a test-driver machine of 4 CPUs and 8 GiB recorded as 2 and 2 GiB, as a
    host added before the driver counted all its memory) and the page shows it."""
    xml = host_xml(tmp_path / "h.xml", cpus=4, ram_mib=8192)
    with database.unit() as session:
        host = Host(
            name="hv1", uri=f"test://{xml}", vcpus=2, ram_mib=2048, disk_gib=10,
            cpu_ratio=Decimal(1), ram_ratio=Decimal(1), disk_ratio=Decimal(1), accel="tcg",
            sites=[HostSite(site="waterloo-1", country="BE")],
        )  # fmt: skip
        session.add(host)
        session.flush()
        host_id = host.id
    _admin, email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, email)
    action = f"/admin/hosts/{host_id}/refresh"
    assert any(f.action == action for f in forms_of(staff.get("/admin/hosts").text))
    done = staff.submit("/admin/hosts", action)
    assert done.status_code == 200 and ">8192<" in done.text.replace(" ", ""), done.text[:2000]
    with database.unit() as session:
        row = session.get(Host, host_id)
        assert row is not None and (row.vcpus, row.ram_mib) == (4, 8192)

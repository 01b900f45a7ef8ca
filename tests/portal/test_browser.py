"""The portal in a real browser (issue #12 §5): Debian's chromium driven by Playwright,
against a real ``nuages up`` process (uvicorn, worker, scheduler) on SQLite and libvirt's
test driver. One server and one browser for the module.

Scenarios: a client signs in, orders isstar-cloud, the transfer of its minimum amount is
recorded, it creates a VM and sees it running, downloads a cloudbizz invoice PDF; a
member cannot see billing; staff confirm an order and run invoicing (dry run first);
the dashboard's next invoice, an extension ordered (a refused period said in French
next to its field, then a good one) and the staff's SEPA and extensions pages, with no
CSP violation in the browser's console.
``NUAGES_SCREENSHOTS=docs/screenshots`` keeps screenshots of the main pages there.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from nuages.accounts import service as accounts
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role
from nuages.accounts.security import hash_password
from nuages.billing import schemas as billing_schemas
from nuages.billing import topups
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import hosts, images
from nuages.contracts import schemas as contract_schemas
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import runs
from nuages.kernel import migrate
from nuages.kernel.clock import frozen_at, utc_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from tests.invoicing.factories import Billing

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery staple"
OFFERS = Path(__file__).resolve().parents[2] / "offers"
SELLERS = Path(__file__).resolve().parents[1] / "data" / "sellers"


@dataclass
class Site:
    url: str
    owner: str
    member: str
    staff: str
    pending_id: str
    shots: Path
    isstar_id: str = ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _user(database: Database, email: str, role: Role, client_id: str | None) -> None:
    from nuages.accounts.models import User

    with database.unit() as session:
        session.add(User(email=email, name=email, role=role.value, client_id=client_id,
                         password_hash=hash_password(PASSWORD)))  # fmt: skip


def _prepare(data_dir: Path) -> tuple[str, str, str, str, str, str]:
    """A database with a test-driver host, an image, a client (owner, member) holding an
    issued cloudbizz invoice, another client's pending cloudbizz order, and staff."""
    url = f"sqlite:///{data_dir / 'nuages.db'}"
    migrate.upgrade(url)
    database = Database(url)
    offers = OfferRegistry.from_directory(OFFERS)
    settings = Settings(data_dir=data_dir, database_url=url, libvirt_uri="test:///default")
    staff = Principal.staff("test")
    runtime = ComputeRuntime(settings, database=database)
    try:
        facts = hosts.inspect(runtime, "test:///default", probe=False)
        sites = list(hosts.offer_sites(offers).items())
        base = data_dir / "base.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "1G"], check=True)
        with database.unit() as session:
            hosts.register(
                session,
                staff,
                runtime,
                uri="test:///default",
                site=sites[0][0],
                country=sites[0][1],
                facts=facts,
                more_sites=sites[1:],
            )
            images.register_image(session, staff, name="debian-tiny", os="linux",
                                  boot_mode="disk", base=base)  # fmt: skip
    finally:
        runtime.close()
    with database.unit() as session:
        accounts.create_admin(session, "staff@example.com", PASSWORD, with_token=False)
    billing = Billing(database, offers)
    client_id = billing.client("Dupont & Fils SA")
    _user(database, "owner@example.com", Role.CLIENT_OWNER, client_id)
    _user(database, "member@example.com", Role.CLIENT_MEMBER, client_id)
    start = (utc_now() - dt.timedelta(days=40)).replace(hour=12, minute=0, second=0, microsecond=0)
    contract_id = billing.contract("cloudbizz", client_id, start)
    billing.line(contract_id, "server-m", start.date())
    with frozen_at(start + dt.timedelta(hours=1)):
        report = runs.run(database, Actor.system("test"), offers, start.date(),
                          contract_ids=[contract_id], settings=settings)  # fmt: skip
    assert report.issued, report.problems
    # A formed isstar-cloud contract of the same client, funded (extensions, 000 §8).
    isstar = billing.contract("isstar-cloud", client_id, utc_now() - dt.timedelta(hours=2))
    with database.unit() as session:
        topups.record_transfer(session, staff, offers, isstar,
                               billing_schemas.TransferCreate(amount=Decimal("300.00"),
                                                              reference="BANK-ISSTAR"))  # fmt: skip
    other = billing.client("Autre SPRL", country="BE")
    with database.unit() as session:
        pending = contracts.create_contract(
            session, staff, offers,
            contract_schemas.ContractCreate(offer_id="cloudbizz", client_id=other,
                                            accept_terms=True),
        ).id  # fmt: skip
    database.dispose()
    return "owner@example.com", "member@example.com", "staff@example.com", pending, url, isstar


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    data_dir = tmp_path_factory.mktemp("browser-site")
    owner, member, staff, pending, url, isstar = _prepare(data_dir)
    port = _free_port()
    env = os.environ | {
        "NUAGES_DATA_DIR": str(data_dir),
        "NUAGES_DATABASE_URL": url,
        "NUAGES_API_PORT": str(port),
        "NUAGES_LIBVIRT_URI": "test:///default",
        "NUAGES_SELLERS_DIR": str(SELLERS),
        "NUAGES_OFFERS_DIR": str(OFFERS),
    }
    env.pop("NUAGES_REDIS_URL", None)
    log = (data_dir / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "nuages", "up"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise AssertionError((data_dir / "server.log").read_text())
    shots = Path(os.environ.get("NUAGES_SCREENSHOTS") or data_dir / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield Site(base, owner, member, staff, pending, shots, isstar)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def chromium(site: Site) -> Iterator[object]:
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


def _sign_in(chromium: object, site: Site, email: str) -> object:
    context = chromium.new_context(viewport={"width": 1000, "height": 720}, accept_downloads=True)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{site.url}/signin")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    return page


def _shot(page: object, site: Site, name: str) -> None:
    page.screenshot(path=str(site.shots / f"{name}.png"))  # type: ignore[attr-defined]


def test_client_orders_isstar_tops_up_creates_a_vm_and_downloads_an_invoice(
    site: Site, chromium: object
) -> None:
    page: object = _sign_in(chromium, site, site.owner)
    p = page  # typed loosely: Playwright's Page
    assert p.url.rstrip("/") == site.url  # type: ignore[attr-defined]
    _shot(p, site, "dashboard")
    p.goto(f"{site.url}/offers/isstar-cloud")  # type: ignore[attr-defined]
    _shot(p, site, "offer")
    p.get_by_label(re.compile("J'accepte les conditions")).check()  # type: ignore[attr-defined]
    p.get_by_role("button", name="Commander").click()  # type: ignore[attr-defined]
    p.wait_for_url(re.compile(r"/contracts/[0-9a-f-]+"))  # type: ignore[attr-defined]
    contract_id = p.url.rsplit("/", 1)[1].split("?")[0]  # type: ignore[attr-defined]
    p.goto(f"{site.url}/contracts/{contract_id}/account")  # type: ignore[attr-defined]
    reference = p.locator("code").first.inner_text()  # type: ignore[attr-defined]
    assert reference.startswith("RF")
    # The bank transfer arrives; staff record it in the back-office.
    staff: object = _sign_in(chromium, site, site.staff)
    staff.goto(f"{site.url}/admin/contracts/{contract_id}")  # type: ignore[attr-defined]
    staff.get_by_label("Montant", exact=True).fill("100.00")  # type: ignore[attr-defined]
    staff.get_by_label("Référence bancaire du crédit").fill("BANK-0001")  # type: ignore[attr-defined]
    staff.get_by_role("button", name="Créditer", exact=True).click()  # type: ignore[attr-defined]
    staff.wait_for_load_state()  # type: ignore[attr-defined]
    p.goto(site.url + "/")  # type: ignore[attr-defined]
    assert "100,00" in p.content()  # type: ignore[attr-defined]
    p.goto(f"{site.url}/vms/new")  # type: ignore[attr-defined]
    p.get_by_label("Contrat").select_option(contract_id)  # type: ignore[attr-defined]
    p.get_by_label("Gabarit").select_option("vm-s")  # type: ignore[attr-defined]
    p.get_by_label("Nom", exact=True).fill("web-1")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Créer").click()  # type: ignore[attr-defined]
    p.wait_for_url(re.compile(r"/vms/[0-9a-f-]+"))  # type: ignore[attr-defined]
    # htmx polls the status block until the operation is over.
    p.locator("#vm-status .state-running").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    _shot(p, site, "vm")
    p.goto(f"{site.url}/invoices")  # type: ignore[attr-defined]
    _shot(p, site, "invoices")
    with p.expect_download() as info:  # type: ignore[attr-defined]
        p.get_by_role("link", name=re.compile("Télécharger")).first.click()  # type: ignore[attr-defined]
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")


def test_member_cannot_see_billing(site: Site, chromium: object) -> None:
    page: object = _sign_in(chromium, site, site.member)
    nav = page.get_by_role("navigation", name="Menu principal")  # type: ignore[attr-defined]
    assert nav.get_by_role("link", name="Factures").count() == 0
    assert "Solde" not in page.content()  # type: ignore[attr-defined]
    answer = page.goto(f"{site.url}/invoices")  # type: ignore[attr-defined]
    assert answer.status == 404


def test_staff_confirm_an_order_and_run_invoicing(site: Site, chromium: object) -> None:
    page: object = _sign_in(chromium, site, site.staff)
    _shot(page, site, "admin")
    page.goto(f"{site.url}/admin/contracts?state=pending")  # type: ignore[attr-defined]
    row = page.locator(
        "tr", has=page.locator(f"form[action='/admin/contracts/{site.pending_id}/confirm']")
    )  # type: ignore[attr-defined]
    row.get_by_role("button", name="Confirmer la commande").click()
    page.wait_for_load_state()  # type: ignore[attr-defined]
    page.goto(f"{site.url}/admin/contracts?state=active")  # type: ignore[attr-defined]
    assert site.pending_id in page.content()  # type: ignore[attr-defined]
    page.goto(f"{site.url}/admin/invoicing")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Simuler").click()  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    assert "Factures qui seraient émises" in page.content()  # type: ignore[attr-defined]
    _shot(page, site, "admin-invoicing")
    page.get_by_role("button", name="Émettre pour de bon").click()  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    assert "Factures émises" in page.content()  # type: ignore[attr-defined]


def test_dashboard_next_invoice_extension_order_and_staff_lists(
    site: Site, chromium: object
) -> None:
    page: object = _sign_in(chromium, site, site.owner)
    p = page  # typed loosely: Playwright's Page
    violations: list[str] = []
    p.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )  # type: ignore[attr-defined]
    assert "Prochaine facture le" in p.content()  # type: ignore[attr-defined]
    assert "300,00" in p.content()  # type: ignore[attr-defined]
    p.goto(f"{site.url}/contracts/{site.isstar_id}/extensions")  # type: ignore[attr-defined]
    start = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)

    def typed(moment: dt.datetime) -> str:
        return moment.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m-%dT%H:%M")

    p.get_by_label("Gabarit ou option").select_option("vm-s")  # type: ignore[attr-defined]
    p.get_by_label("Début (heure de Paris)").fill(typed(start))  # type: ignore[attr-defined]
    p.get_by_label("Fin (heure de Paris)").fill(typed(start - dt.timedelta(hours=1)))  # type: ignore[attr-defined]
    p.get_by_role("button", name="Commander l'extension").click()  # type: ignore[attr-defined]
    p.wait_for_load_state()  # type: ignore[attr-defined]
    assert "la fin doit venir après le début" in p.content().lower()  # type: ignore[attr-defined]
    p.get_by_label("Fin (heure de Paris)").fill(typed(start + dt.timedelta(hours=5)))  # type: ignore[attr-defined]
    p.get_by_role("button", name="Commander l'extension").click()  # type: ignore[attr-defined]
    p.wait_for_load_state()  # type: ignore[attr-defined]
    assert "Extension commandée et autorisée" in p.content()  # type: ignore[attr-defined]
    _shot(p, site, "extensions")
    staff: object = _sign_in(chromium, site, site.staff)
    staff.goto(f"{site.url}/admin/sepa")  # type: ignore[attr-defined]
    assert "Lots des factures" in staff.content()  # type: ignore[attr-defined]
    staff.goto(f"{site.url}/admin/extensions?state=approved")  # type: ignore[attr-defined]
    assert site.isstar_id in staff.content()  # type: ignore[attr-defined]
    assert not violations, violations

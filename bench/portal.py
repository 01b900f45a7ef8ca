"""Benchmark: the portal's VM list page and dashboard for a client with 1,000 VMs, next
to the JSON API list of the same VMs, in the same run (issue #12).

A fresh SQLite database (migrated) gets one client, its owner (signed in through the
portal, and holding an API token), an active isstar-cloud contract and 1,000 VM rows.
Each request goes through the whole app in process (ASGI, middleware, the session or
bearer check, the service, the template or the JSON encoder): what the server spends
per request. Prints p50/p95 of each and the page/API ratios. Goal: p95 < 100 ms and at
most 2x the API.

    .venv/bin/python bench/portal.py [--vms 1000] [--repeat 200] [--per-page 50]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from nuages.accounts import service as accounts
from nuages.accounts.models import Client, User
from nuages.accounts.principal import Principal
from nuages.accounts.roles import ROLE_SCOPES, Role
from nuages.accounts.security import hash_password
from nuages.app import create_app
from nuages.compute.models import Image, Vm
from nuages.contracts import schemas as contract_schemas
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history.service import Actor
from nuages.kernel import migrate
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway bench login


def populate(database: Database, offers: OfferRegistry, count: int) -> str:
    """A client, its owner, an active contract and ``count`` VMs; the owner's token."""
    with database.unit() as session:
        client = Client(kind="business", legal_name="Bench SA", country="FR",
                        billing_email="bench@example.com", address_line1="1 rue",
                        postcode="75001", city="Paris")  # fmt: skip
        session.add(client)
        session.flush()
        owner = User(email="owner@example.com", name="o", role=Role.CLIENT_OWNER.value,
                     client_id=client.id, password_hash=hash_password(PASSWORD))  # fmt: skip
        session.add(owner)
        image = Image(name="bench", os="linux", boot_mode="disk", base_path="/nonexistent",
                      min_disk_gib=1, size_bytes=1)  # fmt: skip
        session.add(image)
        session.flush()
        contract = contracts.create_contract(
            session, Principal.staff("bench"), offers,
            contract_schemas.ContractCreate(offer_id="isstar-cloud", client_id=client.id,
                                            accept_terms=True),
        )  # fmt: skip
        contracts.transition(session, contract, ContractState.ACTIVE, Actor.system("bench"), "x")
        now = utc_now()
        session.add_all(
            Vm(id=str(uuid.uuid4()), client_id=client.id, contract_id=contract.id,
               name=f"vm-{n:04d}", flavour_id="vm-s", image_id=image.id, vcpus=1,
               ram_mib=1024, disk_gib=20, vm_state="running", power_state="running",
               created_at=now, activated_at=now, ip_address=f"10.0.{n // 250}.{n % 250 + 1}")
            for n in range(count)
        )  # fmt: skip
        _token, clear = accounts.issue_token(
            session, owner, ROLE_SCOPES[Role.CLIENT_OWNER], 30, "bench"
        )
    return clear


def timed(http: TestClient, path: str, repeat: int, **kwargs: object) -> list[float]:
    """Milliseconds per request, after a few warm-up requests."""
    for _ in range(5):
        assert http.get(path, **kwargs).status_code == 200, path  # type: ignore[arg-type]
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = http.get(path, **kwargs)  # type: ignore[arg-type]
        out.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--per-page", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nuages-bench-portal-") as tmp:
        url = f"sqlite:///{tmp}/nuages.db"
        migrate.upgrade(url)
        database = Database(url)
        offers = OfferRegistry.from_directory(ROOT / "offers")
        token = populate(database, offers, args.vms)
        app = create_app(Settings(data_dir=Path(tmp), database_url=url), database, offers)
        with TestClient(app) as http:
            page = http.get("/signin")
            csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text)
            assert csrf is not None
            signed = http.post("/signin", data={"_csrf": csrf.group(1),
                                                "email": "owner@example.com",
                                                "password": PASSWORD})  # fmt: skip
            assert signed.url.path == "/", signed.text[:300]
            per = args.per_page
            shown = http.get(f"/vms?per_page={per}", follow_redirects=False)
            assert shown.status_code == 200 and shown.text.count('href="/vms/') >= per
            assert http.get("/", follow_redirects=False).text.count('href="/vms/') >= 10
            results = {
                f"portal GET /vms?per_page={per}": timed(http, f"/vms?per_page={per}", args.repeat),
                "portal GET / (dashboard)": timed(http, "/", args.repeat),
                f"API GET /api/v1/vms?per_page={per}": timed(
                    http.__class__(app), f"/api/v1/vms?per_page={per}", args.repeat,
                    headers={"Authorization": f"Bearer {token}"},
                ),
            }  # fmt: skip
        database.dispose()
    api = results[f"API GET /api/v1/vms?per_page={args.per_page}"]
    print(f"{args.vms} VMs, {args.repeat} requests each, {args.per_page} per page")
    print(f"{'':44} {'p50 ms':>8} {'p95 ms':>8} {'p95/API':>8}")
    for name, values in results.items():
        print(f"{name:44} {statistics.median(values):8.1f} {p95(values):8.1f} "
              f"{p95(values) / p95(api):8.2f}")  # fmt: skip
    worst = max(p95(v) for v in results.values())
    ratio = max(p95(v) / p95(api) for v in results.values())
    print(f"goal: p95 < 100 ms ({'met' if worst < 100 else 'MISSED'}), "
          f"at most 2x the API ({'met' if ratio <= 2 else 'MISSED'}: {ratio:.2f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Issue #9.6: clients have a postal address, its postcode checked for the country
(FR and BE by their national formats, a generic rule elsewhere), through the API and
the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.models import Client
from nuages.accounts.validators import check_postcode
from nuages.kernel.db import Database
from tests.factories import World

BODY = {
    "kind": "business",
    "legal_name": "Bureau Dupont SRL",
    "country": "BE",
    "vat_number": "BE0403170701",
    "billing_email": "compta@dupont.be",
    "address": {"line1": "Rue Haute 12", "postcode": "1000", "city": "Bruxelles"},
}


def _clients(database: Database) -> int:
    with database.unit() as session:
        return int(session.execute(select(func.count()).select_from(Client)).scalar_one())


def test_regression_clients_have_no_address(client: TestClient, world: World) -> None:
    """A client is created with its postal address and shows it; without one, or with
    a postcode that is not one of its country, the answer is a 422 naming the field and
    nothing is written; PATCH replaces the address, the postcode checked again."""
    admin = world.admin()
    r = client.post("/api/v1/clients", json=BODY, headers=admin.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["address"] == {
        "line1": "Rue Haute 12",
        "line2": "",
        "postcode": "1000",
        "city": "Bruxelles",
        "region": "",
    }
    no_address = {k: v for k, v in BODY.items() if k != "address"}
    r = client.post("/api/v1/clients", json=no_address, headers=admin.headers)
    assert r.status_code == 422 and r.json()["detail"].startswith("body.address")
    for bad in ("100", "0999", "75002"):
        wrong = BODY | {"address": {**BODY["address"], "postcode": bad}}
        r = client.post("/api/v1/clients", json=wrong, headers=admin.headers)
        assert r.status_code == 422, r.text
        assert "body.address" in r.json()["detail"] and "not a postcode of BE" in r.text
    french = BODY | {
        "country": "FR",
        "vat_number": None,
        "address": {"line1": "1 rue X", "postcode": "1000", "city": "Paris"},
    }
    r = client.post("/api/v1/clients", json=french, headers=admin.headers)
    assert r.status_code == 422 and "not a postcode of FR" in r.text
    assert _clients(world.database) == 1

    moved = {"address": {"line1": "Avenue Louise 54", "line2": "Boîte 3", "postcode": "1050",
                         "city": "Ixelles", "region": "Bruxelles-Capitale"}}  # fmt: skip
    r = client.patch(f"/api/v1/clients/{created['id']}", json=moved, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["address"] == moved["address"]
    r = client.patch(
        f"/api/v1/clients/{created['id']}",
        json={"address": {**moved["address"], "postcode": "75002"}},
        headers=admin.headers,
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("address.postcode")
    r = client.get(f"/api/v1/clients/{created['id']}", headers=admin.headers)
    assert r.json()["address"]["postcode"] == "1050"


@pytest.mark.parametrize(
    ("country", "text", "expected"),
    [
        ("FR", "75002", "75002"),
        ("FR", "20000", "20000"),  # Ajaccio: Corsica keeps 20
        ("FR", "97400", "97400"),  # La Réunion
        ("FR", "00100", None),
        ("FR", "96000", None),
        ("FR", "7500", None),
        ("BE", "1000", "1000"),
        ("BE", "9999", "9999"),
        ("BE", "0999", None),
        ("BE", "10000", None),
        ("NL", "1012ab", "1012 AB"),
        ("DE", "10115", "10115"),
        ("GB", "sw1a 1aa", "SW1A 1AA"),
        ("JP", "100-0001", "100-0001"),  # generic rule
        ("JP", "", None),  # generic rule: a postcode is needed
        ("JP", "1000!", None),
        ("HK", "", ""),  # no postcodes there
    ],
)
def test_postcodes_checked_per_country(country: str, text: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="postcode"):
            check_postcode(country, text)
    else:
        assert check_postcode(country, text) == expected


def test_nuages_client_create_takes_the_address(database: Database) -> None:
    """``nuages client create`` writes the client with its address (exit 0, its id) and
    refuses a bad postcode with one line naming it (exit 2), writing nothing."""
    env = os.environ | {"NUAGES_DATABASE_URL": database.url}
    base = [sys.executable, "-m", "nuages", "client", "create", "--name", "Dupont SRL",
            "--country", "BE", "--email", "c@dupont.be", "--address", "Rue Haute 12",
            "--city", "Bruxelles"]  # fmt: skip
    bad = subprocess.run([*base, "--postcode", "100"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "address: '100' is not a postcode of BE" in bad.stderr
    assert _clients(database) == 0
    good = subprocess.run([*base, "--postcode", "1000"], env=env, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    with database.unit() as session:
        row = session.get(Client, good.stdout.strip())
        assert row is not None
        assert (row.address_line1, row.postcode, row.city, row.country) == (
            "Rue Haute 12",
            "1000",
            "Bruxelles",
            "BE",
        )

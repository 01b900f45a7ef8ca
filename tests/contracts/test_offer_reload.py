"""Editing terms files under a running server (issue 17.3).

The contract records the hash of the bytes the client ordered; the stored version must be
those bytes, so the API and the worker price the contract the same; the catalogue
changes on a file change or on request, atomically, and a malformed edit keeps the
previous offer (000 §4: a running contract keeps the terms it accepted).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.roles import Role
from nuages.app import create_app
from nuages.contracts.models import Contract, OfferVersion
from nuages.contracts.offers import CorruptOfferVersion, OfferRegistry, parse_version
from nuages.history.models import HistoryEntry
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from tests.factories import World

ROOT = Path(__file__).resolve().parents[2]
ORDER = {"offer_id": "cloudbizz", "accept_terms": True}
# 001 (cloudbizz) sells its desktop at 39.00 per user and month; the edit makes it 999.99.
PRICE_LINE = 'price = "39.00"                    # example, per user and month'


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped offers that the test may edit."""
    target = tmp_path / "offers"
    shutil.copytree(ROOT / "offers", target)
    return target


@pytest.fixture
def registry(folder: Path) -> OfferRegistry:
    """The server's registry; it has not looked at the files again yet (long interval)."""
    return OfferRegistry.from_directory(folder, check_interval=3600)


@pytest.fixture
def http(settings: Settings, database: Database, registry: OfferRegistry) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database, registry), raise_server_exceptions=False) as c:
        yield c


def _edit_price(folder: Path) -> bytes:
    path = folder / "cloudbizz.toml"
    text = path.read_text("utf-8")
    assert PRICE_LINE in text
    path.write_text(text.replace(PRICE_LINE, 'price = "999.99"', 1), "utf-8")
    return path.read_bytes()


def _desktop(offer: object) -> Decimal:
    price: Decimal = offer.flavour("desktop-std").price  # type: ignore[attr-defined]
    return price


def test_regression_terms_edited_under_running_server_store_the_parsed_bytes(
    http: TestClient, world: World, registry: OfferRegistry, folder: Path
) -> None:
    """Load, edit the file on disk, order before the server notices: the stored version
    is the bytes parsed (hash = the contract's), and the registry, the API and a worker
    loading the edited directory all price the contract at 39.00, not 999.99."""
    original = (folder / "cloudbizz.toml").read_bytes()
    owner = world.user(Role.CLIENT_OWNER, world.client())
    _edit_price(folder)
    r = http.post("/api/v1/contracts", json=ORDER, headers=owner.headers)
    assert r.status_code == 201, r.text
    contract_id = r.json()["id"]
    worker = OfferRegistry.from_directory(folder)  # a worker process, started after the edit
    assert _desktop(worker.current("cloudbizz")) == Decimal("999.99")
    with world.database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        assert contract.offer_hash == hashlib.sha256(original).hexdigest()
        stored = session.get(OfferVersion, contract.offer_hash)
        assert stored is not None
        assert stored.content.encode("utf-8") == original
        assert hashlib.sha256(stored.content.encode("utf-8")).hexdigest() == contract.offer_hash
        prices = {
            "api registry": _desktop(registry.for_contract(session, contract)),
            "worker": _desktop(worker.for_contract(session, contract)),
            "stored version": _desktop(parse_version(stored.content_hash, stored.content)),
        }
    assert set(prices.values()) == {Decimal("39.00")}, prices


def test_regression_terms_file_change_is_picked_up_atomically(
    http: TestClient, world: World, registry: OfferRegistry, folder: Path
) -> None:
    """On a file change (mtime+size, then hash) the registry reloads: a new order takes
    the new version (999.99, stored as parsed) while the first contract keeps 39.00."""
    owner = world.user(Role.CLIENT_OWNER, world.client())
    first = http.post("/api/v1/contracts", json=ORDER, headers=owner.headers).json()
    edited = _edit_price(folder)
    registry.check_interval = 0
    report = registry.refresh()
    assert report is not None and report.changed == ["cloudbizz"] and not report.problems
    shown = http.get("/api/v1/offers/cloudbizz", headers=owner.headers).json()
    assert shown["content_hash"] == hashlib.sha256(edited).hexdigest()
    assert shown["flavours"][0]["price"] == "999.99"
    second = http.post("/api/v1/contracts", json=ORDER, headers=owner.headers).json()
    assert second["offer_hash"] == shown["content_hash"] != first["offer_hash"]
    with world.database.unit() as session:
        old = session.get(Contract, first["id"])
        new = session.get(Contract, second["id"])
        assert old is not None and new is not None
        assert _desktop(registry.for_contract(session, old)) == Decimal("39.00")
        assert _desktop(registry.for_contract(session, new)) == Decimal("999.99")
        stored = session.get(OfferVersion, new.offer_hash)
        assert stored is not None and stored.content.encode("utf-8") == edited
    # The client of the first contract still reads the terms it accepted.
    url = "/api/v1/offers/cloudbizz"
    old_terms = http.get(url, params={"version": first["offer_hash"]}, headers=owner.headers)
    assert old_terms.status_code == 200, old_terms.text
    assert old_terms.json()["content_hash"] == first["offer_hash"]
    assert old_terms.json()["flavours"][0]["price"] == "39.00"
    unknown = http.get(url, params={"version": "0" * 64}, headers=owner.headers)
    assert unknown.status_code == 404
    assert http.get(url, params={"version": "x"}, headers=owner.headers).status_code == 422


def test_regression_touched_terms_file_is_not_reparsed(
    registry: OfferRegistry, folder: Path
) -> None:
    """A file whose mtime moves but whose bytes do not (a `touch`) is hashed, not parsed
    again: the offer in force stays the same object."""
    before = registry.current("cloudbizz")
    path = folder / "cloudbizz.toml"
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    registry.check_interval = 0
    report = registry.refresh()
    assert report is not None and not (report.changed or report.added or report.problems)
    assert registry.current("cloudbizz") is before


def test_regression_malformed_terms_edit_keeps_previous_catalogue(
    http: TestClient,
    world: World,
    registry: OfferRegistry,
    folder: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A malformed edit is reported (log line without traceback; the staff reload lists
    FILE:LINE) and the previous offer stays in force: orders still take it."""
    before = registry.current("cloudbizz").content_hash
    path = folder / "cloudbizz.toml"
    path.write_text(path.read_text("utf-8").replace('vat_rate = "21"', "vat_rate = = 21"))
    registry.check_interval = 0
    with caplog.at_level(logging.WARNING, logger="nuages.offers"):
        assert registry.current("cloudbizz").content_hash == before
    [record] = [r for r in caplog.records if r.name == "nuages.offers"]
    assert str(path) in record.getMessage() and record.exc_info is None
    admin = world.admin()
    r = http.post("/api/v1/offers/reload", headers=admin.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "cloudbizz" in body["offers"] and body["changed"] == []
    [problem] = body["problems"]
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "= = 21" in t)
    assert (problem["file"], problem["line"], problem["path"]) == (str(path), line, "(syntax)")
    owner = world.user(Role.CLIENT_OWNER, world.client())
    r = http.post("/api/v1/contracts", json=ORDER, headers=owner.headers)
    assert r.status_code == 201 and r.json()["offer_hash"] == before
    with world.database.unit() as session:
        actions = session.scalars(
            select(HistoryEntry.action).where(HistoryEntry.action == "offers.reload")
        ).all()
    assert actions == ["offers.reload"]
    # Only staff reload.
    assert http.post("/api/v1/offers/reload", headers=owner.headers).status_code == 403


def test_regression_malformed_terms_file_does_not_stop_start(
    settings: Settings, database: Database, world: World, folder: Path
) -> None:
    """A file that does not load at start is left out and reported; the app starts with
    the others and a later fix is picked up."""
    broken = folder / "cloudbizz.toml"
    good = broken.read_bytes()
    broken.write_text("schema_version = 1\n[offer\n", "utf-8")
    app = create_app(settings.model_copy(update={"offers_dir": folder}), database)
    loaded: OfferRegistry = app.state.offers
    assert "cloudbizz" not in loaded.offers and len(loaded.offers) == 7
    assert [p.file for p in loaded.problems] == [str(broken)]
    owner = world.user(Role.CLIENT_OWNER, world.client())
    with TestClient(app) as http:
        assert http.get("/api/v1/offers/cloudbizz", headers=owner.headers).status_code == 404
        broken.write_bytes(good)
        assert loaded.reload().added == ["cloudbizz"]
        assert http.get("/api/v1/offers/cloudbizz", headers=owner.headers).status_code == 200


def _nuages(
    *args: str, cwd: Path, offers: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """The installed ``nuages`` script over a SQLite file, offers from ``offers``."""
    env = {
        **os.environ,
        **(env or {}),
        "NUAGES_OFFERS_DIR": str(offers),
        "NUAGES_DATA_DIR": str(cwd / "data"),
        "NUAGES_DATABASE_URL": f"sqlite:///{cwd / 'nuages.db'}",
    }
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "nuages"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_regression_malformed_terms_file_does_not_stop_cli_subprocess(
    tmp_path: Path, folder: Path
) -> None:
    """`nuages offers list` with a malformed file lists the seven others, names the
    problem on stderr, no traceback."""
    (folder / "cloudbizz.toml").write_text("schema_version = 1\n[offer\n", "utf-8")
    done = _nuages("offers", "list", cwd=tmp_path, offers=folder)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert len(out.strip().splitlines()) == 7 and "cloudbizz" not in out
    assert f"warning: not loaded: {folder / 'cloudbizz.toml'}:2" in err
    assert "Traceback" not in err


def test_regression_malformed_terms_file_does_not_stop_server_subprocess(
    tmp_path: Path, folder: Path
) -> None:
    """`nuages serve` starts and answers with a malformed terms file; the log names the
    file, without a traceback."""
    (folder / "cloudbizz.toml").write_text("schema_version = 1\n[offer\n", "utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = _nuages(
        "serve",
        cwd=tmp_path,
        offers=folder,
        env={"NUAGES_API_HOST": "127.0.0.1", "NUAGES_API_PORT": str(port)},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)
    assert "terms file not loaded" in err and str(folder / "cloudbizz.toml") in err
    assert "Traceback" not in err


def test_regression_stored_version_is_checked_against_its_hash(
    world: World, registry: OfferRegistry, folder: Path
) -> None:
    """A row holding other content than its hash names (as the old code wrote it: the
    file on disk at order time under the hash loaded) is refused when read, and put right
    the next time that version is ordered."""
    offer = registry.current("cloudbizz")
    with world.database.unit() as session:
        session.add(
            OfferVersion(
                content_hash=offer.content_hash,
                offer_id=offer.id,
                content=offer.source_bytes.decode("utf-8").replace(PRICE_LINE, 'price = "999.99"'),
                first_seen_at=offer_first_seen(),
            )
        )
    with world.database.unit() as session:
        stored = session.get(OfferVersion, offer.content_hash)
        assert stored is not None
        with pytest.raises(CorruptOfferVersion):
            parse_version(stored.content_hash, stored.content)
        registry.record(session, offer)
    with world.database.unit() as session:
        stored = session.get(OfferVersion, offer.content_hash)
        assert stored is not None and stored.content.encode("utf-8") == offer.source_bytes
        assert _desktop(parse_version(stored.content_hash, stored.content)) == Decimal("39.00")


def offer_first_seen() -> dt.datetime:
    return dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

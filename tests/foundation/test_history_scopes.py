"""History and money (#17.6): entries carry the scope needed to read them (billing
entries need "billing"), error details are stored redacted, the invoicing profile masks
the IBAN, refused writes are rate-limited before they reach the history, and the chain
still verifies across the migration that added the scope."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from nuages.accounts.roles import Role, Scope
from nuages.app import create_app
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.models import HistoryEntry, HistoryHead
from nuages.history.scopes import BILLING, READ, effective_scope, scope_for
from nuages.kernel import migrate
from nuages.kernel.clock import advance, set_now
from nuages.kernel.db import Database, new_id
from nuages.kernel.settings import Settings
from tests.billing.factories import funded
from tests.conftest import fresh_postgres_database
from tests.factories import World
from tests.invoicing.factories import Billing

NUAGES = [sys.executable, "-m", "nuages"]
IBAN = "FR7630006000011234567890189"
MANDATE = {
    "iban": "BE68 5390 0754 7034",
    "bic": "GKCCBEBB",
    "holder_name": "Exemple SPRL",
    "signed_on": "2026-11-01",
}


def _rows(database: Database) -> list[HistoryEntry]:
    with database.unit() as session:
        rows = session.execute(select(HistoryEntry).order_by(HistoryEntry.seq)).scalars().all()
        session.expunge_all()
        return list(rows)


def _listed(client: TestClient, headers: dict[str, str]) -> list[dict[str, str]]:
    r = client.get("/api/v1/history?per_page=200", headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, str]] = r.json()["items"]
    return items


def test_regression_history_hides_money_from_members_and_guests(
    client: TestClient, world: World
) -> None:
    """A transfer, a mandate and a direct debit are billing entries: the owner (and
    staff) read them, the member, the guest and the owner's read-only token see none of
    them, in the list or one by one (404). Their own non-billing entries stay visible."""
    f = funded(world, client, amount="123.45")
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/mandates", json=MANDATE, headers=f.owner.headers
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/direct-debits",
        json={"amount": "20.00", "currency": "EUR", "reference": "DD-1"},
        headers=f.owner.headers,
    )
    assert r.status_code in {200, 201}, r.text
    money = [row for row in _rows(world.database) if row.scope == BILLING]
    actions = {row.action for row in money}
    assert {"billing.topup", "billing.mandate.create", "billing.direct_debit.request"} <= actions
    assert all(row.client_id == f.client_id for row in money)

    owner_sees = {item["id"] for item in _listed(client, f.owner.headers)}
    assert {row.id for row in money} <= owner_sees
    assert {row.id for row in money} <= {item["id"] for item in _listed(client, f.admin.headers)}
    member = world.user(Role.CLIENT_MEMBER, f.client_id)
    guest = world.user(Role.GUEST, f.client_id)
    owner_read = world.user(Role.CLIENT_OWNER, f.client_id, scopes=frozenset({Scope.READ}))
    for reader in (member, guest, owner_read):
        items = _listed(client, reader.headers)
        assert items, "the contract's own entries stay readable"
        assert all(item["scope"] == READ for item in items)
        text_seen = json.dumps(items)
        assert "123.45" not in text_seen and "BE68" not in text_seen and "DD-1" not in text_seen
        for row in money:
            r = client.get(f"/api/v1/history/{row.id}", headers=reader.headers)
            assert r.status_code == 404
    r = client.get(f"/api/v1/history/{money[0].id}", headers=f.owner.headers)
    assert r.status_code == 200 and r.json()["scope"] == BILLING


def _record_calls(folder: Path) -> Iterator[tuple[str, str, str]]:
    """(file, object_type, action prefix) of every history.record call in ``folder``."""
    for path in sorted(folder.glob("*.py")):
        source = path.read_text()
        for match in re.finditer(r"history\.record\(", source):
            call = source[match.end() : match.end() + 600]
            kind = re.search(r'object_type="([^"]+)"', call)
            action = re.search(r'action=(?:action or )?f?"([^"{]*)', call)
            assert kind and action, (
                f"{path.name}: a history.record call without a literal object_type and "
                "action prefix; write them literally so this check can see its scope"
            )
            yield path.name, kind.group(1), action.group(1)


def test_regression_every_billing_record_needs_billing() -> None:
    """Every history.record call in billing/ and invoicing/ lands on the billing scope,
    except the extension workflow, which members read through the API too (its entries
    hold items and dates, no amounts)."""
    src = Path(__file__).resolve().parents[2] / "src" / "nuages"
    calls = [*_record_calls(src / "billing"), *_record_calls(src / "invoicing")]
    assert len(calls) >= 30, calls
    for file, object_type, action in calls:
        expected = READ if object_type.startswith("extension") else BILLING
        # An f-string action is known by its literal prefix; "{kind}.issue" by its type.
        assert scope_for(object_type, action or "x") == expected, (file, object_type, action)


def test_regression_refused_detail_is_stored_redacted(client: TestClient, world: World) -> None:
    """An owner types a full IBAN into the VAT number: the refusal's detail echoes it,
    but the history stores and shows it redacted, so the guest who reads it learns
    nothing. Card numbers, tokens and passwords in a detail go the same way."""
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    guest = world.user(Role.GUEST, client_id)
    r = client.patch(
        f"/api/v1/clients/{client_id}", json={"vat_number": IBAN}, headers=owner.headers
    )
    assert r.status_code == 422 and IBAN in r.text  # the caller's own answer names it
    stored = [row for row in _rows(world.database) if row.outcome.startswith("refused:")]
    assert len(stored) == 1 and IBAN not in stored[0].outcome
    assert "[redacted IBAN]" in stored[0].outcome
    seen = _listed(client, guest.headers)
    assert any("[redacted IBAN]" in item["outcome"] for item in seen)
    assert IBAN not in json.dumps(seen)
    with world.database.unit() as session:
        entry = history.record(
            session,
            history.Actor.system("test"),
            object_type="client",
            object_id=client_id,
            action="client.update",
            params={"note": "card 4111 1111 1111 1111, iban fr76 3000 6000 0112 3456 7890 189"},
            outcome=(
                "refused: 422 card 4111111111111111 token nua_abcdefghijkl_secret "
                "password=hunter2 Bearer abc.def"
            ),
        )
        stored_outcome, stored_params = entry.outcome, entry.params
    for secret in ("4111", "nua_abcdefghijkl", "hunter2", "abc.def", "3000 6000"):
        assert secret not in stored_outcome + stored_params, secret
    with world.database.sessions() as session:
        assert history.verify(session)[1] is None


def test_regression_invoicing_profile_masks_the_iban(
    client: TestClient, world: World, offers: OfferRegistry
) -> None:
    """The invoicing profile shows the mandate's IBAN masked, like mandates do; the full
    IBAN appears in no answer."""
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    contract_id = Billing(world.database, offers).contract(
        "optima-cloud-azure", client_id, dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    )
    body = {
        "address": "3 avenue des Clients",
        "postcode": "69002",
        "city": "Lyon",
        "mandate": {
            "mandate_id": "M-1",
            "signed_on": "2026-01-15",
            "iban": IBAN,
            "bic": "AGRIFRPPXXX",
        },
    }
    url = f"/api/v1/contracts/{contract_id}/invoicing/profile"
    put = client.put(url, json=body, headers=owner.headers)
    get = client.get(url, headers=owner.headers)
    for r in (put, get):
        assert r.status_code == 200, r.text
        assert r.json()["iban_masked"] == "FR76" + "*" * 19 + "0189"
        assert IBAN not in r.text and "iban" not in r.json()


def _limited_client(
    settings: Settings, database: Database, offers: OfferRegistry, **kw: object
) -> TestClient:
    return TestClient(
        create_app(settings.model_copy(update=kw), database, offers), raise_server_exceptions=False
    )


def test_regression_refused_flood_is_rate_limited(
    settings: Settings, database: Database, offers: OfferRegistry, world: World
) -> None:
    """136 refused writes in one second from one guest token: the first 120 (the burst)
    are answered 403 and recorded, the 16 others 429 with Retry-After and not written.
    Five seconds later the budget has refilled by 2 a second: 10 more are recorded."""
    set_now(dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC))
    client_id = world.client()
    guest = world.user(Role.GUEST, client_id)
    url = f"/api/v1/clients/{client_id}"
    before = len(_rows(database))
    with _limited_client(settings, database, offers) as http:
        codes = [
            http.patch(url, json={"legal_name": "X"}, headers=guest.headers) for _ in range(136)
        ]
        assert [r.status_code for r in codes] == [403] * 120 + [429] * 16
        assert codes[-1].headers["Retry-After"] == "1"
        assert codes[-1].json()["type"].endswith("/too-many-refusals")
        assert len(_rows(database)) - before == 120
        advance(dt.timedelta(seconds=5))
        later = [
            http.patch(url, json={"legal_name": "X"}, headers=guest.headers) for _ in range(12)
        ]
        assert [r.status_code for r in later] == [403] * 10 + [429] * 2
        assert len(_rows(database)) - before == 130
        # A successful request is never limited.
        assert http.get(url, headers=guest.headers).status_code == 200


def test_regression_refusals_are_limited_per_address_too(
    settings: Settings, database: Database, offers: OfferRegistry, world: World
) -> None:
    """Many tokens from one address share the address budget (NUAGES_REFUSALS_*)."""
    set_now(dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC))
    client_id = world.client()
    guests = [world.user(Role.GUEST, client_id) for _ in range(3)]
    url = f"/api/v1/clients/{client_id}"
    with _limited_client(
        settings, database, offers, refusals_burst_per_token=5, refusals_burst_per_address=8
    ) as http:
        codes = [
            http.patch(url, json={"legal_name": "X"}, headers=g.headers).status_code
            for g in guests
            for _ in range(4)
        ]
    # Tokens 1 and 2 spend 8 of the address's budget; token 3 is refused at once.
    assert codes == [403] * 8 + [429] * 4


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'legacy.db'}"
        return
    with fresh_postgres_database("nuages_h") as url:
        yield url


def test_regression_chain_verifies_across_the_scope_migration(empty_url: str) -> None:
    """Entries written before history entries had a scope (their hash covers no scope)
    and entries written after (theirs does) verify as one chain, through the service and
    `nuages history verify`; the old billing entry is still hidden from a guest."""
    migrate.upgrade(empty_url, "0005")  # everything but this change's revision
    database = Database(empty_url)
    at = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
    prev = "0" * 64
    table = HistoryEntry.__table__
    with database.engine.begin() as conn:
        for object_type, action in (("client", "client.create"), ("account", "billing.transfer")):
            fields = {
                "id": new_id(),
                "at": at,
                "actor_id": None,
                "actor_label": "legacy",
                "client_id": "c-legacy",
                "object_type": object_type,
                "object_id": "o1",
                "action": action,
                "params": '{"amount":"50.00"}',
                "outcome": "ok",
            }
            digest = history.entry_hash(prev, **fields)
            # The table has no scope column yet: insert only the columns it has.
            conn.execute(insert(table).values(**fields, prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(insert(HistoryHead.__table__).values(id=1, last_seq=2, last_hash=prev))
    migrate.upgrade(empty_url)
    try:
        with database.unit() as session:
            history.record(
                session,
                history.Actor.system("test"),
                object_type="client",
                object_id="o2",
                action="client.create",
            )
        with database.sessions() as session:
            checked, broken = history.verify(session)
        assert (checked, broken) == (3, None)
        env = os.environ | {"NUAGES_DATABASE_URL": empty_url}
        done = subprocess.run(
            [*NUAGES, "history", "verify"], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0 and "3 entries verified" in done.stdout, done.stderr
        staff = World(database).admin()
        with TestClient(create_app(Settings(database_url=empty_url), database)) as http:
            r = http.get("/api/v1/history?per_page=200", headers=staff.headers)
        legacy = {
            item["action"]: item["scope"]
            for item in r.json()["items"]
            if item["actor_label"] == "legacy"
        }
        assert legacy == {"client.create": READ, "billing.transfer": BILLING}
        # What a reader without "billing" gets: the SQL rule hides the old money entry.
        with database.sessions() as session:
            visible = (
                session.execute(
                    select(HistoryEntry.action).where(
                        HistoryEntry.actor_label == "legacy", effective_scope().in_([READ])
                    )
                )
                .scalars()
                .all()
            )
        assert visible == ["client.create"]
    finally:
        database.dispose()


def test_regression_uuids_are_not_redacted_as_card_numbers() -> None:
    """A user id whose digits happen to pass Luhn ("84556-9729-4468" inside
    "84a84556-9729-4468-b9c3-84189fe9326c") was stored as "[redacted card number]"
    in a notice's deciders; card numbers alone in text are still redacted."""
    from nuages.history.redaction import redact

    uuid_text = '{"deciders":["84a84556-9729-4468-b9c3-84189fe9326c"]}'
    assert redact(uuid_text) == uuid_text
    assert redact("12345678-1234-1234-1234-123456789012") == "12345678-1234-1234-1234-123456789012"
    assert redact("card 4111 1111 1111 1111 refused") == "card [redacted card number] refused"
    assert redact("card 4111-1111-1111-1111.") == "card [redacted card number]."

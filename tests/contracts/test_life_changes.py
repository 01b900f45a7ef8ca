"""Terms changes and price revisions (issue #21 items 4 and 5): a new version of an offer
opens a refusal window per contract (000 §4: one month from the e-mail; 004 §3: 30 days
after the entry into force), a refusal blocks renewal and extensions and ends the
contract at its term, silence migrates it; revisions apply at each anniversary from the
published index values (000 §13.3, 004 §8.1) or, 003 §14.3, capped at 5 % with a
penalty-free exit."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.roles import Role
from nuages.contracts import revisions
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.service import require_provisioning
from nuages.history.service import Actor as HistoryActor
from nuages.invoicing import lines, sources
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database
from nuages.kernel.errors import Conflict
from nuages.terms.apply import calendar_for
from tests.contracts.life_world import BRUSSELS, PARIS, Life, local
from tests.factories import Actor, World

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(tmp_path: Path) -> OfferRegistry:
    """The shipped offers copied to a directory the test edits (a new version)."""
    folder = tmp_path / "offers"
    shutil.copytree(ROOT / "offers", folder)
    return OfferRegistry.from_directory(folder, check_interval=0)


@pytest.fixture
def life(database: Database, world: World, registry: OfferRegistry, client: TestClient) -> Life:
    client.app.state.offers = registry  # type: ignore[attr-defined]
    return Life(database, world, registry, client)


@pytest.fixture
def admin(world: World) -> Actor:
    with frozen_at(local(PARIS, 2026, 3, 1, 9, 0)):  # a token valid for the whole life
        return world.user(Role.PROVIDER_ADMIN, None, days=3650)


def _new_version(registry: OfferRegistry, offer_id: str) -> str:
    assert registry.directory is not None
    path = next(
        p for p in registry.directory.glob("*.toml") if f'id = "{offer_id}"' in p.read_text()
    )
    path.write_text(path.read_text() + "\n# version 2: support hours extended\n")
    registry.reload()
    return registry.current(offer_id).content_hash


def _post(life: Life, at: dt.datetime, path: str, who: Actor, body: dict[str, object]) -> object:
    with frozen_at(at):
        return life.http.post(f"/api/v1{path}", json=body, headers=who.headers)


def _publish(life: Life, admin: Actor, offer_id: str, at: dt.datetime, **body: object) -> list:
    done = _post(life, at, f"/offers/{offer_id}/terms-changes", admin, {"summary": "v2", **body})
    assert done.status_code == 200, done.json()  # type: ignore[attr-defined]
    return done.json()  # type: ignore[attr-defined,no-any-return]


def test_000_s4_refusal_blocks_renewal_and_ends_at_term(life: Life, admin: Actor) -> None:
    """000 §4: announced on 1 April 10:00 Brussels, the new terms may be refused for one
    month (2 April – 1 May: until 2 May 00:00). Refused by registered letter on 20 April,
    the former terms run to the term (10 May 11:00), which is not renewed: the contract
    ends then (``terms_refused``); meanwhile nothing can be extended."""
    contract_id, owner, _ = life.form("isstar-cloud", local(BRUSSELS, 2026, 3, 10, 11, 0))
    life.daily(local(BRUSSELS, 2026, 4, 10, 12, 0))  # renewed to 10 May
    new_hash = _new_version(life.offers, "isstar-cloud")
    [change] = _publish(life, admin, "isstar-cloud", local(BRUSSELS, 2026, 4, 1, 10, 0))
    assert change["to_hash"] == new_hash
    assert dt.datetime.fromisoformat(change["refusable_until"]) == local(BRUSSELS, 2026, 5, 2, 0, 0)
    no_letter = _post(life, local(BRUSSELS, 2026, 4, 20, 9, 0),
                      f"/contracts/{contract_id}/terms-refusal", owner, {})  # fmt: skip
    assert no_letter.status_code == 422 and "registered letter" in no_letter.json()["detail"]  # type: ignore[attr-defined]
    refused = _post(life, local(BRUSSELS, 2026, 4, 20, 9, 0),
                    f"/contracts/{contract_id}/terms-refusal", owner,
                    {"letter_date": "2026-04-18"})  # fmt: skip
    assert refused.status_code == 200 and refused.json()["state"] == "refused"  # type: ignore[attr-defined]
    with life.database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        with pytest.raises(Conflict, match="000 §4"):
            require_provisioning(session, contract)
    life.daily(local(BRUSSELS, 2026, 5, 2, 1, 0))  # window over: a refusal stays
    assert life.contract(contract_id).offer_hash != new_hash
    assert life.daily(local(BRUSSELS, 2026, 5, 10, 12, 0))["ended"] == [contract_id]
    ended = life.contract(contract_id)
    assert ended.state == "reversibility" and ended.state_reason == "terms_refused"
    assert ended.ended_at == local(BRUSSELS, 2026, 5, 10, 11, 0)


def test_000_s4_refusal_after_its_window_refused_nothing_written(life: Life, admin: Actor) -> None:
    """000 §4: on 2 May 00:30 the month is over: the refusal is a 409 naming the clause,
    and silence moved the contract to the new terms at the next daily pass."""
    contract_id, owner, _ = life.form("isstar-cloud", local(BRUSSELS, 2026, 3, 10, 11, 0))
    new_hash = _new_version(life.offers, "isstar-cloud")
    _publish(life, admin, "isstar-cloud", local(BRUSSELS, 2026, 4, 1, 10, 0))
    before = life.counts(contract_id)
    late = _post(life, local(BRUSSELS, 2026, 5, 2, 0, 30),
                 f"/contracts/{contract_id}/terms-refusal", owner,
                 {"letter_date": "2026-05-01"})  # fmt: skip
    assert late.status_code == 409 and "000 §4" in late.json()["detail"]  # type: ignore[attr-defined]
    assert life.counts(contract_id) == before
    assert life.daily(local(BRUSSELS, 2026, 5, 2, 1, 0))["migrated"] == [contract_id]
    assert life.contract(contract_id).offer_hash == new_hash
    from nuages.notices.models import Notice

    with life.database.unit() as session:  # the client is told the new terms apply, once
        kinds = (
            session.execute(select(Notice.kind).where(Notice.contract_id == contract_id))
            .scalars()
            .all()
        )
    assert kinds.count("terms_migrated") == 1


def test_000_s4_changes_imposed_by_law_cannot_be_refused(life: Life, admin: Actor) -> None:
    """000 §4: a change imposed by law cannot be refused (409)."""
    contract_id, owner, _ = life.form("isstar-cloud", local(BRUSSELS, 2026, 3, 10, 11, 0))
    _new_version(life.offers, "isstar-cloud")
    [change] = _publish(
        life, admin, "isstar-cloud", local(BRUSSELS, 2026, 4, 1, 10, 0), imposed_by_law=True
    )
    assert change["refusable_until"] is None
    done = _post(life, local(BRUSSELS, 2026, 4, 2, 9, 0),
                 f"/contracts/{contract_id}/terms-refusal", owner,
                 {"letter_date": "2026-04-02"})  # fmt: skip
    assert done.status_code == 409 and "imposed by law" in done.json()["detail"]  # type: ignore[attr-defined]


def test_000_s4_refusal_withdrawn_then_silence_accepts(life: Life, admin: Actor) -> None:
    """A refusal can be withdrawn inside its window; the change then applies when the
    window closes, and the contract renews as usual."""
    contract_id, owner, _ = life.form("isstar-cloud", local(BRUSSELS, 2026, 3, 10, 11, 0))
    new_hash = _new_version(life.offers, "isstar-cloud")
    _publish(life, admin, "isstar-cloud", local(BRUSSELS, 2026, 4, 1, 10, 0))
    at = local(BRUSSELS, 2026, 4, 5, 9, 0)
    path = f"/contracts/{contract_id}/terms-refusal"
    assert _post(life, at, path, owner, {"letter_date": "2026-04-04"}).status_code == 200  # type: ignore[attr-defined]
    withdrawn = _post(life, at, f"{path}/withdraw", owner, {})
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "open"  # type: ignore[attr-defined]
    life.daily(local(BRUSSELS, 2026, 5, 2, 1, 0))
    assert life.contract(contract_id).offer_hash == new_hash


def test_004_s3_refusal_window_runs_30_days_after_entry_into_force(
    life: Life, admin: Actor
) -> None:
    """004 §3: the new CGV are e-mailed before they take effect (an entry into force in
    the past is refused); taking effect on 15 April 00:00 Paris, they may be refused for
    30 days after (16 April – 15 May: until 16 May 00:00); silence migrates then."""
    contract_id, _owner, _ = life.form("optima-cloud-azure", local(PARIS, 2026, 3, 10, 11, 0))
    new_hash = _new_version(life.offers, "optima-cloud-azure")
    at = local(PARIS, 2026, 4, 1, 10, 0)
    past = _post(life, at, "/offers/optima-cloud-azure/terms-changes", admin,
                 {"summary": "v2", "in_force_at": "2026-03-31T00:00:00Z"})  # fmt: skip
    assert past.status_code == 422 and "004 §3" in past.json()["detail"]  # type: ignore[attr-defined]
    in_force = local(PARIS, 2026, 4, 15, 0, 0).isoformat()
    [change] = _publish(life, admin, "optima-cloud-azure", at, in_force_at=in_force)
    assert dt.datetime.fromisoformat(change["refusable_until"]) == local(PARIS, 2026, 5, 16, 0, 0)
    # The e-mail is written when the change is published (1 April), before 15 April.
    from sqlalchemy import select

    from nuages.notices.models import Notice

    with life.database.unit() as session:
        [notice] = session.execute(
            select(Notice).where(
                Notice.client_id == life.contract(contract_id).client_id,
                Notice.kind == "terms_change_announced",
            )
        ).scalars()
        assert notice.created_at < local(PARIS, 2026, 4, 15, 0, 0)  # queued on 1 April
    assert life.daily(local(PARIS, 2026, 5, 15, 23, 0))["migrated"] == []
    assert life.daily(local(PARIS, 2026, 5, 16, 1, 0))["migrated"] == [contract_id]
    assert life.contract(contract_id).offer_hash == new_hash


def test_001_s19_no_unilateral_change(life: Life, admin: Actor) -> None:
    """001 §19: terms change only by a writing signed by both parties: publishing is 422."""
    _new_version(life.offers, "cloudbizz")
    done = _post(life, local(BRUSSELS, 2026, 4, 1, 10, 0),
                 "/offers/cloudbizz/terms-changes", admin, {"summary": "v2"})  # fmt: skip
    assert done.status_code == 422 and "001 §19" in done.json()["detail"]  # type: ignore[attr-defined]


def _index(life: Life, name: str, month: dt.date, value: str) -> None:
    with life.database.unit() as session:
        lines.set_index(session, HistoryActor.system("test"), name, month, Decimal(value))


def test_004_s8_1_syntec_revision_at_the_anniversary(life: Life) -> None:
    """004 §8.1: P = P0 × S/S0. Formed 10 March 2026 (Syntec March 2026 = 280.0); on 10
    March 2027 the last known Syntec is 291.2 (March 2027): factor 291.2 / 280 = 1.04,
    applied to invoiced lines from the period starting that day, once."""
    contract_id, _, _ = life.form("optima-cloud-azure", local(PARIS, 2026, 3, 10, 11, 0))
    _index(life, "syntec", dt.date(2026, 3, 1), "280.0")
    _index(life, "syntec", dt.date(2027, 3, 1), "291.2")
    first = life.daily(local(PARIS, 2027, 3, 10, 1, 0))
    assert len(first["revised"]) == 1, first  # type: ignore[arg-type]
    assert life.daily(local(PARIS, 2027, 3, 10, 6, 0))["revised"] == []
    offer = life.offers.current("optima-cloud-azure")
    calendar = calendar_for(offer)
    with life.database.unit() as session:
        [row] = revisions.revisions_of(session, contract_id)
        assert row.effective_at == local(PARIS, 2027, 3, 10, 0, 0)
        assert row.factor == Decimal("1.04") and row.cumulative == Decimal("1.04")
        before = sources.stored_revision(session, contract_id, calendar, dt.date(2027, 3, 1))
        after = sources.stored_revision(session, contract_id, calendar, dt.date(2027, 3, 10))
    assert before is None
    assert after is not None and after.factor == Decimal("1.04") and "004 §8.1" in after.note


def test_000_s13_3_weighted_syntec_elecvert_revision(life: Life) -> None:
    """000 §13.3: P = P0 × (0.30 × S/S0 + 0.70 × E/E0); Syntec 280 → 294 (+5 %), ElecVert
    100 → 110 (+10 %): factor 0.30 × 1.05 + 0.70 × 1.10 = 1.085, from the anniversary of
    the day the minimum amount was paid (formation, 10 March)."""
    contract_id, _, _ = life.form("isstar-cloud", local(BRUSSELS, 2026, 3, 10, 11, 0))
    for name, v0, v1 in (("syntec", "280", "294"), ("elecvert", "100", "110")):
        _index(life, name, dt.date(2026, 3, 1), v0)
        _index(life, name, dt.date(2027, 2, 1), v1)
    life.daily(local(BRUSSELS, 2027, 3, 10, 1, 0))
    with life.database.unit() as session:
        [row] = revisions.revisions_of(session, contract_id)
        assert row.cumulative == Decimal("1.085")
        assert revisions.factor_at(session, contract_id, local(BRUSSELS, 2027, 3, 9, 23, 0)) == 1


def test_003_s14_3_capped_revision_opens_penalty_free_exit(life: Life, admin: Actor) -> None:
    """003 §14.3: a 7 % revision is capped at 5 %, announced by e-mail; the client may then
    terminate without penalty (30 days, read with §14.4): a notice on 20 March 2027 ends
    the contract at once instead of at the term (10 March 2028)."""
    contract_id, owner, _ = life.form("virtualsr-svp", local(PARIS, 2026, 3, 10, 11, 0))
    life.daily(local(PARIS, 2027, 3, 10, 12, 0))  # renewed to 10 March 2028
    at = local(PARIS, 2027, 3, 15, 9, 0)
    done = _post(life, at, f"/contracts/{contract_id}/price-revisions", admin,
                 {"proposed_pct": "7", "reason": "energy"})  # fmt: skip
    assert done.status_code == 201, done.json()  # type: ignore[attr-defined]
    body = done.json()  # type: ignore[attr-defined]
    assert Decimal(body["factor"]) == Decimal("1.05") and body["capped"] is True
    assert dt.datetime.fromisoformat(body["exit_until"]) == local(PARIS, 2027, 4, 15, 0, 0)
    notice_at = local(PARIS, 2027, 3, 20, 9, 0)
    status, plan = life.notice(contract_id, owner, notice_at, confirm=True)
    assert status == 200 and plan["penalty_free"] == "after-price-revision"
    ended = life.contract(contract_id)
    assert ended.state == "reversibility" and ended.ended_at == notice_at


def test_004_s4_s8_1_change_lets_the_client_leave_with_3_months_notice(life: Life) -> None:
    """004 §4, §8.1: after a price revision the client may terminate with §5's 3-month
    notice, effective 3 months after it (read for the client, not at the 2029 term): a
    notice on 1 April 2027 ends the contract on 2 July 2027 00:00 Paris (2 April + 3
    months ends on 1 July)."""
    contract_id, owner, _ = life.form("optima-cloud-azure", local(PARIS, 2026, 3, 10, 11, 0))
    _index(life, "syntec", dt.date(2026, 3, 1), "280.0")
    _index(life, "syntec", dt.date(2027, 3, 1), "291.2")
    life.daily(local(PARIS, 2027, 3, 10, 1, 0))
    status, plan = life.notice(contract_id, owner, local(PARIS, 2027, 4, 1, 10, 0), confirm=False)
    assert status == 200 and plan["penalty_free"] == "after-change-of-service-or-price"
    assert dt.datetime.fromisoformat(str(plan["effective_at"])) == local(PARIS, 2027, 7, 2, 0, 0)


def test_000_s13_3_revision_charged_on_the_prepaid_account(life: Life) -> None:
    """000 §13.3 on the prepaid account: metered at the catalogue price (vm-s 0.0150/h),
    24 hours on 10 March 2027 (the anniversary, ×1.085) cost 0.36 and owe 0.36 × 0.085 =
    0.0306 more: one fee, written once; 9 March (before the revision) owes nothing."""
    from nuages.billing import ledger
    from nuages.billing.models import LedgerEntry

    contract_id, _, _ = life.form("isstar-cloud", local(BRUSSELS, 2026, 3, 10, 11, 0))
    for name, v0, v1 in (("syntec", "280", "294"), ("elecvert", "100", "110")):
        _index(life, name, dt.date(2026, 3, 1), v0)
        _index(life, name, dt.date(2027, 2, 1), v1)
    offer = life.offers.current("isstar-cloud")
    with life.database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        account = ledger.ensure_account(session, contract, offer)
        rows = []
        for hour in range(48):
            start = local(BRUSSELS, 2027, 3, 9, 0, 0) + dt.timedelta(hours=hour)
            end = start + dt.timedelta(hours=1)
            rows.append((
                contract_id, account.client_id, "usage", Decimal("-0.015"), "EUR", end, end,
                f"usage:vm:test-vm:{start.isoformat()}", "", "vm-s", None, "vm", "test-vm",
                start, end, Decimal(1), Decimal("0.015"), None,
            ))  # fmt: skip
        assert ledger.bulk_insert(session, rows) == 48
    first = life.daily(local(BRUSSELS, 2027, 3, 11, 1, 0))
    assert len(first["prepaid_revision_entries"]) == 1, first  # type: ignore[arg-type]
    assert life.daily(local(BRUSSELS, 2027, 3, 11, 2, 0))["acts"] == 0
    with life.database.unit() as session:
        fees = list(
            session.execute(
                select(LedgerEntry).where(
                    LedgerEntry.contract_id == contract_id, LedgerEntry.kind == "fee"
                )
            ).scalars()
        )
    assert [f.amount for f in fees] == [Decimal("-0.0306")]
    assert "000 §13.3" in fees[0].description


def test_003_s14_3_revision_is_not_back_dated(life: Life, admin: Actor) -> None:
    """003 §14.3 revises yearly at the anniversary: five months after it, a revision is
    refused (409) naming the next anniversary, and nothing is written."""
    contract_id, _, _ = life.form("virtualsr-svp", local(PARIS, 2026, 3, 10, 11, 0))
    done = _post(life, local(PARIS, 2027, 8, 10, 9, 0), f"/contracts/{contract_id}/price-revisions",
                 admin, {"proposed_pct": "3"})  # fmt: skip
    assert done.status_code == 409 and "2028-03-10" in done.json()["detail"]  # type: ignore[attr-defined]
    with life.database.unit() as session:
        assert revisions.revisions_of(session, contract_id) == []


def test_003_s14_4_service_change_opens_30_day_exit(life: Life, admin: Actor) -> None:
    """003 §14.4: a change of service cannot be refused but opens 30 days (from 1 April:
    until 2 May 00:00 Paris) in which a notice ends the contract at once, without
    penalty, instead of at the yearly term."""
    contract_id, owner, _ = life.form("virtualsr-svp", local(PARIS, 2026, 3, 10, 11, 0))
    _new_version(life.offers, "virtualsr-svp")
    [change] = _publish(life, admin, "virtualsr-svp", local(PARIS, 2026, 4, 1, 10, 0))
    assert change["refusable_until"] is None
    assert dt.datetime.fromisoformat(change["exit_until"]) == local(PARIS, 2026, 5, 2, 0, 0)
    refused = _post(life, local(PARIS, 2026, 4, 2, 9, 0),
                    f"/contracts/{contract_id}/terms-refusal", owner, {})  # fmt: skip
    assert refused.status_code == 409 and "003 §14.4" in refused.json()["detail"]  # type: ignore[attr-defined]
    at = local(PARIS, 2026, 4, 20, 9, 0)
    status, plan = life.notice(contract_id, owner, at, confirm=True)
    assert status == 200 and plan["penalty_free"] == "after-service-change"
    ended = life.contract(contract_id)
    assert ended.state == "reversibility" and ended.ended_at == at


def test_000_s4_a_newer_version_supersedes_the_open_change(life: Life, admin: Actor) -> None:
    """Two versions announced one after the other: the first change is superseded, and
    silence on the second moves the contract to the latest version."""
    contract_id, _, _ = life.form("isstar-cloud", local(BRUSSELS, 2026, 3, 10, 11, 0))
    _new_version(life.offers, "isstar-cloud")
    _publish(life, admin, "isstar-cloud", local(BRUSSELS, 2026, 4, 1, 10, 0))
    latest = _new_version(life.offers, "isstar-cloud")
    _publish(life, admin, "isstar-cloud", local(BRUSSELS, 2026, 4, 3, 10, 0))
    with frozen_at(local(BRUSSELS, 2026, 4, 3, 11, 0)):
        listed = life.http.get(
            f"/api/v1/contracts/{contract_id}/terms-changes", headers=admin.headers
        ).json()
    assert [c["state"] for c in listed] == ["open", "superseded"]
    life.daily(local(BRUSSELS, 2026, 5, 4, 1, 0))
    assert life.contract(contract_id).offer_hash == latest

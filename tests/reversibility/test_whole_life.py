"""One whole life per seed offer (issue #21, "Tests must show, for each seed offer, one
whole life driven by moving the clock"): formation stores the term end, the daily job
renews at the term, the Responsable gives notice through the API, the daily job ends
the contract at the date the clause gives, the exit opens with its window, and the data
is handed over and erased, the contract closed — in one test, through the services and
jobs, VMs on libvirt's test driver. Every date is checked against its clause."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.roles import Role
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.jobs.life import run_daily
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from tests.compute.world import ComputeWorld, make_runtime
from tests.factories import World
from tests.reversibility.conftest import Ex

UTC = dt.UTC
PARIS, BRUSSELS = ZoneInfo("Europe/Paris"), ZoneInfo("Europe/Brussels")
HOUR = dt.timedelta(hours=1)


def local(zone: ZoneInfo, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


@pytest.fixture
def ex(
    world: World, offers: OfferRegistry, tmp_path: Path, database: Database, client: TestClient
) -> Iterator[Ex]:
    """The exit fixture's world, with tokens valid for the whole life (years)."""
    runtime = make_runtime(tmp_path / "data", database)
    client.app.state.compute = runtime  # type: ignore[attr-defined]
    client_id = world.client("Toute une vie SA")
    owner = world.user(Role.CLIENT_OWNER, client_id, days=3650 * 2)
    admin = world.user(Role.PROVIDER_ADMIN, None, days=3650 * 2)
    try:
        yield Ex(ComputeWorld(world, runtime, offers, tmp_path), client, owner, admin,
                 owner_client=client_id)  # fmt: skip
    finally:
        runtime.close()


def _contract(ex: Ex) -> Contract:
    with ex.database.unit() as session:
        row = session.get(Contract, ex.contract_id)
        assert row is not None
        session.expunge(row)
        return row


def _contracts_daily(ex: Ex, at: dt.datetime) -> dict[str, object]:
    set_now(at)
    return run_daily(ex.database, ex.cw.offers, at).as_dict()


def _notice(ex: Ex, at: dt.datetime, *, confirm: bool) -> dict[str, object]:
    set_now(at)
    r = ex.http.post(f"/api/v1/contracts/{ex.contract_id}/termination",
                     json={"confirm": confirm, "reason": "moving on"},
                     headers=ex.owner.headers)  # fmt: skip
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def _to_the_end(
    ex: Ex,
    offer_id: str,
    *,
    formed: dt.datetime,
    first_end: dt.datetime,
    second_end: dt.datetime,
    notice_at: dt.datetime,
) -> dict[str, object]:
    """Formation → tacit renewal at ``first_end`` → notice on ``notice_at`` (previewed,
    then given) → the daily job ends the contract at ``second_end``; the exit opens.
    Returns the exit as the owner reads it."""
    set_now(formed)
    ex.contract_id = ex.cw.contract(ex.owner_client, offer_id)
    assert _contract(ex).term_ends_at == first_end
    ex.setup(offer_id, vms=1, contract_id=ex.contract_id)
    assert _contracts_daily(ex, first_end - HOUR)["renewed"] == []
    assert _contracts_daily(ex, first_end + HOUR)["renewed"] == [ex.contract_id]
    assert _contracts_daily(ex, first_end + 2 * HOUR)["acts"] == 0  # twice: once
    assert _contract(ex).term_ends_at == second_end
    preview = _notice(ex, notice_at, confirm=False)
    assert preview["in_time"] is True and preview["confirmed"] is False
    assert dt.datetime.fromisoformat(str(preview["effective_at"])) == second_end
    assert _notice(ex, notice_at, confirm=True)["confirmed"] is True
    assert _contract(ex).state == "ending"
    assert _contracts_daily(ex, second_end - HOUR)["ended"] == []
    assert _contracts_daily(ex, second_end + HOUR)["ended"] == [ex.contract_id]
    ended = _contract(ex)
    assert (ended.state, ended.ended_at, ended.state_reason) == (
        "reversibility", second_end, "client_notice",
    )  # fmt: skip
    return ex.daily()


def _closed(ex: Ex) -> None:
    """The data is gone, the erasure record in the history, the contract closed."""
    assert ex.disks() == []
    assert _contract(ex).state == "closed"
    with ex.database.unit() as session:
        records = list(
            session.execute(
                select(HistoryEntry).where(
                    HistoryEntry.action == "contract.erasure",
                    HistoryEntry.object_id == ex.contract_id,
                )
            ).scalars()
        )
    assert len(records) == 1 and records[0].hash


def test_000_whole_life_monthly_term_notice_images_then_erasure(ex: Ex) -> None:
    """000 §9: formed 10 March 2026 11:00 Brussels, 1 month → 10 April 11:00, renewed to
    10 May 11:00; a notice on 20 April (no notice period) ends it on 10 May 11:00.
    000 §18: an image of the VM is handed over whatever the cause (no window stated);
    once its link expired (7 days) the data is erased and the contract closed."""
    body = _to_the_end(
        ex, "isstar-cloud",
        formed=local(BRUSSELS, 2026, 3, 10, 11, 0),
        first_end=local(BRUSSELS, 2026, 4, 10, 11, 0),
        second_end=local(BRUSSELS, 2026, 5, 10, 11, 0),
        notice_at=local(BRUSSELS, 2026, 4, 20, 9, 0),
    )  # fmt: skip
    assert body["clause"] == "000 §18" and body["window_ends_at"] is None
    body = ex.daily()
    assert body["state"] == "handed_over", body
    [image] = body["deliveries"]  # type: ignore[misc]
    assert image["kind"] == "image" and image["sha256"] and image["fee"] is None
    expires = dt.datetime.fromisoformat(image["expires_at"])
    assert expires == local(BRUSSELS, 2026, 5, 10, 11, 0) + HOUR + dt.timedelta(days=7)
    set_now(expires - HOUR)
    assert ex.daily()["state"] == "handed_over"
    set_now(expires + HOUR)
    assert ex.daily()["state"] == "erasing"
    assert ex.daily()["state"] == "closed"
    _closed(ex)


def test_001_whole_life_december_term_three_months_choice_deletion(ex: Ex) -> None:
    """001 §3.1: formed 10 March 2026, the first term ends 31 December 2027 (1 January
    2028 00:00 Brussels), renewed to 1 January 2029 (§3.2); a notice on 30 September 2028
    is in time (≥ 3 months). 001 §7: within 3 months after the end (2 January – 1 April
    2029, to 2 April 00:00) the client chooses deletion by registered letter: destroyed."""
    body = _to_the_end(
        ex, "cloudbizz",
        formed=local(BRUSSELS, 2026, 3, 10, 11, 0),
        first_end=local(BRUSSELS, 2028, 1, 1, 0, 0),
        second_end=local(BRUSSELS, 2029, 1, 1, 0, 0),
        notice_at=local(BRUSSELS, 2028, 9, 30, 18, 0),
    )  # fmt: skip
    assert body["clause"] == "001 §7" and body["state"] == "awaiting_choice"
    window = dt.datetime.fromisoformat(str(body["window_ends_at"]))
    assert window == local(BRUSSELS, 2029, 4, 2, 0, 0)
    set_now(local(BRUSSELS, 2029, 3, 5, 9, 0))
    r = ex.post("choice", {"choice": "deletion", "letter_at": "2029-03-01T09:00:00Z"})
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert r.json()["state"] == "erasing"  # type: ignore[attr-defined]
    ex.daily()
    assert ex.daily()["state"] == "closed"
    _closed(ex)


def test_002_whole_life_yearly_term_30_working_days_then_erased(ex: Ex) -> None:
    """002 (order): 12 months, tacitly renewed: formed 10 March 2026 11:00 Paris → 10
    March 2027, renewed to 10 March 2028; a notice in June 2027 ends it then. 002 §10:
    the service continues 30 working days (France) after the end, Friday 10 March 2028
    not counted: 13–31 March (15), 3–14 April (25), Easter Monday 17 April off, 18–21
    April (29), Monday 24 April (30) — to 25 April 2028 00:00 Paris; then erased."""
    body = _to_the_end(
        ex, "axantis-cloud-vm-avance",
        formed=local(PARIS, 2026, 3, 10, 11, 0),
        first_end=local(PARIS, 2027, 3, 10, 11, 0),
        second_end=local(PARIS, 2028, 3, 10, 11, 0),
        notice_at=local(PARIS, 2027, 6, 1, 9, 0),
    )  # fmt: skip
    assert body["clause"] == "002 §10" and body["service_continues"] is True
    window = dt.datetime.fromisoformat(str(body["window_ends_at"]))
    assert window == local(PARIS, 2028, 4, 25, 0, 0)
    set_now(window - HOUR)
    assert ex.daily()["state"] == "awaiting_choice"
    set_now(window + HOUR)
    assert ex.daily()["state"] == "erasing"
    body = ex.daily()
    assert body["state"] == "closed" and "002 §10" in str(body["erasure_reason"])
    _closed(ex)


def test_003_whole_life_yearly_term_90_days_notice_72h_withdrawal(ex: Ex) -> None:
    """003 §11.1: yearly, tacitly renewed: formed 10 March 2026 11:00 Paris → 10 March
    2027, renewed to 10 March 2028; §13.1.4: a notice on 10 December 2027 is in time
    (≥ 90 days). 003 §13.2: services stop at once, 72 h to withdraw the data (to 13
    March 2028 10:00 UTC), a free withdrawal copy; no erasure by itself: once the client
    confirms it has its data, erased."""
    body = _to_the_end(
        ex, "virtualsr-svp",
        formed=local(PARIS, 2026, 3, 10, 11, 0),
        first_end=local(PARIS, 2027, 3, 10, 11, 0),
        second_end=local(PARIS, 2028, 3, 10, 11, 0),
        notice_at=local(PARIS, 2027, 12, 10, 20, 0),
    )  # fmt: skip
    assert body["clause"] == "003 §13.2"
    window = dt.datetime.fromisoformat(str(body["window_ends_at"]))
    assert window == local(PARIS, 2028, 3, 10, 11, 0) + dt.timedelta(hours=72)
    set_now(window - 2 * HOUR)
    r = ex.post("copies", {"vm_ids": None})
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    assert r.json()["deliveries"][0]["kind"] == "withdrawal"  # type: ignore[attr-defined]
    ex.run_queued()
    set_now(window + dt.timedelta(days=30))
    assert ex.daily()["state"] == "handed_over"  # 003 §13.2 erases nothing by itself
    assert ex.post("confirm", {"received": True}).status_code == 200  # type: ignore[attr-defined]
    assert ex.daily()["state"] == "erasing"
    assert ex.daily()["state"] == "closed"
    _closed(ex)


def test_004_whole_life_36_months_backup_360_then_ends_on_confirmation(ex: Ex) -> None:
    """004 §5: 36 months then 12-month renewals: formed 10 March 2026 11:00 Paris → 10
    March 2029, renewed to 10 March 2030; a notice on 9 December 2029 (≥ 3 months) ends
    it then. 004 §17.2: a full backup of the VM within 15 days (to the end of 25 March
    2030, Paris) at EUR 360 excl. VAT; 004 §5: the contract ends only once the client
    confirms it has its data (billed until then), then the data is erased."""
    body = _to_the_end(
        ex, "optima-cloud-azure",
        formed=local(PARIS, 2026, 3, 10, 11, 0),
        first_end=local(PARIS, 2029, 3, 10, 11, 0),
        second_end=local(PARIS, 2030, 3, 10, 11, 0),
        notice_at=local(PARIS, 2029, 12, 9, 12, 0),
    )  # fmt: skip
    assert body["clause"] == "004 §17.2" and body["confirmation_ends"] is True
    window = dt.datetime.fromisoformat(str(body["window_ends_at"]))
    assert window == local(PARIS, 2030, 3, 26, 0, 0)
    set_now(local(PARIS, 2030, 3, 20, 10, 0))
    r = ex.post("copies", {"vm_ids": None})
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    ex.run_queued()
    body = ex.daily()
    assert [(d["kind"], d["fee"]) for d in body["deliveries"]] == [("backup", "360.00")]  # type: ignore[attr-defined]
    confirmed = local(PARIS, 2030, 4, 2, 10, 0)
    set_now(confirmed)
    assert ex.daily()["state"] == "handed_over"  # not ended until confirmed (004 §5)
    assert ex.post("confirm", {"received": True}).status_code == 200  # type: ignore[attr-defined]
    assert _contract(ex).ended_at == confirmed  # billed until then
    assert ex.daily()["state"] == "erasing"
    assert ex.daily()["state"] == "closed"
    _closed(ex)

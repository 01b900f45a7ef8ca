"""The contract's life, per seed offer, driven by moving the clock (issue #21 items 1, 2, 8):
formation stores the term end, the daily pass renews tacitly, a notice to quit takes
effect at the term the clause gives, and the contract reaches ``reversibility`` with its
effective end and cause. Dates are the clauses', computed by hand in each docstring."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database
from tests.contracts.life_world import BRUSSELS, PARIS, Life, local
from tests.factories import World


@pytest.fixture
def life(database: Database, world: World, offers: OfferRegistry, client: TestClient) -> Life:
    return Life(database, world, offers, client)


def _whole_life(
    life: Life,
    offer_id: str,
    *,
    formed: object,
    first_end: object,
    second_end: object,
    notice_at: object,
    in_time: bool = True,
) -> str:
    """Formation → renewal at the first term → a notice (previewed, then given) → the
    contract ends at ``second_end`` in reversibility, cause ``client_notice``."""
    import datetime as dt

    assert isinstance(formed, dt.datetime) and isinstance(first_end, dt.datetime)
    assert isinstance(second_end, dt.datetime) and isinstance(notice_at, dt.datetime)
    contract_id, owner, _member = life.form(offer_id, formed)
    assert life.contract(contract_id).term_ends_at == first_end
    # The day before the term nothing happens; at the term the contract renews.
    assert life.daily(first_end - dt.timedelta(hours=1))["renewed"] == []
    assert life.daily(first_end + dt.timedelta(hours=1))["renewed"] == [contract_id]
    renewed = life.contract(contract_id)
    assert renewed.state == "active" and renewed.term_ends_at == second_end
    status, preview = life.notice(contract_id, owner, notice_at, confirm=False)
    assert status == 200, preview
    assert preview["confirmed"] is False and preview["in_time"] is in_time
    assert dt.datetime.fromisoformat(str(preview["effective_at"])) == second_end
    assert life.counts(contract_id)[0] == 0  # a preview writes nothing
    status, given = life.notice(contract_id, owner, notice_at, confirm=True, reason="leaving")
    assert status == 200 and given["confirmed"] is True, given
    assert life.contract(contract_id).state == "ending"
    with frozen_at(notice_at):
        listed = life.http.get(f"/api/v1/contracts/{contract_id}/deadlines", headers=owner.headers)
    assert listed.status_code == 200
    assert any(d["kind"] == "termination-effective" for d in listed.json())
    life.daily(second_end - dt.timedelta(minutes=1))
    assert life.contract(contract_id).state == "ending"
    assert life.daily(second_end + dt.timedelta(hours=2))["ended"] == [contract_id]
    ended = life.contract(contract_id)
    assert ended.state == "reversibility"
    assert ended.ended_at == second_end
    assert ended.state_reason == "client_notice"
    return contract_id


def test_000_s9_monthly_term_renewed_and_ended_by_notice(life: Life) -> None:
    """000 §9: 1 month by default, tacitly renewed for the same duration; no notice period.
    Formed 10 March 2026 11:00 Brussels → term 10 April 11:00 (09:00Z, summer time), renewed
    to 10 May 11:00; a notice on 20 April ends it at that term."""
    _whole_life(
        life,
        "isstar-cloud",
        formed=local(BRUSSELS, 2026, 3, 10, 11, 0),
        first_end=local(BRUSSELS, 2026, 4, 10, 11, 0),
        second_end=local(BRUSSELS, 2026, 5, 10, 11, 0),
        notice_at=local(BRUSSELS, 2026, 4, 20, 9, 0),
    )


def test_001_s3_december_31_following_year_then_january_renewals(life: Life) -> None:
    """001 §3.1–3.2: formed 10 March 2026, the first term ends 31 December 2027 (the
    following calendar year, exclusive end 1 January 2028 00:00 Brussels); renewed to 1
    January 2029. Notice ≥ 3 months before: received 30 September 2028 (the last day: 1
    October + 3 months ends on 31 December) it ends the contract on 1 January 2029."""
    _whole_life(
        life,
        "cloudbizz",
        formed=local(BRUSSELS, 2026, 3, 10, 11, 0),
        first_end=local(BRUSSELS, 2028, 1, 1, 0, 0),
        second_end=local(BRUSSELS, 2029, 1, 1, 0, 0),
        notice_at=local(BRUSSELS, 2028, 9, 30, 18, 0),
    )


def test_002_cgvs_yearly_term_renewed_then_ended(life: Life) -> None:
    """002 (order): 12 months tacitly renewed; formed 10 March 2026 11:00 Paris → 10 March
    2027, renewed to 10 March 2028; a notice in June 2027 ends it then (no notice period)."""
    _whole_life(
        life,
        "axantis-cloud-vm-avance",
        formed=local(PARIS, 2026, 3, 10, 11, 0),
        first_end=local(PARIS, 2027, 3, 10, 11, 0),
        second_end=local(PARIS, 2028, 3, 10, 11, 0),
        notice_at=local(PARIS, 2027, 6, 1, 9, 0),
    )


def test_003_s11_s13_1_4_yearly_term_90_days_notice(life: Life) -> None:
    """003 §11.1: yearly, tacitly renewed; §13.1.4: notice ≥ 90 days before expiry.
    Formed 10 March 2026 11:00 Paris → 10 March 2027, renewed to 10 March 2028. A notice
    on 10 December 2027 is in time (11 December + 90 days, 2028 a leap year, ends on 9
    March 2028), so the contract ends on 10 March 2028."""
    _whole_life(
        life,
        "virtualsr-svp",
        formed=local(PARIS, 2026, 3, 10, 11, 0),
        first_end=local(PARIS, 2027, 3, 10, 11, 0),
        second_end=local(PARIS, 2028, 3, 10, 11, 0),
        notice_at=local(PARIS, 2027, 12, 10, 20, 0),
    )


def test_004_s5_36_months_then_12_month_renewals(life: Life) -> None:
    """004 §5: 36 months then 12-month renewals, 3 months' notice. Formed 10 March 2026
    11:00 Paris → 10 March 2029, renewed to 10 March 2030; a notice on 9 December 2029
    (10 December + 3 months ends 9 March) ends it on 10 March 2030."""
    _whole_life(
        life,
        "optima-cloud-azure",
        formed=local(PARIS, 2026, 3, 10, 11, 0),
        first_end=local(PARIS, 2029, 3, 10, 11, 0),
        second_end=local(PARIS, 2030, 3, 10, 11, 0),
        notice_at=local(PARIS, 2029, 12, 9, 12, 0),
    )


def test_003_s13_1_4_late_notice_takes_the_next_term(life: Life) -> None:
    """003 §13.1.4: a notice on 11 December 2027 is one day late for 10 March 2028 (12
    December + 90 days ends on 10 March): the preview says so and gives 10 March 2029."""
    contract_id, owner, _ = life.form("virtualsr-svp", local(PARIS, 2026, 3, 10, 11, 0))
    life.daily(local(PARIS, 2027, 3, 10, 12, 0))
    status, preview = life.notice(
        contract_id, owner, local(PARIS, 2027, 12, 11, 9, 0), confirm=False
    )
    assert status == 200
    assert preview["in_time"] is False
    assert preview["effective_at"] == local(PARIS, 2029, 3, 10, 11, 0).isoformat().replace(
        "+00:00", "Z"
    ) or preview["effective_at"].startswith("2029-03-10T10:00:00")
    assert "too late" in str(preview["message"]) and "003 §13.1.4" in str(preview["message"])


def test_001_s3_2_notice_twice_refused_nothing_written(life: Life) -> None:
    """001 §3.2: notice is given once; a second one is refused (409) naming the date the
    contract ends, and nothing is written."""
    contract_id, owner, _ = life.form("cloudbizz", local(BRUSSELS, 2026, 3, 10, 11, 0))
    at = local(BRUSSELS, 2026, 5, 1, 9, 0)
    assert life.notice(contract_id, owner, at, confirm=True)[0] == 200
    before = life.counts(contract_id)
    status, problem = life.notice(contract_id, owner, at, confirm=True)
    assert status == 409
    assert "already given" in problem["detail"] and "001 §3.2" in problem["detail"]
    assert life.counts(contract_id) == before


def test_000_s1_member_cannot_give_notice(life: Life) -> None:
    """000 §1: the Responsable (owner) decides on the contract; a member is refused."""
    contract_id, _owner, member = life.form("isstar-cloud", local(BRUSSELS, 2026, 3, 10, 11, 0))
    before = life.counts(contract_id)
    status, problem = life.notice(
        contract_id, member, local(BRUSSELS, 2026, 3, 20, 9, 0), confirm=True
    )
    assert status == 403 and "000 §1" in problem["detail"]
    assert life.counts(contract_id) == before
    assert life.contract(contract_id).state == "active"


def test_daily_job_run_twice_the_same_day_acts_once(life: Life) -> None:
    """Item 8: the second run the same day finds nothing to do (renewal, end and
    announcement are compare-and-swaps or keyed writes)."""
    renewing, _, _ = life.form("isstar-cloud", local(BRUSSELS, 2026, 3, 10, 11, 0))
    ending, owner, _ = life.form("axantis-cloud-vm-avance", local(PARIS, 2026, 3, 10, 11, 0))
    life.notice(ending, owner, local(PARIS, 2026, 4, 1, 9, 0), confirm=True)
    announced, _, _ = life.form("cloudbizz", local(BRUSSELS, 2026, 3, 10, 11, 0))
    first = life.daily(local(BRUSSELS, 2027, 3, 10, 12, 0))
    assert renewing in first["renewed"] and ending in first["ended"]
    counts = [life.counts(c) for c in (renewing, ending, announced)]
    second = life.daily(local(BRUSSELS, 2027, 3, 10, 18, 0))
    assert second["acts"] == 0, second
    assert [life.counts(c) for c in (renewing, ending, announced)] == counts


def test_001_s4_5_renewal_tariffs_announced_3_months_before(life: Life) -> None:
    """001 §4.5: the tariffs of the renewal on 1 January 2028 are notified 3 months before,
    i.e. by 30 September 2027: the daily pass announces it in September, once."""
    contract_id, _, _ = life.form("cloudbizz", local(BRUSSELS, 2026, 3, 10, 11, 0))
    assert life.daily(local(BRUSSELS, 2027, 8, 15, 9, 0))["announced"] == []
    assert life.daily(local(BRUSSELS, 2027, 9, 5, 9, 0))["announced"] == [contract_id]
    assert life.daily(local(BRUSSELS, 2027, 9, 6, 9, 0))["announced"] == []
    admin = life.world.admin()
    notices = life.http.get("/api/v1/notices?per_page=100", headers=admin.headers).json()
    kinds = [n["kind"] for n in notices["items"] if n.get("contract_id") == contract_id]
    assert kinds.count("renewal_announced") == 1


def test_item_8_deadlines_listing_all_within(life: Life) -> None:
    """`GET /deadlines?within_days=` lists every visible contract's coming deadlines; the
    001 §3.2 last day for a notice to quit is among them with its clause."""
    contract_id, owner, _ = life.form("cloudbizz", local(BRUSSELS, 2026, 3, 10, 11, 0))
    with frozen_at(local(BRUSSELS, 2026, 4, 1, 9, 0)):
        found = life.http.get("/api/v1/deadlines?within_days=600", headers=owner.headers).json()
    mine = [d for d in found if d["contract_id"] == contract_id]
    latest = [d for d in mine if d["kind"] == "notice-to-quit-latest"]
    assert latest and latest[0]["clause"] == "001 §3.2"
    assert latest[0]["at"].startswith("2027-09-30T22:00:00")  # 1 October 2027 00:00 Brussels


def test_contract_formed_before_term_ends_were_stored_gets_its_running_term(life: Life) -> None:
    """A contract formed before this release has no stored term end: the daily pass
    stores the end of the term running now (003 §11.1 yearly: formed 10 March 2026, on
    1 June 2027 the running term ends on 10 March 2028), once."""
    from sqlalchemy import update

    from nuages.contracts.models import Contract

    contract_id, _, _ = life.form("virtualsr-svp", local(PARIS, 2026, 3, 10, 11, 0))
    with life.database.unit() as session:
        session.execute(
            update(Contract).where(Contract.id == contract_id).values(term_ends_at=None)
        )
    assert contract_id in life.daily(local(PARIS, 2027, 6, 1, 1, 0))["other"]
    assert life.contract(contract_id).term_ends_at == local(PARIS, 2028, 3, 10, 11, 0)
    assert life.daily(local(PARIS, 2027, 6, 1, 2, 0))["acts"] == 0

"""Every item is billed for every period it was present, whatever the run order
(issue 9.2: revenue lost on the first day of an invoiced period)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from nuages.contracts.offers import OfferRegistry
from nuages.invoicing.models import Invoice, InvoiceLine
from nuages.invoicing.periods import Period, full_period
from nuages.invoicing.pricing import Billed, Item, price_period
from nuages.kernel.db import Database
from nuages.kernel.money import round_cents

from .factories import Billing, documents_of, run_at, utc

D = Decimal
PARIS = ZoneInfo("Europe/Paris")
PRICE = D("45.00")  # axantis-cloud-vm-avance, avance-2-4, per month (net)


def _billed(database: Database, key: str) -> list[tuple[dt.date, dt.date, Decimal]]:
    """(start, end, net) of every invoice line billing the item ``key``, by start."""
    out = []
    with database.unit() as session:
        rows = session.execute(
            select(InvoiceLine)
            .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
            .where(Invoice.kind == "invoice", InvoiceLine.meta.like(f'%"{key}"%'))
        ).scalars()
        for line in rows:
            if json.loads(line.meta).get("src") == key:
                assert line.period_start is not None and line.period_end is not None
                out.append((line.period_start, line.period_end, line.net_amount))
    return sorted(out)


def test_regression_vm_created_on_the_first_day_after_its_invoice_is_billed(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """9.2: axantis-cloud-vm-avance (in advance, monthly, Europe/Paris) formed 1 December
    with VM A; December is invoiced on 1 December at 07:00 (Paris) with A only; VM B is
    created at 11:00 the same day. B used to be lost for December (the catch-up only
    took items started strictly after the period's start). January's invoice now bills
    A 45.00, B 45.00 and B's December 45.00 × 31/31 = 45.00: 135.00 net, 162.00 with 20 %
    VAT; February bills A and B once each (90.00), December never again."""
    client = billing.client()
    contract = billing.contract("axantis-cloud-vm-avance", client, utc(2026, 11, 30, 23))
    billing.vm(contract, "avance-2-4", utc(2026, 12, 1, 5), name="a")
    run_at(database, offers, utc(2026, 12, 1, 6))
    vm_b = billing.vm(contract, "avance-2-4", utc(2026, 12, 1, 10), name="b")
    run_at(database, offers, utc(2027, 1, 1, 6))
    run_at(database, offers, utc(2027, 2, 1, 6))
    (december, _), (january, lines), (february, _) = documents_of(database, contract)
    assert december.total_net == D("45.00")
    assert (january.total_net, january.grand_total) == (D("135.00"), D("162.00"))
    assert sorted((x.kind, x.net_amount) for x in lines) == [
        ("prorata", D("45.00")),
        ("vm", D("45.00")),
        ("vm", D("45.00")),
    ]
    assert any("prorata du 01/12/2026 au 31/12/2026" in x.description for x in lines)
    assert february.total_net == D("90.00")
    assert _billed(database, f"vm:{vm_b}") == [
        (dt.date(2026, 12, 1), dt.date(2027, 1, 1), D("45.00")),
        (dt.date(2027, 1, 1), dt.date(2027, 2, 1), D("45.00")),
        (dt.date(2027, 2, 1), dt.date(2027, 3, 1), D("45.00")),
    ]


def test_regression_contract_line_since_the_first_day_after_its_invoice_is_billed(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """9.2: cloudbizz (001 §4.2: 39.00 per user and month, in advance, Europe/Brussels)
    formed 1 December with 1 user, invoiced that day; staff then record a line of 11
    users since 1 December. Its December used to be lost (11 × 39.00 = 429.00). January
    bills 1 × 39.00 + 11 × 39.00 + the December catch-up 429.00 = 897.00 of user lines;
    12 users are in the 10–49 tier (5 %): −44.85; net 852.15."""
    client = billing.client("Client SPRL", country="BE")
    contract = billing.contract("cloudbizz", client, utc(2026, 11, 30, 23))
    billing.line(contract, "desktop-std", dt.date(2026, 12, 1), quantity=D(1))
    run_at(database, offers, utc(2026, 12, 1, 6))
    billing.line(contract, "desktop-std", dt.date(2026, 12, 1), quantity=D(11))
    run_at(database, offers, utc(2027, 1, 1, 6))
    _, (january, lines) = documents_of(database, contract)
    prorata = [x for x in lines if x.kind == "prorata"]
    assert [(x.net_amount, x.period_start, x.period_end) for x in prorata] == [
        (D("429.00"), dt.date(2026, 12, 1), dt.date(2027, 1, 1))
    ]
    assert [x.net_amount for x in lines if x.kind == "user_discount"] == [D("-44.85")]
    assert january.total_net == D("852.15")


@st.composite
def _scenario(draw: st.DrawFn) -> tuple[dt.datetime, list[dt.datetime]]:
    """VM B's creation moment (December to mid-February) and the runs' moments (any
    days of December to February at any hour, then 1 March)."""
    start = utc(2026, 11, 30, 23)  # 1 December 00:00 in Paris
    created = start + dt.timedelta(hours=draw(st.integers(1, 75 * 24)))
    days = draw(st.lists(st.integers(0, 89), max_size=6, unique=True))
    runs = sorted(start + dt.timedelta(days=d, hours=draw(st.integers(1, 23))) for d in days)
    return created, [*runs, utc(2027, 3, 1, 6)]


def test_regression_every_item_billed_for_every_period_whatever_the_run_order(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """9.2, property (hypothesis, real database): VM A runs from formation on 1 December;
    VM B is created at a random moment; runs happen on random days at random hours, and
    on 1 March. Afterwards each month B was present in is billed exactly once for the
    days it was present: 45.00 × days / days of the month, to the cent, on whichever
    invoice (its own in advance, or a catch-up on a later one); March in full, and A
    45.00 per month, four times."""

    @given(_scenario())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    def check(scenario: tuple[dt.datetime, list[dt.datetime]]) -> None:
        created, moments = scenario
        client = billing.client()
        contract = billing.contract("axantis-cloud-vm-avance", client, utc(2026, 11, 30, 23))
        vm_a = billing.vm(contract, "avance-2-4", utc(2026, 11, 30, 23) + dt.timedelta(minutes=1))
        vm_b: str | None = None
        for moment in moments:
            if vm_b is None and created < moment:
                vm_b = billing.vm(contract, "avance-2-4", created)
            report = run_at(database, offers, moment, contract_ids=[contract])
            assert not report.problems, report.problems
        assert vm_b is not None
        first = created.astimezone(PARIS).date()
        expected = []
        for start, end in (
            (dt.date(2026, 12, 1), dt.date(2027, 1, 1)),
            (dt.date(2027, 1, 1), dt.date(2027, 2, 1)),
            (dt.date(2027, 2, 1), dt.date(2027, 3, 1)),
            (dt.date(2027, 3, 1), dt.date(2027, 4, 1)),
        ):
            lo = max(start, first)
            if lo < end:
                days, full = (end - lo).days, (end - start).days
                expected.append((lo, end, round_cents(PRICE * days / full)))
        assert _billed(database, f"vm:{vm_b}") == expected
        assert [x[2] for x in _billed(database, f"vm:{vm_a}")] == [PRICE] * 4

    check()


def test_regression_upgrade_on_the_first_day_after_its_invoice_costs_the_difference(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """9.2 with 003 §14.3: virtualsr-svp, SVP S (59.00 VAT included) since 1 March,
    invoiced for March and, on 1 April, for April; staff then record the upgrade to
    SVP M (109.00) from 1 April. April's difference used to be lost (the upgrade starts
    on the period's first day); May now bills SVP M 109.00 and the difference for
    April's 30 days of 30: (109.00 − 59.00) × 30/30 = 50.00, VAT included."""
    client = billing.client()
    contract = billing.contract("virtualsr-svp", client, utc(2026, 2, 28, 23))
    small = billing.line(contract, "svp-s", dt.date(2026, 3, 1))
    run_at(database, offers, utc(2026, 3, 1, 6))
    run_at(database, offers, utc(2026, 4, 1, 6))
    billing.line(contract, "svp-m", dt.date(2026, 4, 1), replaces_id=small)
    run_at(database, offers, utc(2026, 5, 1, 6))
    _, (_, april), (_, may) = documents_of(database, contract)
    assert [(x.kind, x.gross_amount) for x in april] == [("item", D("59.00"))]
    assert [(x.kind, x.gross_amount) for x in may] == [
        ("item", D("109.00")),
        ("upgrade", D("50.00")),
    ]


def test_regression_invoices_issued_before_lines_named_their_item_keep_the_old_rule(
    offers: OfferRegistry,
) -> None:
    """9.2, legacy invoices (issued before lines named their item, so invoice lines are
    append-only and keep no ``meta.src``): December was invoiced with VM A. VM C, from
    10 December, is caught up from that day (45.00 × 22/31 = 31.935… → 31.94); A is
    not billed again for December. When January was a legacy invoice too, its old
    catch-up already billed C, and February bills nothing for December."""
    offer = offers.current("axantis-cloud-vm-avance")
    december = Period(
        dt.date(2026, 12, 1), dt.date(2027, 1, 1), *full_period(dt.date(2026, 12, 1), "month")
    )
    january = Period(
        dt.date(2027, 1, 1), dt.date(2027, 2, 1), *full_period(dt.date(2027, 1, 1), "month")
    )
    february = Period(
        dt.date(2027, 2, 1), dt.date(2027, 3, 1), *full_period(dt.date(2027, 2, 1), "month")
    )
    a = Item("avance-2-4", D(1), dt.date(2026, 12, 1), vm_id="a", key="vm:a")
    c = Item("avance-2-4", D(1), dt.date(2026, 12, 10), vm_id="c", key="vm:c")
    lines = price_period(offer, january, [Billed(december, legacy=True)], [a, c], timing="advance")
    assert sorted((x.kind, x.amount) for x in lines) == [
        ("prorata", D("31.94")),
        ("vm", D("45.00")),
        ("vm", D("45.00")),
    ]
    done = [Billed(december, legacy=True, next_legacy=True), Billed(january, legacy=True)]
    lines = price_period(offer, february, done, [a, c], timing="advance")
    assert sorted((x.kind, x.amount) for x in lines) == [("vm", D("45.00")), ("vm", D("45.00"))]

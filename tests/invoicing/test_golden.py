"""One golden invoice per seed offer, amounts worked by hand in each docstring.

Every XML is checked against the Factur-X EN16931 XSD (``documents_of``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from nuages.billing import ledger, metering
from nuages.billing.models import EntryKind, LedgerEntry
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.db import Database

from .factories import Billing, documents_of, run_at, utc

D = Decimal


def _nets(lines: list) -> list[Decimal]:
    return [x.net_amount for x in lines]


def test_001_s4_golden_cloudbizz_users_tier_and_clawback(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """001 §4.2–4.4: monthly invoice, per subscribed user with tier discounts clawed back.

    January (12 users, tier 10–49 at 5 %): server M 120.00 + 12 × 39.00 = 468.00
    − 5 % × 468.00 = −23.40 → net 564.60; VAT 21 % = 118.566 → 118.57; total 683.17.
    Due 15 days after receipt (001 §4.1; e-mailed on 1 January, no acceptance recorded, so
    received on 2 January, SPEC §17) → 17 January; undisputed after 8 days (001 §4.4) →
    the window ends at the end of 10 January.

    February (8 users, tier 1–9 at 0 %): 120.00 + 8 × 39.00 = 312.00, no discount, and
    the January discount the 12-user tier gave is billed back (001 §4.3: the tier was not
    kept during the 12-month minimum subscription): +23.40 → net 455.40; VAT 95.634 →
    95.63; total 551.03.
    """
    client = billing.client("Bureau Dupont SPRL", country="BE", vat=None)
    formed = utc(2025, 12, 31, 23)  # 1 January 2026, 00:00 in Brussels
    contract = billing.contract("cloudbizz", client, formed)
    billing.vm(contract, "server-m", formed, name="app")
    billing.line(
        contract, "desktop-std", dt.date(2026, 1, 1), quantity=D(12), until=dt.date(2026, 2, 1)
    )
    billing.line(contract, "desktop-std", dt.date(2026, 2, 1), quantity=D(8))

    report = run_at(database, offers, utc(2026, 1, 1, 8))
    assert not report.problems, report.problems
    [(january, lines)] = documents_of(database, contract)
    # The Belgian seller of cloudbizz's provider (tests/data/sellers/belgium.toml) numbers
    # its own series.
    assert january.number == "FB-2026-000001"
    assert _nets(lines) == [D("120.00"), D("468.00"), D("-23.40")]
    assert [x.kind for x in lines] == ["vm", "users", "user_discount"]
    assert lines[2].quantity == D(-1) and lines[2].unit_price == D("23.40")  # BR-27
    assert (january.total_net, january.tax_total, january.grand_total) == (
        D("564.60"),
        D("118.57"),
        D("683.17"),
    )
    assert january.due_date == dt.date(2026, 1, 17)
    assert january.dispute_until == utc(2026, 1, 10, 23)  # 11 January 00:00 Brussels
    # A Belgian seller: its KBO/BCE number (scheme 0208), no SIREN (0002).
    assert '<ram:ID schemeID="0208">0876543270</ram:ID>' in january.xml
    assert 'schemeID="0002"' not in january.xml
    assert "8 % l'an" in january.notes and "tout mois commencé" in january.notes

    run_at(database, offers, utc(2026, 2, 1, 8))
    _, (february, lines) = documents_of(database, contract)
    assert february.number == "FB-2026-000002"
    assert [x.kind for x in lines] == ["vm", "users", "user_clawback"]
    assert _nets(lines) == [D("120.00"), D("312.00"), D("23.40")]
    assert (february.total_net, february.tax_total, february.grand_total) == (
        D("455.40"),
        D("95.63"),
        D("551.03"),
    )
    # A third month at the same tier claws back nothing more.
    run_at(database, offers, utc(2026, 3, 1, 8))
    march = documents_of(database, contract)[2][1]
    assert [x.kind for x in march] == ["vm", "users"]


def test_003_s14_1_golden_virtualsr_svp_quarterly_prices_vat_included(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """003 §14.1: prices all taxes included, payable in advance, quarterly at the
    client's option; the first quarter prorata from formation on 10 February 2026.

    Q1 2026 has 90 days; 10 February → 1 April is 50 days. VAT-included amounts:
    SVP M 109.00 × 3 × 50/90 = 181.666… → 181.67; SVP-MAILS 15 × 3 × 50/90 = 25.00;
    DATAS 10 × 3 × 50/90 = 16.666… → 16.67; together 223.34.
    Net N with N + round(20 % × N) = 223.34: N = 186.12 (VAT 37.224 → 37.22).
    Split over the lines (223.34/1.2 per line, leftover cent to the largest remainder):
    151.39 + 20.84 + 13.89 = 186.12. Due 30 days after issue (003 §14.5) → 12 March.

    Q2: 327.00 + 45.00 + 30.00 = 402.00 VAT included → net 335.00, VAT 67.00.
    """
    client = billing.client("Cabinet Martin")
    formed = utc(2026, 2, 10, 9)
    contract = billing.contract("virtualsr-svp", client, formed)
    billing.profile(
        contract, period="quarter", address="2 rue du Port", postcode="13002", city="Marseille"
    )
    billing.vm(contract, "svp-m", formed, name="web")
    billing.line(contract, "svp-mails", dt.date(2026, 2, 10))
    billing.line(contract, "datas-backup", dt.date(2026, 2, 10))

    run_at(database, offers, utc(2026, 2, 10, 12))
    [(q1, lines)] = documents_of(database, contract)
    assert [x.gross_amount for x in lines] == [D("181.67"), D("25.00"), D("16.67")]
    assert _nets(lines) == [D("151.39"), D("20.84"), D("13.89")]
    assert (q1.total_net, q1.tax_total, q1.grand_total) == (D("186.12"), D("37.22"), D("223.34"))
    assert (q1.period_start, q1.period_end) == (dt.date(2026, 2, 10), dt.date(2026, 4, 1))
    assert q1.due_date == dt.date(2026, 3, 12)
    assert q1.dispute_until is None  # 003 sets no dispute window
    assert q1.payment_means == "transfer"  # 003 §14.2: the first payment may be a transfer
    assert "Prix catalogue toutes taxes comprises" in q1.notes

    run_at(database, offers, utc(2026, 4, 1, 6))
    _, (q2, lines) = documents_of(database, contract)
    assert _nets(lines) == [D("272.50"), D("37.50"), D("25.00")]
    assert (q2.total_net, q2.tax_total, q2.grand_total) == (D("335.00"), D("67.00"), D("402.00"))
    assert q2.payment_means == "direct_debit"  # 003 §14.2: then direct debit only
    assert "<ram:TypeCode>59</ram:TypeCode>" in q2.xml


def test_003_s14_1_golden_virtualsr_pcv_monthly(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """003 §14.1 (PCV desktops), monthly, prices VAT included.

    vPREMIUM VM 59.00 + 5 × vSTANDARD 35.00 = 175.00 + maintenance 49.00 = 283.00 TTC.
    N + round(0.2 N) = 283.00 → N = 235.83 (VAT 47.166 → 47.17). Lines 59/1.2 = 49.17,
    175/1.2 = 145.83, 49/1.2 = 40.83 (sum 235.83, nothing left over).
    """
    client = billing.client("Atelier Graphique")
    formed = utc(2026, 2, 28, 23)  # 1 March 00:00 in Paris
    contract = billing.contract("virtualsr-pcv", client, formed)
    billing.vm(contract, "vpremium", formed, name="poste-1")
    billing.line(contract, "vstandard", dt.date(2026, 3, 1), quantity=D(5))
    billing.line(contract, "maintenance-4h", dt.date(2026, 3, 1))

    run_at(database, offers, utc(2026, 3, 1, 7))
    [(march, lines)] = documents_of(database, contract)
    assert _nets(lines) == [D("49.17"), D("145.83"), D("40.83")]
    assert [x.gross_amount for x in lines] == [D("59.00"), D("175.00"), D("49.00")]
    assert lines[1].quantity == D(5) and lines[1].unit_price == D("29.166")
    assert (march.total_net, march.tax_total, march.grand_total) == (
        D("235.83"),
        D("47.17"),
        D("283.00"),
    )
    assert march.due_date == dt.date(2026, 3, 31)


def test_004_s8_golden_optima_syntec_revision_at_anniversary(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """004 §8.1–8.2: monthly in advance by direct debit, Syntec revision at the
    anniversary; a run catches up every month not invoiced yet.

    Formed 1 July 2025; Syntec last known at start: June 2025 = 300.0; at the first
    anniversary (1 July 2026): June 2026 = 309.0 → factor 1.03; D4s 160.00 → 164.80.
    The run of 1 July 2026 issues July 2025 … July 2026: twelve at 160.00 (VAT 32.00,
    total 192.00) and July 2026 at 164.80 (VAT 32.96, total 197.76), numbered 1–13.
    Due "dans le cours du mois suivant l'émission" → 31 August 2026; disputes within
    15 days of issue → last day 16 July 2026.
    """
    client = billing.client("Optima Client SAS")
    formed = utc(2025, 7, 1, 8)
    contract = billing.contract("optima-cloud-azure", client, formed)
    billing.vm(contract, "azure-d4s", formed, name="sql")
    billing.profile(
        contract,
        mandate={
            "mandate_id": "OPT-0001",
            "signed_on": "2025-06-20",
            "iban": "FR7630006000011234567890189",
            "bic": "AGRIFRPPXXX",
        },
    )
    billing.index("syntec", "2025-06", "300.0")
    billing.index("syntec", "2026-05", "306.0")
    billing.index("syntec", "2026-06", "309.0")

    report = run_at(database, offers, utc(2026, 7, 1, 6))
    assert not report.problems, report.problems
    docs = documents_of(database, contract)
    assert [d.number for d, _ in docs] == [f"F-2026-{n:06d}" for n in range(1, 14)]
    assert {d.grand_total for d, _ in docs[:12]} == {D("192.00")}
    july, lines = docs[12]
    assert (july.total_net, july.tax_total, july.grand_total) == (
        D("164.80"),
        D("32.96"),
        D("197.76"),
    )
    assert "1.030000" in lines[0].meta and "syntec 2026-06 309" in lines[0].meta
    assert july.due_date == dt.date(2026, 8, 31)
    assert july.dispute_until == utc(2026, 7, 16, 22)  # 17 July 00:00 in Paris
    assert july.payment_means == "direct_debit"
    assert "<ram:DirectDebitMandateID>OPT-0001</ram:DirectDebitMandateID>" in july.xml


def test_000_s13_golden_isstar_prepaid_consumption(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """000 §13.1–13.2: a prepaid account's monthly consumption invoice, from the ledger.

    Billing meters VM M (0.048/h) for 24 h, 30 March 08:00 → 31 March 08:00 UTC:
    1.152 → 1.15; VM S (0.015/h) from 31 March 20:00 UTC: the hours starting before
    the end of March in Brussels (22:00 UTC) are 2 → 0.030 → 0.03. Net 1.18; VAT 21 %
    on top (000 §13.1) = 0.2478 → 0.25; total 1.43, all paid by the account (BT-113
    1.43, due 0.00): the ledger debited 1.18 as it ran, the invoice debits the 0.25 VAT.
    """
    client = billing.client("Start-up BVBA", country="BE")
    formed = utc(2026, 2, 28, 23)  # 1 March 00:00 in Brussels
    contract_id = billing.contract("isstar-cloud", client, formed)
    with database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        account = ledger.ensure_account(session, contract, offers.for_contract(session, contract))
        ledger.post(session, account, kind=EntryKind.TOPUP, amount=D(100), key="golden-topup")
    billing.vm(contract_id, "vm-m", utc(2026, 3, 30, 8), utc(2026, 3, 31, 8), name="build")
    billing.vm(contract_id, "vm-s", utc(2026, 3, 31, 20), name="web")
    metering.run(database.unit, utc(2026, 4, 1, 0), registry=offers)

    report = run_at(database, offers, utc(2026, 4, 1, 6))
    assert not report.problems, report.problems
    [(march, lines)] = documents_of(database, contract_id)
    assert sorted(_nets(lines)) == [D("0.03"), D("1.15")]
    assert {x.unit_code for x in lines} == {"HUR"}
    assert (march.total_net, march.tax_total, march.grand_total) == (
        D("1.18"),
        D("0.25"),
        D("1.43"),
    )
    assert (march.prepaid_amount, march.due_payable, march.state) == (D("1.43"), D(0), "paid")
    assert march.due_date is None
    with database.unit() as session:
        vat = session.execute(
            select(LedgerEntry.amount).where(LedgerEntry.idempotency_key.like("invoicing-vat:%"))
        ).scalar_one()
    assert vat == D("-0.25")
    # April's invoice will not count March's VAT debit as consumption.
    assert not run_at(database, offers, utc(2026, 4, 1, 7)).issued

"""Issue #9.6: invoices state the buyer's postal address (EN 16931 BG-8: BT-50..55;
French C. com. art. L441-9), and are refused, with the list of what is missing, when
the buyer has none."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from nuages.accounts.models import Client
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import pdf
from nuages.invoicing.models import Invoice
from nuages.kernel.db import Database

from .factories import Billing, documents_of, run_at, utc

NO_ADDRESS = ("", "", "")


def _buyer_xml(xml: str) -> str:
    return xml.split("<ram:BuyerTradeParty>")[1].split("</ram:BuyerTradeParty>")[0]


def test_regression_invoices_without_a_buyer_address(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A client without an address gets no invoice: the run reports, for that contract,
    the address line (BT-50), postcode (BT-53) and city (BT-52) missing, and goes on
    with the other contract, whose invoice carries the buyer's address in the XML
    (BT-50, BT-51, BT-52, BT-53, BT-54, BT-55) and on the PDF."""
    bare = billing.client("Sans Adresse SARL", address=NO_ADDRESS)
    housed = billing.client("Société Lyonnaise SARL", address=("3 quai Rambaud", "69002", "Lyon"))
    with database.unit() as session:
        session.execute(
            update(Client)
            .where(Client.id == housed)
            .values(address_line2="Bâtiment B", region="Auvergne-Rhône-Alpes")
        )
    contracts = {}
    for client_id in (bare, housed):
        contracts[client_id] = billing.contract(
            "optima-cloud-azure", client_id, utc(2026, 2, 28, 23)
        )
        billing.line(contracts[client_id], "azure-b2s", dt.date(2026, 3, 1))

    report = run_at(database, offers, utc(2026, 3, 1, 6))
    [problem] = report.problems
    assert problem["contract_id"] == contracts[bare]
    for missing in ("address line (BT-50)", "postcode (BT-53)", "city (BT-52)"):
        assert missing in problem["problem"]
    assert "PATCH /api/v1/clients" in problem["problem"]
    assert [d["contract_id"] for d in report.issued] == [contracts[housed]]
    with database.unit() as session:
        assert (
            session.execute(
                select(func.count()).select_from(Invoice).where(Invoice.client_id == bare)
            ).scalar_one()
            == 0
        )

    [(invoice, _)] = documents_of(database, contracts[housed])  # XSD-checked
    buyer = _buyer_xml(invoice.xml)
    assert (
        "<ram:PostalTradeAddress>"
        "<ram:PostcodeCode>69002</ram:PostcodeCode>"
        "<ram:LineOne>3 quai Rambaud</ram:LineOne>"
        "<ram:LineTwo>Bâtiment B</ram:LineTwo>"
        "<ram:CityName>Lyon</ram:CityName>"
        "<ram:CountryID>FR</ram:CountryID>"
        "<ram:CountrySubDivisionName>Auvergne-Rhône-Alpes</ram:CountrySubDivisionName>"
        "</ram:PostalTradeAddress>"
    ) in "".join(line.strip() for line in buyer.splitlines())
    import io

    from pypdf import PdfReader

    text = PdfReader(io.BytesIO(pdf.render_stored(database, invoice.id))).pages[0].extract_text()
    assert "3 quai Rambaud" in text and "Bâtiment B" in text and "69002 Lyon" in text


def test_invoicing_profile_address_stands_in_for_the_clients(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A contract's invoicing profile address (set by staff or the owner) is the billing
    address of that contract's invoices, even for a client without its own."""
    bare = billing.client("Sans Adresse SARL", address=NO_ADDRESS)
    contract = billing.contract("optima-cloud-azure", bare, utc(2026, 2, 28, 23))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    billing.profile(contract, address="2 rue du Port", postcode="13002", city="Marseille")
    report = run_at(database, offers, utc(2026, 3, 1, 6))
    assert not report.problems
    [(invoice, _)] = documents_of(database, contract)
    buyer = _buyer_xml(invoice.xml)
    assert "<ram:LineOne>2 rue du Port</ram:LineOne>" in buyer
    assert "<ram:PostcodeCode>13002</ram:PostcodeCode>" in buyer


def test_dry_run_previews_say_what_the_buyer_lacks(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A dry run still previews the invoice of a client without address, and lists why
    the real run would refuse it."""
    bare = billing.client("Sans Adresse SARL", address=("1 rue Sans Code", "", "Paris"))
    contract = billing.contract("optima-cloud-azure", bare, utc(2026, 2, 28, 23))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    report = run_at(database, offers, utc(2026, 3, 1, 6), dry_run=True)
    [preview] = report.previews
    [refused] = preview["refused"]
    assert "postcode (BT-53)" in refused and "city" not in refused.split("—")[0]

"""Issue #9.5: the seller on invoices and SEPA files is the offer's provider's own
identity (``sellers/*.toml``), never the built-in example; VAT follows its country.

Test identities are in ``tests/data/sellers`` (``NUAGES_SELLERS_DIR`` in conftest):
``belgium`` invoices for IS.Star sprl and Net Computer Group SA, ``france`` for Axantis,
Virtual SR SARL and Optima DSI SARL. Every XML is XSD-checked (``documents_of``).
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
import xmlschema
from sqlalchemy import func, select

from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import sepa
from nuages.invoicing.models import Invoice
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.settings import Settings
from nuages.sellers.identity import (
    SellerFileError,
    SellerNotConfigured,
    load_sellers,
)
from tests.conftest import SELLERS_DIR

from .factories import SYSTEM, Billing, documents_of, run_at, utc

D = Decimal
PAIN_008 = Path(sepaxml.__file__).parent / "schemas" / "pain.008.001.02.xsd"
MANDATE = {
    "mandate_id": "MANDAT-S-0001",
    "signed_on": "2026-01-20",
    "iban": "FR7630006000011234567890189",
    "bic": "AGRIFRPPXXX",
}
# A second French entity for Optima DSI SARL's offer (a provider running its own brand).
OPTIMA = """\
[seller]
providers = ["Optima DSI SARL"]
name = "Optima Test SARL"
legal_form = "SARL au capital de 8 000 €, RCS Rennes 913 572 467"
address = "2 rue du Test"
postcode = "35000"
city = "Rennes"
country = "FR"
company_id = "913 572 467"
vat_number = "FR67913572467"
email = "compta@optima-test.example"
iban = "FR7630004000000001234567845"
bic = "BNPAFRPP"
sepa_creditor_id = "FR53ZZZ913572"
timezone = "Europe/Paris"
invoice_series = "OPT"
credit_note_series = "OPTAV"
"""


def _count(database: Database) -> int:
    with database.unit() as session:
        return int(session.execute(select(func.count()).select_from(Invoice)).scalar_one())


def _settings(database: Database, folder: Path) -> Settings:
    return Settings(database_url=database.url, sellers_dir=folder)


def test_regression_every_invoice_comes_from_the_example_seller(
    database: Database, offers: OfferRegistry, billing: Billing
) -> None:
    """A Belgian business client of cloudbizz (provider Net Computer Group SA, Belgian
    seller) is charged Belgian VAT, not reverse-charged by a French example seller:
    server M 120.00 + 21 % = 25.20 → 145.20, category S; the XML names the Belgian
    seller with its KBO (scheme 0208) and BE VAT number, and its own series. A French
    business client of the same offer is intra-EU B2B across countries: reverse charge
    (AE), no VAT."""
    belgian = billing.client("Bureau Dupont SRL", country="BE", vat="BE0403170701")
    french = billing.client("Cabinet Martin SAS", country="FR", vat="FR40303265045")
    formed = utc(2025, 12, 31, 23)  # 1 January 2026, 00:00 in Brussels
    contracts = {}
    for client_id in (belgian, french):
        contracts[client_id] = billing.contract("cloudbizz", client_id, formed)
        billing.vm(contracts[client_id], "server-m", formed, name="app")
    report = run_at(database, offers, utc(2026, 1, 1, 8))
    assert not report.problems, report.problems

    [(invoice, lines)] = documents_of(database, contracts[belgian])  # XSD-checked
    # The Belgian seller's own series (contracts are run in id order: 1 or 2).
    assert invoice.number in ("FB-2026-000001", "FB-2026-000002")
    assert invoice.vat_regime == "standard"
    assert [(x.vat_category, x.vat_rate) for x in lines] == [("S", D("21"))]
    assert (invoice.total_net, invoice.tax_total, invoice.grand_total) == (
        D("120.00"),
        D("25.20"),
        D("145.20"),
    )
    xml = invoice.xml
    seller_xml = xml.split("<ram:SellerTradeParty>")[1].split("</ram:SellerTradeParty>")[0]
    assert "<ram:Name>Nuages Test Belgique SA</ram:Name>" in seller_xml
    assert '<ram:ID schemeID="0208">0876543270</ram:ID>' in seller_xml
    assert '<ram:ID schemeID="VA">BE0876543270</ram:ID>' in seller_xml
    assert "<ram:CountryID>BE</ram:CountryID>" in seller_xml
    assert "Exemple Cloud" not in xml and "FR11123456782" not in xml
    assert "Autoliquidation" not in xml

    [(crossed, crossed_lines)] = documents_of(database, contracts[french])
    assert {crossed.number, invoice.number} == {"FB-2026-000001", "FB-2026-000002"}
    assert crossed.vat_regime == "reverse_charge" and crossed.tax_total == D("0.00")
    assert [x.vat_category for x in crossed_lines] == ["AE"]
    assert "Autoliquidation" in crossed.xml


def test_regression_example_identity_refuses_real_invoices_dry_run_works(
    database: Database, offers: OfferRegistry, billing: Billing, tmp_path: Path
) -> None:
    """Without a seller file for the offer's provider, only the example identity is
    there: a real run issues nothing for the contract and reports how to configure it,
    the run going on with the others; a dry run still previews the invoice and says it
    would be refused. A seller file that copies the example values is refused too."""
    empty = tmp_path / "sellers"
    empty.mkdir()
    client_id = billing.client("Société Lyonnaise SARL")
    contract = billing.contract("optima-cloud-azure", client_id, utc(2026, 2, 28, 23))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))

    dry = run_at(
        database, offers, utc(2026, 3, 1, 6), dry_run=True, settings=_settings(database, empty)
    )
    [preview] = dry.previews
    assert preview["seller"] == "example" and preview["grand_total"] == D("66.00")
    assert "no seller identity" in preview["refused"][0]

    report = run_at(database, offers, utc(2026, 3, 1, 6), settings=_settings(database, empty))
    assert report.issued == [] and _count(database) == 0
    [problem] = report.problems
    assert problem["contract_id"] == contract
    text = problem["problem"]
    assert "'Optima DSI SARL'" in text and "real invoices" in text
    assert f"{empty}/<seller>.toml" in text and "providers" in text and "README" in text

    copied = tmp_path / "copied"
    copied.mkdir()
    example = (
        OPTIMA.replace("Optima Test SARL", "Exemple Cloud SAS")
        .replace("FR67913572467", "FR11123456782")
        .replace('company_id = "913 572 467"', 'company_id = "123456782"')
    )
    (copied / "optima.toml").write_text(example, "utf-8")
    report = run_at(database, offers, utc(2026, 3, 1, 6), settings=_settings(database, copied))
    assert report.issued == [] and "copies the example values" in report.problems[0]["problem"]

    # Configured: the same run issues the invoice, from that seller, in its series.
    own = tmp_path / "own"
    own.mkdir()
    (own / "optima.toml").write_text(OPTIMA, "utf-8")
    report = run_at(database, offers, utc(2026, 3, 1, 6), settings=_settings(database, own))
    assert not report.problems and [d["number"] for d in report.issued] == ["OPT-2026-000001"]
    [(invoice, _)] = documents_of(database, contract)
    assert '<ram:ID schemeID="0002">913572467</ram:ID>' in invoice.xml


def test_regression_sepa_files_name_the_offers_seller(
    database: Database, offers: OfferRegistry, billing: Billing, tmp_path: Path
) -> None:
    """The pain.008 of direct-debit invoices names, as creditor, the seller of the
    contracts' offer's provider (its name, IBAN, BIC, creditor id), XSD-valid; with
    invoices of two sellers due, the batch asks which seller to collect for; with only
    the example identity, no file is made."""
    folder = tmp_path / "sellers"
    shutil.copytree(SELLERS_DIR, folder)
    (folder / "optima.toml").write_text(OPTIMA, "utf-8")
    france = (folder / "france.toml").read_text("utf-8")
    (folder / "france.toml").write_text(france.replace(', "Optima DSI SARL"', ""), "utf-8")
    settings = _settings(database, folder)
    azure = billing.client("Société Lyonnaise SARL")
    contract = billing.contract("optima-cloud-azure", azure, utc(2026, 2, 28, 23))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    billing.profile(contract, mandate=MANDATE)
    svp = billing.client("Cabinet Martin")
    other = billing.contract("virtualsr-svp", svp, utc(2026, 2, 28, 23))
    billing.line(other, "svp-mails", dt.date(2026, 3, 1))
    billing.profile(other, mandate={**MANDATE, "mandate_id": "MANDAT-S-0002"})
    report = run_at(database, offers, utc(2026, 3, 1, 6), settings=settings)
    assert not report.problems and len(report.issued) == 2

    collect = dt.date(2026, 4, 28)
    with frozen_at(utc(2026, 3, 2)), database.unit() as session:
        with pytest.raises(ValidationFailed, match="sellers france, optima"):
            sepa.create_batch(
                session, SYSTEM, collect, dt.date(2026, 4, 30), settings, registry=offers
            )
        with pytest.raises(ValidationFailed, match=r"no seller 'optimal'.*known: belgium"):
            sepa.create_batch(
                session, SYSTEM, collect, None, settings, registry=offers, seller="optimal"
            )
        batch, _ = sepa.create_batch(
            session,
            SYSTEM,
            collect,
            dt.date(2026, 4, 30),
            settings,
            registry=offers,
            seller="optima",
        )
        xml = batch.xml
    assert batch.count == 1
    xmlschema.XMLSchema(str(PAIN_008)).validate(xml)
    creditor = xml.split("<Cdtr>")[1]
    assert creditor.startswith("<Nm>Optima Test SARL</Nm>")
    assert "<IBAN>FR7630004000000001234567845</IBAN>" in xml and "FR53ZZZ913572" in xml
    assert "FR72ZZZ123456" not in xml and "Exemple" not in xml

    empty = tmp_path / "none"
    empty.mkdir()
    with frozen_at(utc(2026, 3, 2)), database.unit() as session:
        with pytest.raises(SellerNotConfigured, match="no seller identity"):
            sepa.create_batch(
                session, SYSTEM, collect, None, _settings(database, empty), registry=offers
            )


def test_seller_vat_rate_must_match_the_offer(
    database: Database, offers: OfferRegistry, billing: Billing, tmp_path: Path
) -> None:
    """The VAT charged is the seller's; an offer stating another rate is a problem for
    staff (terms file or seller file to correct), not a silent choice."""
    folder = tmp_path / "sellers"
    folder.mkdir()
    (folder / "optima.toml").write_text(OPTIMA + 'vat_rate = "8.5"\n', "utf-8")
    client_id = billing.client("Société Lyonnaise SARL")
    contract = billing.contract("optima-cloud-azure", client_id, utc(2026, 2, 28, 23))
    billing.line(contract, "azure-b2s", dt.date(2026, 3, 1))
    report = run_at(database, offers, utc(2026, 3, 1, 6), settings=_settings(database, folder))
    assert report.issued == []
    assert "catalogue.vat_rate = 20 but its seller optima" in report.problems[0]["problem"]


def test_seller_files_are_checked_like_terms_files(tmp_path: Path) -> None:
    """Every problem of a seller file at once, with file, line and key: a VAT number
    failing its checksum, a SIREN that is none, an unknown key; and across files a
    provider or a numbering series claimed twice."""
    bad = OPTIMA.replace("FR67913572467", "FR67913572468").replace(
        'company_id = "913 572 467"', 'company_id = "913572468"'
    )
    (tmp_path / "bad.toml").write_text(bad + "colour = 1\n", "utf-8")
    with pytest.raises(SellerFileError) as caught:
        load_sellers(tmp_path)
    shown = [str(p) for p in caught.value.problems]
    assert any(
        ":10: seller.vat_number: 'FR67913572468' is not a valid VAT number" in p for p in shown
    )
    assert any(":9: seller.company_id: '913572468' is not a SIREN" in p for p in shown)
    assert any(":18: seller.colour: unknown key" in p for p in shown)

    (tmp_path / "bad.toml").unlink()
    (tmp_path / "a.toml").write_text(OPTIMA, "utf-8")
    (tmp_path / "b.toml").write_text(OPTIMA.replace('"OPTAV"', '"BAV"'), "utf-8")
    with pytest.raises(SellerFileError) as caught:
        load_sellers(tmp_path)
    shown = [str(p) for p in caught.value.problems]
    assert any(
        "b.toml:2: seller.providers: 'Optima DSI SARL' is also claimed by" in p for p in shown
    )
    assert any("b.toml:16: seller.invoice_series: 'OPT' is also claimed by" in p for p in shown)


def test_readme_seller_example_is_a_valid_seller_file(tmp_path: Path) -> None:
    """The seller file README.md shows loads as it is, and gives IS.Star sprl's offer
    (isstar-cloud) a Belgian seller charging 21 %."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    start = readme.index("# /var/lib/nuages/sellers/isstar.toml")
    (tmp_path / "isstar.toml").write_text(readme[start : readme.index("```", start)], "utf-8")
    book = load_sellers(tmp_path)
    registry = OfferRegistry.from_directory(Path(__file__).resolve().parents[2] / "offers")
    seller = book.for_offer(registry.current("isstar-cloud"))
    assert (seller.id, seller.country, seller.vat_rate, seller.example) == (
        "isstar",
        "BE",
        D("21"),
        False,
    )
    assert book.for_offer(registry.current("cloudbizz")).example


def test_nuages_up_says_which_offers_are_refused_and_how_to_set_them(tmp_path: Path) -> None:
    """``nuages up`` prints, at start, the offers still on the example identity and
    how to give their provider its identity; with every provider configured, it
    only counts the seller files; an invalid seller file stops it."""
    from nuages import server

    empty = tmp_path / "none"
    empty.mkdir()
    lines = server.seller_notice(Settings(database_url="sqlite://", sellers_dir=empty))
    assert "REFUSED for axantis-cloud-datacenter" in lines[0] and "dry runs work" in lines[0]
    assert "isstar-cloud" in lines[0] and f"{empty}/<seller>.toml" in lines[1]
    lines = server.seller_notice(Settings(database_url="sqlite://", sellers_dir=SELLERS_DIR))
    assert lines == [f"sellers:      2 identity file(s) in {SELLERS_DIR}"]
    (empty / "bad.toml").write_text("[seller]\nname = 1\n", "utf-8")
    with pytest.raises(SellerFileError):
        server.seller_notice(Settings(database_url="sqlite://", sellers_dir=empty))


def test_a_provider_with_several_entities_names_its_offers(tmp_path: Path) -> None:
    """A provider running several entities or brands: a file naming an offer id in
    ``offers`` takes that offer; the provider's other offers go to the file naming the
    provider."""
    shutil.copytree(SELLERS_DIR, tmp_path, dirs_exist_ok=True)
    brand = OPTIMA.replace(
        'providers = ["Optima DSI SARL"]', 'offers = ["axantis-cloud-datacenter"]'
    )
    (tmp_path / "datacenter.toml").write_text(brand, "utf-8")
    book = load_sellers(tmp_path)
    registry = OfferRegistry.from_directory(Path(__file__).resolve().parents[2] / "offers")
    assert book.for_offer(registry.current("axantis-cloud-datacenter")).id == "datacenter"
    assert book.for_offer(registry.current("axantis-cloud-vm-avance")).id == "france"
    assert book.for_offer(registry.current("cloudbizz")).id == "belgium"

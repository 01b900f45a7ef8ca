"""Factur-X / EN 16931 Cross Industry Invoice (CII D16B) XML, built from typed values.

The XML is written element by element in the order the official XSD demands (profile
EN16931, ``urn:cen.eu:en16931:2017``), laid out as lxml would write it; the ``facturx``
library checks it against that XSD (``check``) and embeds it in the PDF/A-3
(``nuages.invoicing.pdf``).
Amounts are written with two decimals, prices and quantities with what they need.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import facturx as facturx_lib

from nuages.invoicing.vat import Totals
from nuages.payments.references import invoice_reference

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}
GUIDELINE = "urn:cen.eu:en16931:2017"

TYPE_CODES = {"invoice": "380", "credit_note": "381"}
# UNTDID 1001 386 "prepayment invoice": a deposit invoice (001 §4.6 (i)) is an invoice
# (numbered, paid, dunned like one) whose BT-3 says it asks for an advance payment.
PREPAYMENT_INVOICE = "386"
# UNTDID 4461 payment means.
PAYMENT_MEANS = {
    "transfer": "58",  # SEPA credit transfer
    "direct_debit": "59",  # SEPA direct debit
    "card": "48",  # bank card
    "cheque": "20",
}


@dataclass(frozen=True)
class Party:
    """A seller or buyer as printed on the document (BG-4 / BG-7)."""

    name: str
    country: str
    address: str = ""
    postcode: str = ""
    city: str = ""
    vat_number: str | None = None
    siren: str | None = None  # French SIREN (scheme 0002), sellers only
    email: str | None = None
    line2: str = ""  # BT-51 / BT-36
    region: str = ""  # country subdivision, BT-54 / BT-39
    # BT-30 legal registration id and its ISO 6523 scheme (0002 SIREN, 0208 KBO/BCE).
    company_id: str | None = None
    company_scheme: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Party:
        """A party from its stored snapshot."""
        return cls(
            name=str(data["name"]),
            country=str(data["country"]),
            address=data.get("address") or "",
            postcode=data.get("postcode") or "",
            city=data.get("city") or "",
            vat_number=data.get("vat_number") or None,
            siren=data.get("siren") or None,
            email=data.get("email") or None,
            line2=data.get("line2") or "",
            region=data.get("region") or "",
            company_id=data.get("company_id") or None,
            company_scheme=data.get("company_scheme") or None,
        )


@dataclass(frozen=True)
class XmlLine:
    """One line as the XML states it (BG-25)."""

    position: int
    item_id: str | None
    description: str
    quantity: Decimal
    unit_code: str
    unit_price: Decimal
    net_amount: Decimal
    vat_category: str
    vat_rate: Decimal
    period_start: dt.date | None = None
    period_end: dt.date | None = None  # exclusive, as stored


@dataclass(frozen=True)
class XmlDocument:
    """Everything the CII XML of one document states."""

    kind: str
    number: str
    issue_date: dt.date
    currency: str
    seller: Party
    buyer: Party
    lines: Sequence[XmlLine]
    totals: Totals
    notes: Sequence[tuple[str, str]]  # (subject code, text)
    payment_terms: str
    due_date: dt.date | None
    payment_means: str | None
    seller_iban: str | None = None
    debtor_iban: str | None = None
    mandate_id: str | None = None
    creditor_id: str | None = None
    contract_reference: str | None = None
    buyer_reference: str | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None  # exclusive
    preceding_number: str | None = None
    preceding_date: dt.date | None = None
    type_code: str | None = None  # BT-3 when not the kind's (386: a deposit invoice)
    # BG-3 of a final invoice: the deposit invoices it deducts (number, issue date).
    deposits: Sequence[tuple[str, dt.date]] = ()


# Text an XML 1.0 document cannot hold: what lxml refuses too ("All strings must be XML
# compatible"), so a legacy name with a control character still fails the document
# (17.2: the run reports that contract and goes on) instead of writing broken XML.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPECIAL = re.compile("[&<>\r]")
_SPECIAL_ATTR = re.compile('[&<>"\r\n\t]')
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;", "\n": "&#10;"}
    | {"\t": "&#9;"}
)
_INDENT = ["\n" + "  " * depth for depth in range(32)]


def _valid(value: str) -> str:
    if _NOT_XML.search(value):
        raise ValueError(
            "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or "
            "control characters"
        )
    return value


def _text(value: str) -> str:
    return value.translate(_TEXT) if _SPECIAL.search(_valid(value)) else value


def _attr(value: str) -> str:
    return value.translate(_ATTR) if _SPECIAL_ATTR.search(_valid(value)) else value


class _Writer:
    """The document written as text, element by element, the way lxml's
    ``tostring(pretty_print=True)`` lays it out (two spaces an indent, ``<a/>`` for an
    empty element): a third of the cost of building an element tree first, for one
    document per contract in a run. Values are escaped here; tags are constants."""

    __slots__ = ("depth", "open_tags", "parts")

    def __init__(self) -> None:
        self.parts: list[str] = ["<?xml version='1.0' encoding='UTF-8'?>"]
        self.open_tags: list[str] = []
        self.depth = 0

    def open(self, tag: str, attrs: str = "") -> None:
        self.parts.append(f"{_INDENT[self.depth]}<{tag}{attrs}>")
        self.open_tags.append(tag)
        self.depth += 1

    def close(self) -> None:
        self.depth -= 1
        self.parts.append(f"{_INDENT[self.depth]}</{self.open_tags.pop()}>")

    def leaf(self, tag: str, text: str, attrs: str = "") -> None:
        """An element holding ``text`` (escaped here)."""
        self.parts.append(f"{_INDENT[self.depth]}<{tag}{attrs}>{_text(text)}</{tag}>")

    def empty(self, tag: str) -> None:
        self.parts.append(f"{_INDENT[self.depth]}<{tag}/>")

    def date(self, tag: str, day: dt.date, prefix: str = "udt") -> None:
        self.open(tag)
        self.leaf(f"{prefix}:DateTimeString", day.strftime("%Y%m%d"), ' format="102"')
        self.close()

    def bytes(self) -> bytes:
        assert not self.open_tags, self.open_tags
        self.parts.append("\n")
        return "".join(self.parts).encode("utf-8")


def _scheme(scheme: str) -> str:
    return f' schemeID="{_attr(scheme)}"'


def _amount(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def _number(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text if text not in ("-0", "") else "0"


def _last_day(end: dt.date) -> dt.date:
    # Stored periods are half-open; EN 16931 states the last day (BT-74, BT-135).
    return end - dt.timedelta(days=1)


def _party(out: _Writer, tag: str, party: Party, *, seller: bool) -> None:
    out.open(tag)
    out.leaf("ram:Name", party.name)
    if seller and party.company_id and party.company_scheme:
        out.open("ram:SpecifiedLegalOrganization")
        out.leaf("ram:ID", party.company_id, _scheme(party.company_scheme))
        out.close()
    elif seller and party.siren:
        out.open("ram:SpecifiedLegalOrganization")
        out.leaf("ram:ID", party.siren, ' schemeID="0002"')
        out.close()
    # CII order: PostcodeCode, LineOne, LineTwo, CityName, CountryID, CountrySubDivisionName.
    out.open("ram:PostalTradeAddress")
    if party.postcode:
        out.leaf("ram:PostcodeCode", party.postcode)
    if party.address:
        out.leaf("ram:LineOne", party.address)
    if party.line2:
        out.leaf("ram:LineTwo", party.line2)
    if party.city:
        out.leaf("ram:CityName", party.city)
    out.leaf("ram:CountryID", party.country)
    if party.region:
        out.leaf("ram:CountrySubDivisionName", party.region)
    out.close()
    if party.email:
        out.open("ram:URIUniversalCommunication")
        out.leaf("ram:URIID", party.email, ' schemeID="EM"')
        out.close()
    if party.vat_number:
        out.open("ram:SpecifiedTaxRegistration")
        out.leaf("ram:ID", party.vat_number, ' schemeID="VA"')
        out.close()
    out.close()


def _line(out: _Writer, line: XmlLine) -> None:
    out.open("ram:IncludedSupplyChainTradeLineItem")
    out.open("ram:AssociatedDocumentLineDocument")
    out.leaf("ram:LineID", str(line.position))
    out.close()
    out.open("ram:SpecifiedTradeProduct")
    if line.item_id:
        out.leaf("ram:SellerAssignedID", line.item_id)
    out.leaf("ram:Name", line.description)
    out.close()
    out.open("ram:SpecifiedLineTradeAgreement")
    out.open("ram:NetPriceProductTradePrice")
    out.leaf("ram:ChargeAmount", _number(line.unit_price))
    out.close()
    out.close()
    out.open("ram:SpecifiedLineTradeDelivery")
    unit = f' unitCode="{_attr(line.unit_code)}"'
    out.leaf("ram:BilledQuantity", _number(line.quantity), unit)
    out.close()
    out.open("ram:SpecifiedLineTradeSettlement")
    out.open("ram:ApplicableTradeTax")
    out.leaf("ram:TypeCode", "VAT")
    out.leaf("ram:CategoryCode", line.vat_category)
    out.leaf("ram:RateApplicablePercent", _number(line.vat_rate))
    out.close()
    if line.period_start is not None and line.period_end is not None:
        out.open("ram:BillingSpecifiedPeriod")
        out.date("ram:StartDateTime", line.period_start)
        out.date("ram:EndDateTime", _last_day(line.period_end))
        out.close()
    out.open("ram:SpecifiedTradeSettlementLineMonetarySummation")
    out.leaf("ram:LineTotalAmount", _amount(line.net_amount))
    out.close()
    out.close()
    out.close()


_ROOT = "rsm:CrossIndustryInvoice" + "".join(
    f' xmlns:{prefix}="{uri}"' for prefix, uri in NSMAP.items()
)


def build_xml(doc: XmlDocument) -> bytes:
    """The CII XML of a document (UTF-8 bytes, with XML declaration)."""
    out = _Writer()
    out.parts.append(f"\n<{_ROOT}>")
    out.open_tags.append("rsm:CrossIndustryInvoice")
    out.depth = 1
    out.open("rsm:ExchangedDocumentContext")
    out.open("ram:GuidelineSpecifiedDocumentContextParameter")
    out.leaf("ram:ID", GUIDELINE)
    out.close()
    out.close()

    out.open("rsm:ExchangedDocument")
    out.leaf("ram:ID", doc.number)
    out.leaf("ram:TypeCode", doc.type_code or TYPE_CODES[doc.kind])
    out.date("ram:IssueDateTime", doc.issue_date)
    for subject, text in doc.notes:
        out.open("ram:IncludedNote")
        out.leaf("ram:Content", text)
        if subject:
            out.leaf("ram:SubjectCode", subject)
        out.close()
    out.close()

    out.open("rsm:SupplyChainTradeTransaction")
    for line in doc.lines:
        _line(out, line)

    out.open("ram:ApplicableHeaderTradeAgreement")
    if doc.buyer_reference:
        out.leaf("ram:BuyerReference", doc.buyer_reference)
    _party(out, "ram:SellerTradeParty", doc.seller, seller=True)
    _party(out, "ram:BuyerTradeParty", doc.buyer, seller=False)
    if doc.contract_reference:
        out.open("ram:ContractReferencedDocument")
        out.leaf("ram:IssuerAssignedID", doc.contract_reference)
        out.close()
    out.close()

    out.empty("ram:ApplicableHeaderTradeDelivery")

    out.open("ram:ApplicableHeaderTradeSettlement")
    if doc.payment_means == "direct_debit" and doc.creditor_id:
        out.leaf("ram:CreditorReferenceID", doc.creditor_id)
    # BT-83: an invoice's ISO 11649 creditor reference (what the payer types in the
    # transfer; the statement import matches it back to the invoice); a credit note,
    # which nobody pays, keeps its number.
    reference = invoice_reference(doc.number) if doc.kind == "invoice" else doc.number
    out.leaf("ram:PaymentReference", reference)
    out.leaf("ram:InvoiceCurrencyCode", doc.currency)
    if doc.payment_means is not None:
        out.open("ram:SpecifiedTradeSettlementPaymentMeans")
        out.leaf("ram:TypeCode", PAYMENT_MEANS[doc.payment_means])
        if doc.payment_means == "direct_debit" and doc.debtor_iban:
            out.open("ram:PayerPartyDebtorFinancialAccount")
            out.leaf("ram:IBANID", doc.debtor_iban)
            out.close()
        if doc.payment_means == "transfer" and doc.seller_iban:
            out.open("ram:PayeePartyCreditorFinancialAccount")
            out.leaf("ram:IBANID", doc.seller_iban)
            out.close()
        out.close()
    for group in doc.totals.groups:
        out.open("ram:ApplicableTradeTax")
        out.leaf("ram:CalculatedAmount", _amount(group.tax))
        out.leaf("ram:TypeCode", "VAT")
        exemption = group.exemption
        if exemption is not None:
            out.leaf("ram:ExemptionReason", exemption[1])
        out.leaf("ram:BasisAmount", _amount(group.basis))
        out.leaf("ram:CategoryCode", group.category)
        if exemption is not None and exemption[0]:
            out.leaf("ram:ExemptionReasonCode", exemption[0])
        out.leaf("ram:RateApplicablePercent", _number(group.rate))
        out.close()
    if doc.period_start is not None and doc.period_end is not None:
        out.open("ram:BillingSpecifiedPeriod")
        out.date("ram:StartDateTime", doc.period_start)
        out.date("ram:EndDateTime", _last_day(doc.period_end))
        out.close()
    out.open("ram:SpecifiedTradePaymentTerms")
    out.leaf("ram:Description", doc.payment_terms)
    if doc.due_date is not None:
        out.date("ram:DueDateDateTime", doc.due_date)
    if doc.payment_means == "direct_debit" and doc.mandate_id:
        out.leaf("ram:DirectDebitMandateID", doc.mandate_id)
    out.close()
    totals = doc.totals
    out.open("ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    out.leaf("ram:LineTotalAmount", _amount(totals.line_total))
    out.leaf("ram:ChargeTotalAmount", _amount(totals.charges))
    out.leaf("ram:AllowanceTotalAmount", _amount(totals.allowances))
    out.leaf("ram:TaxBasisTotalAmount", _amount(totals.tax_basis))
    currency = f' currencyID="{_attr(doc.currency)}"'
    out.leaf("ram:TaxTotalAmount", _amount(totals.tax_total), currency)
    out.leaf("ram:GrandTotalAmount", _amount(totals.grand_total))
    out.leaf("ram:TotalPrepaidAmount", _amount(totals.prepaid))
    out.leaf("ram:DuePayableAmount", _amount(totals.due_payable))
    out.close()
    if doc.preceding_number:
        out.open("ram:InvoiceReferencedDocument")
        out.leaf("ram:IssuerAssignedID", doc.preceding_number)
        if doc.preceding_date is not None:
            out.date("ram:FormattedIssueDateTime", doc.preceding_date, prefix="qdt")
        out.close()
    for number, day in doc.deposits:
        out.open("ram:InvoiceReferencedDocument")
        out.leaf("ram:IssuerAssignedID", number)
        out.date("ram:FormattedIssueDateTime", day, prefix="qdt")
        out.close()
    out.close()  # ApplicableHeaderTradeSettlement
    out.close()  # SupplyChainTradeTransaction
    out.close()  # CrossIndustryInvoice
    return out.bytes()


def is_prepayment(kind: str, xml: str) -> bool:
    """Whether a stored invoice's XML is a prepayment (deposit) invoice: its BT-3, the
    document's first TypeCode (the header precedes the lines), is 386."""
    marker = "<ram:TypeCode>"
    if kind != "invoice" or marker not in xml:
        return False
    return xml.split(marker, 1)[1].startswith(PREPAYMENT_INVOICE + "<")


def document_title(kind: str, xml: str) -> str:
    """The printed title: Facture, Facture d'acompte (001 §4.6 (i)) or Avoir."""
    if kind == "credit_note":
        return "Avoir"
    return "Facture d'acompte" if is_prepayment(kind, xml) else "Facture"


def check(xml: bytes | str) -> bool:
    """The ``facturx`` library's XSD check at the EN16931 level (raises if invalid)."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    return bool(facturx_lib.xml_check_xsd(data, flavor="factur-x", level="en16931"))

"""Factur-X / EN 16931 Cross Industry Invoice (CII D16B) XML, built from typed values.

The XML is built with lxml element by element in the order the official XSD demands
(profile EN16931, ``urn:cen.eu:en16931:2017``); the ``facturx`` library checks it
against that XSD (``check``) and embeds it in the PDF/A-3 (``nuages.invoicing.pdf``).
Amounts are written with two decimals, prices and quantities with what they need.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import facturx as facturx_lib
from lxml import etree

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


# Qualified names built once per process, not for each of a document's ~300 elements
# (an invoicing run builds one document per contract).
_NAMES: dict[tuple[str, str], str] = {}
_SubElement = etree.SubElement


def _el(parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrs: str) -> Any:
    name = _NAMES.get((ns, tag))
    if name is None:
        name = _NAMES[(ns, tag)] = f"{{{ns}}}{tag}"
    node = _SubElement(parent, name, attrs)
    if text is not None:
        node.text = text
    return node


def _ram(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> Any:
    name = _NAMES.get((RAM, tag))
    if name is None:
        name = _NAMES[(RAM, tag)] = f"{{{RAM}}}{tag}"
    node = _SubElement(parent, name, attrs)
    if text is not None:
        node.text = text
    return node


def _amount(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def _number(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text if text not in ("-0", "") else "0"


def _date(parent: etree._Element, tag: str, day: dt.date, ns: str = UDT) -> None:
    holder = _ram(parent, tag)
    _el(holder, ns, "DateTimeString", day.strftime("%Y%m%d"), format="102")


def _last_day(end: dt.date) -> dt.date:
    # Stored periods are half-open; EN 16931 states the last day (BT-74, BT-135).
    return end - dt.timedelta(days=1)


def _party(parent: etree._Element, tag: str, party: Party, *, seller: bool) -> None:
    node = _ram(parent, tag)
    _ram(node, "Name", party.name)
    if seller and party.company_id and party.company_scheme:
        legal = _ram(node, "SpecifiedLegalOrganization")
        _ram(legal, "ID", party.company_id, schemeID=party.company_scheme)
    elif seller and party.siren:
        legal = _ram(node, "SpecifiedLegalOrganization")
        _ram(legal, "ID", party.siren, schemeID="0002")
    # CII order: PostcodeCode, LineOne, LineTwo, CityName, CountryID, CountrySubDivisionName.
    address = _ram(node, "PostalTradeAddress")
    if party.postcode:
        _ram(address, "PostcodeCode", party.postcode)
    if party.address:
        _ram(address, "LineOne", party.address)
    if party.line2:
        _ram(address, "LineTwo", party.line2)
    if party.city:
        _ram(address, "CityName", party.city)
    _ram(address, "CountryID", party.country)
    if party.region:
        _ram(address, "CountrySubDivisionName", party.region)
    if party.email:
        uri = _ram(node, "URIUniversalCommunication")
        _ram(uri, "URIID", party.email, schemeID="EM")
    if party.vat_number:
        tax = _ram(node, "SpecifiedTaxRegistration")
        _ram(tax, "ID", party.vat_number, schemeID="VA")


def _line(parent: etree._Element, line: XmlLine) -> None:
    item = _ram(parent, "IncludedSupplyChainTradeLineItem")
    doc = _ram(item, "AssociatedDocumentLineDocument")
    _ram(doc, "LineID", str(line.position))
    product = _ram(item, "SpecifiedTradeProduct")
    if line.item_id:
        _ram(product, "SellerAssignedID", line.item_id)
    _ram(product, "Name", line.description)
    agreement = _ram(item, "SpecifiedLineTradeAgreement")
    price = _ram(agreement, "NetPriceProductTradePrice")
    _ram(price, "ChargeAmount", _number(line.unit_price))
    delivery = _ram(item, "SpecifiedLineTradeDelivery")
    _ram(delivery, "BilledQuantity", _number(line.quantity), unitCode=line.unit_code)
    settlement = _ram(item, "SpecifiedLineTradeSettlement")
    tax = _ram(settlement, "ApplicableTradeTax")
    _ram(tax, "TypeCode", "VAT")
    _ram(tax, "CategoryCode", line.vat_category)
    _ram(tax, "RateApplicablePercent", _number(line.vat_rate))
    if line.period_start is not None and line.period_end is not None:
        period = _ram(settlement, "BillingSpecifiedPeriod")
        _date(period, "StartDateTime", line.period_start)
        _date(period, "EndDateTime", _last_day(line.period_end))
    summation = _ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation")
    _ram(summation, "LineTotalAmount", _amount(line.net_amount))


def build_xml(doc: XmlDocument) -> bytes:
    """The CII XML of a document (UTF-8 bytes, with XML declaration)."""
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    context = _el(root, RSM, "ExchangedDocumentContext")
    guideline = _ram(context, "GuidelineSpecifiedDocumentContextParameter")
    _ram(guideline, "ID", GUIDELINE)

    header = _el(root, RSM, "ExchangedDocument")
    _ram(header, "ID", doc.number)
    _ram(header, "TypeCode", doc.type_code or TYPE_CODES[doc.kind])
    _date(header, "IssueDateTime", doc.issue_date)
    for subject, text in doc.notes:
        note = _ram(header, "IncludedNote")
        _ram(note, "Content", text)
        if subject:
            _ram(note, "SubjectCode", subject)

    transaction = _el(root, RSM, "SupplyChainTradeTransaction")
    for line in doc.lines:
        _line(transaction, line)

    agreement = _ram(transaction, "ApplicableHeaderTradeAgreement")
    if doc.buyer_reference:
        _ram(agreement, "BuyerReference", doc.buyer_reference)
    _party(agreement, "SellerTradeParty", doc.seller, seller=True)
    _party(agreement, "BuyerTradeParty", doc.buyer, seller=False)
    if doc.contract_reference:
        contract = _ram(agreement, "ContractReferencedDocument")
        _ram(contract, "IssuerAssignedID", doc.contract_reference)

    _ram(transaction, "ApplicableHeaderTradeDelivery")

    settlement = _ram(transaction, "ApplicableHeaderTradeSettlement")
    if doc.payment_means == "direct_debit" and doc.creditor_id:
        _ram(settlement, "CreditorReferenceID", doc.creditor_id)
    # BT-83: an invoice's ISO 11649 creditor reference (what the payer types in the
    # transfer; the statement import matches it back to the invoice); a credit note,
    # which nobody pays, keeps its number.
    reference = invoice_reference(doc.number) if doc.kind == "invoice" else doc.number
    _ram(settlement, "PaymentReference", reference)
    _ram(settlement, "InvoiceCurrencyCode", doc.currency)
    if doc.payment_means is not None:
        means = _ram(settlement, "SpecifiedTradeSettlementPaymentMeans")
        _ram(means, "TypeCode", PAYMENT_MEANS[doc.payment_means])
        if doc.payment_means == "direct_debit" and doc.debtor_iban:
            payer = _ram(means, "PayerPartyDebtorFinancialAccount")
            _ram(payer, "IBANID", doc.debtor_iban)
        if doc.payment_means == "transfer" and doc.seller_iban:
            payee = _ram(means, "PayeePartyCreditorFinancialAccount")
            _ram(payee, "IBANID", doc.seller_iban)
    for group in doc.totals.groups:
        tax = _ram(settlement, "ApplicableTradeTax")
        _ram(tax, "CalculatedAmount", _amount(group.tax))
        _ram(tax, "TypeCode", "VAT")
        exemption = group.exemption
        if exemption is not None:
            _ram(tax, "ExemptionReason", exemption[1])
        _ram(tax, "BasisAmount", _amount(group.basis))
        _ram(tax, "CategoryCode", group.category)
        if exemption is not None and exemption[0]:
            _ram(tax, "ExemptionReasonCode", exemption[0])
        _ram(tax, "RateApplicablePercent", _number(group.rate))
    if doc.period_start is not None and doc.period_end is not None:
        period = _ram(settlement, "BillingSpecifiedPeriod")
        _date(period, "StartDateTime", doc.period_start)
        _date(period, "EndDateTime", _last_day(doc.period_end))
    terms = _ram(settlement, "SpecifiedTradePaymentTerms")
    _ram(terms, "Description", doc.payment_terms)
    if doc.due_date is not None:
        _date(terms, "DueDateDateTime", doc.due_date)
    if doc.payment_means == "direct_debit" and doc.mandate_id:
        _ram(terms, "DirectDebitMandateID", doc.mandate_id)
    totals = doc.totals
    summation = _ram(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _ram(summation, "LineTotalAmount", _amount(totals.line_total))
    _ram(summation, "ChargeTotalAmount", _amount(totals.charges))
    _ram(summation, "AllowanceTotalAmount", _amount(totals.allowances))
    _ram(summation, "TaxBasisTotalAmount", _amount(totals.tax_basis))
    _ram(summation, "TaxTotalAmount", _amount(totals.tax_total), currencyID=doc.currency)
    _ram(summation, "GrandTotalAmount", _amount(totals.grand_total))
    _ram(summation, "TotalPrepaidAmount", _amount(totals.prepaid))
    _ram(summation, "DuePayableAmount", _amount(totals.due_payable))
    if doc.preceding_number:
        preceding = _ram(settlement, "InvoiceReferencedDocument")
        _ram(preceding, "IssuerAssignedID", doc.preceding_number)
        if doc.preceding_date is not None:
            _date(preceding, "FormattedIssueDateTime", doc.preceding_date, ns=QDT)
    for number, day in doc.deposits:
        deposit = _ram(settlement, "InvoiceReferencedDocument")
        _ram(deposit, "IssuerAssignedID", number)
        _date(deposit, "FormattedIssueDateTime", day, ns=QDT)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return out


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

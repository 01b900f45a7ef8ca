"""The French mentions an invoice carries, from the offer's terms: payment terms
(BT-20), late-payment penalties and the other legal notes (BT-21/22)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nuages.terms.schema import Duration, Offer

_UNITS_FR = {
    "minutes": ("minute", "minutes"),
    "hours": ("heure", "heures"),
    "calendar_days": ("jour", "jours"),
    "clear_days": ("jour franc", "jours francs"),
    "working_days": ("jour ouvré", "jours ouvrés"),
    "jours_ouvrables": ("jour ouvrable", "jours ouvrables"),
    "months": ("mois", "mois"),
    "years": ("an", "ans"),
}


def duration_fr(duration: Duration) -> str:
    """A terms-file duration in French: ``15 jours``, ``1 mois``, ``8 jours ouvrés``."""
    one, many = _UNITS_FR[duration.unit.value]
    return f"{duration.amount} {one if duration.amount == 1 else many}"


def _late_payment_text(offer: Offer) -> str:
    rule = offer.billing.late_payment
    clause = f" ({rule.clause})" if rule.clause else ""
    start = (
        "à compter du jour suivant la date d'échéance"
        if rule.accrues_from == "day_after_due_date"
        else "à compter de la date d'échéance"
    )
    if rule.rule == "legal_rate_multiple":
        multiple = rule.legal_rate_multiple
        return f"Pénalités de retard : {multiple} fois le taux d'intérêt légal, {start}{clause}."
    if rule.rule == "fixed_yearly_rate":
        months = (
            ", tout mois commencé étant compté en entier" if rule.started_months_in_full else ""
        )
        return f"Intérêts de retard : {rule.yearly_rate_pct} % l'an {start}{months}{clause}."
    return "Pénalités de retard : trois fois le taux d'intérêt légal (C. com. art. L441-10)."


def payment_terms_text(offer: Offer, means: str | None, due: dt.date | None) -> str:
    """BT-20: how and when to pay, in French, with the clause it comes from."""
    invoiced = offer.billing.invoiced
    means_fr = {
        "transfer": "virement",
        "direct_debit": "prélèvement SEPA",
        "card": "carte bancaire",
        "cheque": "chèque",
    }
    if invoiced is None:
        return (
            "Consommation et TVA (000 §13.1 : en sus des prix) payées par débit du compte "
            "client prépayé (000 §13.2)."
        )
    start = {
        "issue": "de l'émission de la facture",
        "receipt": "de la réception de la facture",
        "end_of_issue_month": "de la fin du mois d'émission",
    }[invoiced.payment_term_from]
    clause = invoiced.payment_term.clause or invoiced.clause or ""
    text = f"Paiement dans un délai de {duration_fr(invoiced.payment_term)} à compter {start}"
    if due is not None:
        text += f", soit au plus tard le {due.strftime('%d/%m/%Y')}"
    if means:
        text += f", par {means_fr.get(means, means)}"
    return text + (f" ({clause})." if clause else ".")


def legal_notes(
    offer: Offer, buyer: dict[str, Any], seller: dict[str, Any], reverse_charge: bool, prepaid: bool
) -> list[tuple[str, str]]:
    """The mentions a French invoice must carry, as EN 16931 notes (BT-21/22)."""
    notes: list[tuple[str, str]] = [("REG", f"{seller['name']}, {seller['legal_form']}")]
    if not prepaid:
        notes.append(("PMD", _late_payment_text(offer)))
        if buyer.get("kind") == "business" and offer.offer.law == "FR":
            notes.append(
                (
                    "PMT",
                    "Indemnité forfaitaire pour frais de recouvrement en cas de retard de "
                    "paiement : 40 € (C. com. art. L441-10 et D441-5).",
                )
            )
        notes.append(("AAB", "Pas d'escompte pour paiement anticipé."))
    if reverse_charge:
        notes.append(
            ("TXD", "Autoliquidation : TVA due par le preneur (art. 196 dir. 2006/112/CE).")
        )
    if offer.catalogue.prices_include_vat:
        notes.append(
            ("", "Prix catalogue toutes taxes comprises (003 §14.1) ; montants HT déduits.")
        )
    invoiced = offer.billing.invoiced
    if invoiced is not None and invoiced.dispute_window is not None:
        start = "la réception" if invoiced.dispute_window_from == "receipt" else "l'émission"
        clause = invoiced.dispute_window.clause or ""
        notes.append(
            (
                "",
                "Toute contestation doit être formulée dans les "
                f"{duration_fr(invoiced.dispute_window)} "
                f"suivant {start} de la facture ; à défaut elle est réputée acceptée ({clause}).",
            )
        )
    if not invoiced or not invoiced.partial_payments_accepted:
        if invoiced is not None:
            notes.append(("", "Tout paiement partiel ou irrégulier est rejeté (003 §14.5)."))
    return notes

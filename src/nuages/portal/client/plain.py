"""An offer's terms in plain words, from its terms file (SPEC §2: what the client accepts
when ordering). Pure: an ``Offer`` and a translator in, headed paragraphs out; every
figure comes from the file, with the clause that states it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from nuages.portal import i18n
from nuages.terms.schema import Offer

UNITS = {
    "minutes": "minute(s)",
    "hours": "heure(s)",
    "calendar_days": "jour(s) calendaire(s)",
    "clear_days": "jour(s) franc(s)",
    "working_days": "jour(s) ouvré(s)",
    "jours_ouvrables": "jour(s) ouvrable(s)",
    "months": "mois",
    "years": "an(s)",
}
PRICE_UNITS = {
    "hour": "par heure",
    "month": "par mois",
    "quarter": "par trimestre",
    "user_month": "par utilisateur et par mois",
    "gib_month": "par Gio et par mois",
    "one_off": "une fois",
    "vm": "par machine",
}
MEANS = {
    "card": "carte",
    "transfer": "virement",
    "direct_debit": "prélèvement SEPA",
    "cheque": "chèque",
}
PERIODS = {"month": "mensuelle", "quarter": "trimestrielle", "year": "annuelle"}


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)


def _cite(clause: str | None) -> str:
    return f" ({clause})" if clause else ""


def period(value: Any, _: Callable[..., str]) -> str:
    """``3 mois``, ``15 jour(s) franc(s)`` in the visitor's language."""
    if value is None:
        return "—"
    unit = getattr(value.unit, "value", value.unit)
    return f"{value.amount} {_(UNITS.get(unit, unit))}"


def sections(offer: Offer, _: Callable[..., str], lang: str) -> list[Section]:
    """The offer as headed paragraphs: prices, payment, duration, service levels, data."""
    currency = offer.offer.currency

    def money(amount: Decimal) -> str:
        return i18n.money(amount, currency, lang)

    def pct(value: Decimal) -> str:
        return i18n.number(value, lang)

    out = [_prices(offer, _, money), _payment(offer, _, money), _duration(offer, _)]
    out.append(_service(offer, _, pct))
    out.append(_data(offer, _, money))
    return [s for s in out if s.lines]


def _prices(offer: Offer, _: Callable[..., str], money: Callable[[Decimal], str]) -> Section:
    cat = offer.catalogue
    s = Section(_("Prix"))
    for flavour in cat.flavours:
        s.lines.append(
            _(
                "{name} : {vcpu} vCPU, {ram} Mio de RAM, {disk} Gio de disque — {price} {unit}",
                name=flavour.name,
                vcpu=flavour.vcpu,
                ram=flavour.ram_mib,
                disk=flavour.disk_gib,
                price=money(flavour.price),
                unit=_(PRICE_UNITS.get(flavour.unit.value, flavour.unit.value)),
            )
        )
    for option in cat.options:
        if option.included:
            s.lines.append(_("{name} : inclus", name=option.name) + _cite(option.clause))
        elif option.on_quote:
            s.lines.append(_("{name} : sur devis", name=option.name) + _cite(option.clause))
        else:
            unit = _(PRICE_UNITS.get(option.unit.value, option.unit.value))
            s.lines.append(f"{option.name} : {money(option.price)} {unit}" + _cite(option.clause))
    vat = _("Prix hors TVA ; TVA de {rate} % en sus.", rate=cat.vat_rate)
    if cat.prices_include_vat:
        vat = _("Prix toutes taxes comprises (TVA {rate} %).", rate=cat.vat_rate)
    s.lines.append(vat)
    return s


def _payment(offer: Offer, _: Callable[..., str], money: Callable[[Decimal], str]) -> Section:
    billing = offer.billing
    s = Section(_("Paiement"))
    prepaid, invoiced = billing.prepaid, billing.invoiced
    if prepaid is not None:
        s.lines.append(
            _(
                "Compte prépayé : le contrat est formé quand vous acceptez les conditions et "
                "que le montant minimum de {amount} est crédité.",
                amount=money(prepaid.minimum_amount),
            )
            + _cite(prepaid.clause)
        )
        means = ", ".join(_(MEANS.get(m, m)) for m in prepaid.top_up_means)
        s.lines.append(_("Rechargement par : {means}.", means=means))
        s.lines.append(_("Facturation minimale : {p}.", p=period(prepaid.minimum_billed, _)))
    if invoiced is not None:
        s.lines.append(
            _(
                "Facture {period} ; paiement à {term}.",
                period=_(PERIODS.get(invoiced.period, invoiced.period)),
                term=period(invoiced.payment_term, _),
            )
            + _cite(invoiced.clause)
        )
        if invoiced.dispute_window is not None:
            s.lines.append(
                _("Contestation possible pendant {p}.", p=period(invoiced.dispute_window, _))
            )
        s.lines.append(_("La commande est définitive quand le prestataire la confirme."))
    late = billing.late_payment
    if late.yearly_rate_pct is not None:
        s.lines.append(
            _("Retard de paiement : intérêts de {pct} % par an.", pct=late.yearly_rate_pct)
            + _cite(late.clause)
        )
    elif late.legal_rate_multiple is not None:
        s.lines.append(
            _(
                "Retard de paiement : {n} fois le taux d'intérêt légal.",
                n=late.legal_rate_multiple,
            )
            + _cite(late.clause)
        )
    return s


def _duration(offer: Offer, _: Callable[..., str]) -> Section:
    duration = offer.duration
    s = Section(_("Durée"))
    s.lines.append(
        _("Durée initiale : {p}.", p=period(duration.initial, _)) + _cite(duration.clause)
    )
    renewal = duration.renewal
    if renewal.tacit:
        s.lines.append(
            _("Renouvelé tacitement pour {p}.", p=period(renewal.period or duration.initial, _))
            + _cite(renewal.clause)
        )
    if duration.notice_before_term_end is not None:
        s.lines.append(
            _(
                "Pour ne pas renouveler : prévenir au moins {p} avant l'échéance.",
                p=period(duration.notice_before_term_end, _),
            )
        )
    if duration.withdrawal is not None:
        s.lines.append(
            _("Droit de rétractation : {p}.", p=period(duration.withdrawal.period, _))
            + _cite(duration.withdrawal.clause)
        )
    return s


def _service(offer: Offer, _: Callable[..., str], pct: Callable[[Decimal], str]) -> Section:
    sla = offer.sla
    s = Section(_("Niveau de service"))
    if not sla.enabled:
        s.lines.append(_("Pas d'engagement de disponibilité."))
        return s
    if sla.objective_pct is not None:
        s.lines.append(
            _("Disponibilité visée : {pct} % par mois.", pct=pct(sla.objective_pct))
            + _cite(sla.clause)
        )
    for tier in sla.credit_tiers:
        low = f"{pct(tier.lower_pct)} %" if tier.lower_pct is not None else "0 %"
        high = f"{pct(tier.upper_pct)} %" if tier.upper_pct is not None else "100 %"
        s.lines.append(
            _(
                "Disponibilité entre {low} et {high} : avoir de {pct} %.",
                low=low,
                high=high,
                pct=pct(tier.credit_pct),
            )
        )
    if offer.maintenance.notice is not None:
        s.lines.append(
            _(
                "Maintenance annoncée au moins {p} à l'avance.",
                p=period(offer.maintenance.notice, _),
            )
            + _cite(offer.maintenance.clause)
        )
    return s


def _data(offer: Offer, _: Callable[..., str], money: Callable[[Decimal], str]) -> Section:
    s = Section(_("Vos données"))
    snaps, backups = offer.snapshots, offer.backups
    if snaps.available:
        s.lines.append(
            _(
                "Instantanés : au plus {n} par machine, gardés {p}.",
                n=snaps.max_per_vm if snaps.max_per_vm is not None else "∞",
                p=period(snaps.retention, _),
            )
            + _cite(snaps.clause)
        )
    if backups.available:
        days = ", ".join(str(d) for d in backups.retention_days_choices) or "—"
        s.lines.append(
            _("Sauvegardes quotidiennes, conservées {days} jours au choix.", days=days)
            + _cite(backups.clause)
        )
    rev = offer.reversibility
    if rev.window is not None:
        s.lines.append(
            _(
                "Réversibilité : vos données restent récupérables pendant {p} après la fin.",
                p=period(rev.window, _),
            )
            + (_(" (frais : {fee})", fee=money(rev.fee)) if rev.fee else "")
            + _cite(rev.clause)
        )
    return s

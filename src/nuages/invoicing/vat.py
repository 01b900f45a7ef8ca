"""EN 16931 document totals and the VAT breakdown, exactly to the cent. Pure.

The rules applied (EN 16931-1 business rules):

- BR-CO-10: sum of line net amounts (BT-106) = Σ BT-131.
- BR-CO-13: taxable amount (BT-109) = BT-106 − allowances (BT-107) + charges (BT-108);
  nuages puts no document-level allowances or charges, so BT-109 = BT-106.
- BR-CO-17: each VAT category's tax (BT-117) = its taxable amount (BT-116) × rate / 100,
  rounded half-up to the cent — VAT is computed per rate on the sum of nets, never per
  line.
- BR-CO-14: total VAT (BT-110) = Σ BT-117.
- BR-CO-15: total with VAT (BT-112) = BT-109 + BT-110.
- BR-CO-16: amount due (BT-115) = BT-112 − paid (BT-113) + rounding (BT-114 = 0).

Prices quoted VAT included (003 §14.1) are turned into nets with ``nets_from_gross`` so
that the document's total with VAT is the quoted total, to the cent, while the VAT
still follows BR-CO-17.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from nuages.kernel.money import CENT, round_cents

HUNDRED = Decimal(100)
ZERO = Decimal("0.00")

# EN 16931 VAT category codes (UNTDID 5305) used by nuages.
STANDARD = "S"  # standard rate
REVERSE_CHARGE = "AE"  # VAT reverse charge (intra-EU B2B services, Dir. 2006/112 art. 196)
EXEMPT = "E"  # exempt / outside the scope: late interest, recovery indemnities

EXEMPTION_REASONS = {
    REVERSE_CHARGE: ("VATEX-EU-AE", "Autoliquidation"),
    # No VATEX code fits sums that are no consideration for a supply; the text suffices
    # (BT-120 without BT-121 is allowed).
    EXEMPT: ("", "Indemnités et intérêts de retard : hors du champ de la TVA"),
}


@dataclass(frozen=True)
class TaxableLine:
    """What the totals need of a line: its net amount, VAT category and rate."""

    net_amount: Decimal
    vat_category: str
    vat_rate: Decimal


@dataclass(frozen=True)
class VatGroup:
    """One row of the VAT breakdown (BG-23): category, rate, taxable amount, tax."""

    category: str
    rate: Decimal
    basis: Decimal  # BT-116
    tax: Decimal  # BT-117

    @property
    def exemption(self) -> tuple[str, str] | None:
        """(VATEX code, reason text) for categories that need one (BR-AE-10, BR-E-10)."""
        return EXEMPTION_REASONS.get(self.category)


@dataclass(frozen=True)
class Totals:
    """The document totals (BG-22) and the VAT breakdown (BG-23)."""

    line_total: Decimal  # BT-106
    allowances: Decimal  # BT-107
    charges: Decimal  # BT-108
    tax_basis: Decimal  # BT-109
    tax_total: Decimal  # BT-110
    grand_total: Decimal  # BT-112
    prepaid: Decimal  # BT-113
    rounding: Decimal  # BT-114
    due_payable: Decimal  # BT-115
    groups: tuple[VatGroup, ...]


def category_tax(basis: Decimal, rate: Decimal) -> Decimal:
    """BR-CO-17: the tax of one VAT category, half-up to the cent."""
    return round_cents(basis * rate / HUNDRED)


def compute_totals(lines: Iterable[TaxableLine], prepaid: Decimal = ZERO) -> Totals:
    """The totals of a document from its lines (each net already in cents).

    ``prepaid`` is what was paid before the invoice (BT-113): a prepaid account's
    consumption invoice (000 §13.2) is paid in full when issued.
    """
    groups: dict[tuple[str, Decimal], Decimal] = {}
    line_total = ZERO
    for line in lines:
        if line.net_amount != round_cents(line.net_amount):
            raise ValueError(f"line net {line.net_amount} is not in cents (BR-DEC-23)")
        line_total += line.net_amount
        key = (line.vat_category, line.vat_rate)
        groups[key] = groups.get(key, ZERO) + line.net_amount
    breakdown = tuple(
        VatGroup(category, rate, basis, category_tax(basis, rate))
        for (category, rate), basis in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    )
    tax_total = sum((g.tax for g in breakdown), ZERO)
    tax_basis = line_total  # BR-CO-13 with no document allowances or charges
    grand_total = tax_basis + tax_total
    return Totals(
        line_total=line_total,
        allowances=ZERO,
        charges=ZERO,
        tax_basis=tax_basis,
        tax_total=tax_total,
        grand_total=grand_total,
        prepaid=round_cents(prepaid),
        rounding=ZERO,
        due_payable=grand_total - round_cents(prepaid),
        groups=breakdown,
    )


def total_with_vat(net: Decimal, rate: Decimal) -> Decimal:
    """net + BR-CO-17 tax: what a taxable amount ``net`` costs VAT included."""
    return net + category_tax(net, rate)


def net_for_gross(gross: Decimal, rate: Decimal) -> Decimal:
    """The taxable amount whose total with VAT is ``gross`` (003 §14.1 TTC prices).

    ``net + round(net × rate)`` grows by one or two cents per cent of net, so a few
    totals cannot be reached exactly; then the largest net whose total stays *below*
    ``gross`` is taken — the client never pays more than the price quoted (SPEC §17).
    """
    if rate == 0:
        return round_cents(gross)
    guess = (gross * HUNDRED / (HUNDRED + rate)).quantize(CENT, rounding=ROUND_FLOOR)
    best = guess - 2 * CENT
    for step in range(-2, 4):
        candidate = guess + step * CENT
        total = total_with_vat(candidate, rate)
        if total == gross:
            return candidate
        if total < gross:
            best = candidate
    return best


def net_for_gross_credit(gross: Decimal, rate: Decimal) -> Decimal:
    """The taxable amount of a credit of ``gross`` VAT included, asked by the client.

    The exact net when one exists (most amounts); when ``gross`` falls in a gap of
    ``net + round(net × rate)`` (2.13 at 20 %: 1.77 → 2.12, 1.78 → 2.14), the smallest
    net whose total is *above* it: a credit rounds in the client's favour, never the
    provider's (SPEC §17; issue 9.7).
    """
    net = net_for_gross(gross, rate)
    while total_with_vat(net, rate) < gross:
        net += CENT
    return net


def nets_from_gross(grosses: Sequence[Decimal], rate: Decimal) -> list[Decimal]:
    """Split the exact net of ``sum(grosses)`` over the lines, in proportion to each
    line's gross, to the cent (largest remainders get the leftover cents)."""
    total_gross = sum(grosses, ZERO)
    target = net_for_gross(total_gross, rate)
    raw = [g * HUNDRED / (HUNDRED + rate) for g in grosses]
    nets = [round_cents(r) for r in raw]
    diff = int((target - sum(nets, ZERO)) / CENT)
    if diff:
        order = sorted(range(len(raw)), key=lambda i: raw[i] - nets[i], reverse=diff > 0)
        step = CENT if diff > 0 else -CENT
        for k in range(abs(diff)):
            i = order[k % len(order)]
            nets[i] += step
    return nets

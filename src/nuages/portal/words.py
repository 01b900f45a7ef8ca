"""Plain French words for the contract deadlines' kinds (``contracts.deadlines``): the
slices describe a deadline in English, so a French page names it by its kind instead
(its clause shown beside it); an English page keeps the slice's description."""

from __future__ import annotations

from typing import Any

DEADLINES: dict[str, str] = {
    "term-end": "Terme du contrat",
    "notice-to-quit-latest": "Dernier moment pour donner un préavis avant ce terme",
    "renewal-tariffs-notice": "Annonce des tarifs du renouvellement",
    "hold-terminable": "Résiliation possible après une suspension prolongée",
    "force-majeure-automatic-termination": "Fin automatique pour force majeure prolongée",
    "termination-effective": "Fin du contrat (préavis donné)",
    "terms-in-force": "Entrée en vigueur des nouvelles conditions",
    "terms-refusal-latest": "Fin du délai pour refuser les nouvelles conditions",
    "penalty-free-exit": "Fin du droit de résilier sans pénalité",
    "price-revision": "Révision des prix",
    "relocation-outside-eu": "Déplacement de l'hébergement hors de l'Union européenne",
}
OTHER = "Échéance du contrat"


def deadline(lang: str, item: Any) -> str:
    """What the deadline is, in ``lang``."""
    if lang == "en":
        return str(getattr(item, "description", "") or getattr(item, "kind", ""))
    return DEADLINES.get(str(getattr(item, "kind", "")), OTHER)

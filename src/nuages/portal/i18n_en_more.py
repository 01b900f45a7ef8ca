"""English texts of the pages added in the last round of issue #12 (dashboard's next
invoice and maintenance, extensions, card top-up, terms refusal, SEPA batches, staff
password reset). French source → English, merged into ``i18n_en.EN``."""

from __future__ import annotations

MORE: dict[str, str] = {
    # dashboard
    "{n} jour(s) restant(s)": "{n} day(s) left",
    "Prochaine facture le {day}, période du {start} au {end}": (
        "Next invoice on {day}, for {start} to {end}"
    ),
    "environ {amount} TTC": "about {amount} incl. VAT",
    "(estimation d'après le contrat aujourd'hui)": "(estimated from the contract as it is today)",
    "montant pas encore calculable": "amount not computable yet",
    "Maintenances prévues": "Planned maintenance",
    "{n} machine(s) concernée(s)": "{n} machine(s) affected",
    "Aucune maintenance prévue sur vos machines.": "No maintenance planned on your machines.",
}

# ruff: noqa: E501  (a catalogue: one text per line reads best)
"""English texts of the contract-life pages of issue #21: moves of the data outside
the EU (001 §5.3) and partial recoveries (001 §7), client area and back-office.
French source → English, merged into ``i18n_en.EN``."""

from __future__ import annotations

LIFE: dict[str, str] = {
    # client: the contract page and partial recoveries
    "Déplacements de vos données hors de l'Union européenne": "Moves of your data outside the European Union",
    "Destination": "Destination",
    "Déplacement à partir du": "Move from",
    "Échéances et préavis": "Deadlines and notice to quit",
    "Résiliation sans indemnité jusqu'au": "Termination without indemnity until",
    "Pendant ce délai, un préavis de résiliation met fin au contrat sans indemnité ; les factures impayées restent dues.": "Within this period, a notice to quit ends the contract without indemnity; unpaid invoices remain due.",
    "Réversibilité partielle : copie des données de certaines machines": "Partial recovery: a copy of some machines' data",
    "Réversibilité partielle": "Partial recovery",
    "Pendant le contrat, une copie des disques de certaines machines vous est remise (qcow2, avec son SHA-256, lien à durée limitée) ({clause}).": "While the contract runs, you receive a copy of some machines' disks (qcow2, with its SHA-256, a link valid for a limited time) ({clause}).",
    "Transferts": "Transfers",
    "Transfert": "Transfer",
    "Aucun transfert.": "No transfer.",
    "Les données ne sont restituées qu'une fois toutes les factures payées ({clause}).": "Data is returned only once every invoice is paid ({clause}).",
    "Le contrat a pris fin : les copies se demandent depuis sa fin de contrat.": "The contract has ended: copies are asked for from its end-of-contract page.",
    "Ce contrat ne prévoit pas de réversibilité partielle en cours d'exécution.": "This contract gives no partial recovery while it runs.",
    "Demander un transfert": "Ask for a transfer",
    "Machines à copier": "Machines to copy",
    "Choisissez au moins une machine.": "Choose at least one machine.",
    "Le coût vous est indiqué avant que la demande ne soit faite.": "The cost is shown to you before the request is made.",
    "Voir le coût": "See the cost",
    "Seul le Responsable du contrat demande un transfert (000 §1).": "Only the contract's Responsable asks for a transfer (000 §1).",
    "Machines copiées": "Machines copied",
    "Ce transfert sera facturé {amount} ({clause}), sur la prochaine facture ou le compte prépayé du contrat.": "This transfer will be charged {amount} ({clause}), on the next invoice or the contract's prepaid account.",
    "Ce transfert est facturé au Responsable, selon le contrat ({clause}).": "This transfer is charged to the Responsable, as the contract says ({clause}).",
    "Oui, demander le transfert": "Yes, ask for the transfer",
    "Transfert demandé : les copies sont en cours d'écriture ; leurs liens apparaissent ci-dessous une fois prêtes.": "Transfer asked: the copies are being written; their links appear below once ready.",
    # back-office: recording a move
    "Déplacements des données hors UE": "Moves of the data outside the EU",
    "Site": "Site",
    "Base du transfert": "Transfer basis",
    "Notifié le": "Notified on",
    "Aucun déplacement annoncé.": "No move announced.",
    "Annoncer un déplacement des données hors UE (001 §5.3)": "Announce a move of the data outside the EU (001 §5.3)",
    "Les machines": "The machines",
    "Leurs sauvegardes": "Their backups",
    "Site de destination": "Destination site",
    "par exemple montreal-1": "for example montreal-1",
    "Pays (code ISO)": "Country (ISO code)",
    "si aucun hôte du site ne le dit": "if no host of the site states it",
    "Une seule machine (facultatif)": "One machine only (optional)",
    "Déplacement à partir du (facultatif)": "Move from (optional)",
    "par défaut le plus tôt que permet le préavis de 3 mois": "by default the earliest the 3 months' notice allows",
    "Garanties appropriées (001 §5.4)": "Appropriate safeguards (001 §5.4)",
    "Accord écrit du client le (001 §5.4)": "Client's written consent on (001 §5.4)",
    "Annoncer le déplacement": "Announce the move",
    "Déplacement enregistré : le client est prévenu et peut résilier sans indemnité pendant 30 jours (001 §5.3).": "Move recorded: the client is notified and may terminate without indemnity for 30 days (001 §5.3).",
}

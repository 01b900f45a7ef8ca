# ruff: noqa: E501  (a catalogue: one text per line reads best)
"""English texts of the issue #16 back-office and client pages: staff tickets and
staff accesses to personal data (001 §15.3). French source → English, merged into
``i18n_en.EN``."""

from __future__ import annotations

SUPPORT: dict[str, str] = {
    "Tickets": "Tickets",
    "Tous": "All",
    "Ouverts": "Open",
    "Répondus": "Answered",
    "Fermés": "Closed",
    "Objet": "Subject",
    "Client": "Client",
    "Catégorie": "Category",
    "Gravité": "Severity",
    "Première réponse": "First response",
    "Intervention due le": "Intervention due on",
    "Aucun ticket.": "No ticket.",
    "Accès aux données personnelles": "Accesses to personal data",
    "Accès du personnel": "Staff accesses",
    "Accès du personnel à vos données": "Staff accesses to your data",
    "Personnel": "Staff",
    "Raison": "Reason",
    "Ouvert le": "Opened on",
    "Expire le": "Expires on",
    "Révoqué le": "Revoked on",
    "Révoquer": "Revoke",
    "Aucun accès.": "No access.",
    "Ouvrir un accès (001 §15.3)": "Open an access (001 §15.3)",
    "Ses utilisateurs": "Its users",
    "Les consoles de ses machines": "Its machines' consoles",
    "Ses données": "Its data",
    "Raison (dite au client)": "Reason (told to the client)",
    "Durée en heures (1 à 72)": "Duration in hours (1 to 72)",
    "Ouvrir l'accès": "Open the access",
    "Le personnel du prestataire n'accède à vos données personnelles qu'avec une raison enregistrée, pour une durée limitée (001 §15.3).": "The provider's staff access your personal data only with a recorded reason, for a limited time (001 §15.3).",
    "Accès ouvert : le client est prévenu.": "Access opened: the client is told.",
    "Accès révoqué.": "Access revoked.",
}

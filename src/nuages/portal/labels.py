"""Plain words for the slices' state names, hold grounds and ledger descriptions (issue
12): the services store short English codes (``pending``, ``in_batch``, ``unpaid-invoice``)
and English ledger descriptions ("bank transfer booked …"); a page shows them in the
visitor's language through the ``label`` and ``described`` Jinja filters. A code missing
here shows as it is (never empty); tests/portal/test_labels.py walks the state enums and
the offers' hold grounds so a new state cannot appear raw on a French page.
"""

from __future__ import annotations

import contextvars
import re

# The visitor's language while a page renders (set by ``Visit.render``): the filters run
# inside imported macros too, which do not see the page's context.
LANG: contextvars.ContextVar[str] = contextvars.ContextVar("portal_lang", default="fr")

# code → (French, English)
LABELS: dict[str, tuple[str, str]] = {
    # contracts.states.ContractState
    "pending": ("en attente", "pending"),
    "active": ("actif", "active"),
    "suspended": ("suspendu", "suspended"),
    "ending": ("en fin", "ending"),
    "reversibility": ("réversibilité", "reversibility"),
    "closed": ("clos", "closed"),
    # compute.states.VmState
    "building": ("en création", "building"),
    "running": ("démarrée", "running"),
    "stopped": ("arrêtée", "stopped"),
    "error": ("en erreur", "error"),
    "deleted": ("supprimée", "deleted"),
    # compute.states.TaskState
    "creating": ("création", "creating"),
    "starting": ("démarrage", "starting"),
    "stopping": ("arrêt", "stopping"),
    "rebooting": ("redémarrage", "rebooting"),
    "resizing": ("redimensionnement", "resizing"),
    "reinstalling": ("réinstallation", "reinstalling"),
    "deleting": ("suppression", "deleting"),
    "suspending": ("suspension", "suspending"),
    "resuming": ("reprise", "resuming"),
    "snapshotting": ("instantané", "taking a snapshot"),
    "reverting": ("retour à l'instantané", "reverting"),
    "backing_up": ("sauvegarde", "backing up"),
    "restoring": ("restauration", "restoring"),
    "exporting": ("export", "exporting"),
    # compute.states.OperationState
    "queued": ("en file", "queued"),
    "succeeded": ("réussie", "succeeded"),
    "failed": ("échouée", "failed"),
    # compute.states.HostState
    "draining": ("en vidage", "draining"),
    "disabled": ("désactivé", "disabled"),
    # billing.models.EntryKind
    "topup": ("approvisionnement", "top-up"),
    "usage": ("consommation", "usage"),
    "fee": ("frais", "fee"),
    "credit": ("crédit", "credit"),
    "refund": ("remboursement", "refund"),
    "adjustment": ("ajustement", "adjustment"),
    "reversal": ("contrepassation", "reversal"),
    # billing.models.DebitState
    "in_batch": ("dans un lot", "in a batch"),
    "settled": ("encaissé", "settled"),
    "returned": ("rejeté", "returned"),
    "cancelled": ("annulé", "cancelled"),
    # billing.models.ExtensionState
    "approved": ("autorisée", "approved"),
    "ended": ("terminée", "ended"),
    "rejected": ("refusée", "rejected"),
    "expired": ("expirée", "expired"),
    # reversibility.states.ExitState
    "open": ("ouvert", "open"),
    "awaiting_choice": ("en attente de votre choix", "awaiting your choice"),
    "handed_over": ("remis", "handed over"),
    "erasing": ("effacement", "erasing"),
    "erased": ("effacé", "erased"),
    # sla credits (sla.credits)
    "claimable": ("à demander", "claimable"),
    "due": ("dû", "due"),
    "applied": ("appliqué", "applied"),
    "superseded": ("remplacé", "superseded"),
    "automatic": ("automatique", "automatic"),
    "on_request": ("sur demande", "on request"),
    "none": ("aucun", "none"),
    # invoices, snapshots, backups, tickets, terms changes, mandates
    "draft": ("brouillon", "draft"),
    "issued": ("émise", "issued"),
    "paid": ("payée", "paid"),
    "overdue": ("en retard", "overdue"),
    "disputed": ("contestée", "disputed"),
    "ready": ("prête", "ready"),
    "done": ("terminé", "done"),
    "answered": ("répondu", "answered"),
    "waiting": ("en attente", "waiting"),
    "resolved": ("résolu", "resolved"),
    "announced": ("annoncé", "announced"),
    "refused": ("refusé", "refused"),
    "withdrawn": ("retiré", "withdrawn"),
    "in_force": ("en vigueur", "in force"),
    "revoked": ("révoqué", "revoked"),
    "accepted": ("accepté", "accepted"),
    "awaiting_quote": ("en attente de devis", "awaiting a quote"),
    "quoted": ("devis envoyé", "quoted"),
    "declined": ("devis refusé", "quote declined"),
    "minor": ("mineure", "minor"),
    "major": ("majeure", "major"),
    "scheduled": ("planifié", "scheduled"),
    "final": ("définitive", "final"),
    "unpaid": ("impayée", "unpaid"),
    "lifted": ("levée", "lifted"),
    # compute.states.Action: what an operation does
    "create": ("création", "create"),
    "start": ("démarrage", "start"),
    "stop": ("arrêt", "stop"),
    "reboot": ("redémarrage", "reboot"),
    "resize": ("redimensionnement", "resize"),
    "reinstall": ("réinstallation", "reinstall"),
    "delete": ("suppression", "delete"),
    "suspend": ("suspension", "suspend"),
    "resume": ("reprise", "resume"),
    "snapshot": ("instantané", "snapshot"),
    "snapshot_restore": ("retour à un instantané", "snapshot restore"),
    "backup": ("sauvegarde", "backup"),
    "restore": ("restauration", "restore"),
    "export": ("export", "export"),
    # support tickets: categories and severities (support.schemas)
    "incident": ("incident", "incident"),
    "question": ("question", "question"),
    "update": ("mise à jour", "update"),
    "request": ("demande", "request"),
    "critical": ("critique", "critical"),
    "high": ("élevée", "high"),
    "normal": ("normale", "normal"),
    "low": ("faible", "low"),
    # sla outages: scopes and the cause no offer excuses
    "vm": ("machine", "VM"),
    "host": ("hôte", "host"),
    "site": ("site", "site"),
    "platform": ("plateforme", "platform"),
    "not-excusable": ("non excusable", "not excusable"),
    # hold grounds: the offers' suspension causes and contracts.holds' own
    "staff-decision": ("décision du prestataire", "provider's decision"),
    "force-majeure": ("force majeure", "force majeure"),
    "negative-balance": ("solde négatif", "negative balance"),
    "attack": ("attaque", "attack"),
    "authority-request": ("demande d'une autorité", "request of an authority"),
    "breach": ("manquement", "breach"),
    "conduct-charter-breach": ("manquement à la charte", "breach of the conduct charter"),
    "fraud": ("fraude", "fraud"),
    "late-payment": ("retard de paiement", "late payment"),
    "legal-obligation": ("obligation légale", "legal obligation"),
    "malicious-traffic": ("trafic malveillant", "malicious traffic"),
    "obstruction": ("entrave", "obstruction"),
    "security-risk": ("risque de sécurité", "security risk"),
    "unpaid-invoice": ("facture impayée", "unpaid invoice"),
    "unremedied-breach": ("manquement non corrigé", "unremedied breach"),
    "client_breach": ("manquement du client", "client's breach"),
    "force_majeure": ("force majeure", "force majeure"),
}

# The billing slice's English ledger descriptions, phrase by phrase (longest first), so
# "bank transfer booked 2026-12-01" reads "virement bancaire comptabilisé 2026-12-01".
PHRASES: tuple[tuple[str, str], ...] = (
    ("SEPA direct debit", "prélèvement SEPA"),
    ("direct debit returned", "prélèvement rejeté"),
    ("bank transfer", "virement bancaire"),
    ("received on", "reçu le"),
    ("booked", "comptabilisé"),
    ("collected", "encaissé"),
    ("mandate", "mandat"),
    ("card payment", "paiement par carte"),
)
_PHRASE = re.compile("|".join(re.escape(p) for p, _ in PHRASES))
_FRENCH = dict(PHRASES)


def label(value: object, lang: str | None = None) -> str:
    """A state, kind or ground code in ``lang`` (the rendering page's by default)."""
    if value is None or value == "":
        return "—"
    code = str(getattr(value, "value", value))
    pair = LABELS.get(code)
    if pair is None:
        return code
    return pair[1] if (lang or LANG.get()) == "en" else pair[0]


def described(text: object, lang: str | None = None) -> str:
    """A service-written description (ledger entries) in ``lang``: English as stored,
    French phrase by phrase (the figures, dates and references kept)."""
    if text is None:
        return "—"
    shown = str(text)
    if (lang or LANG.get()) == "en":
        return shown
    return _PHRASE.sub(lambda m: _FRENCH[m.group(0)], shown)

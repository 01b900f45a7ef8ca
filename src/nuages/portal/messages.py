"""Messages shown after a redirect (``?msg=<key>``): fixed texts only, so a crafted URL
can never put words on a page. French source texts, translated by ``i18n``."""

from __future__ import annotations

FLASH: dict[str, str] = {
    "signed_out": "Vous êtes déconnecté.",
    "expired": "Votre session a expiré : rien n'a été enregistré. Reconnectez-vous, "
    "puis envoyez le formulaire à nouveau.",
    "signin": "Connectez-vous pour continuer.",
    "resubmit": "Session rouverte : rien n'avait été enregistré, envoyez le formulaire à nouveau.",
    "already_sent": "Ce formulaire a déjà été envoyé : voici le résultat du premier envoi "
    "(rien n'a été fait deux fois).",
    "reset_sent": "Si cette adresse correspond à un compte, un lien de réinitialisation "
    "vient de lui être envoyé (valable une heure).",
    "reset_done": "Mot de passe changé : connectez-vous avec le nouveau.",
    "reset_invalid": "Ce lien de réinitialisation n'est plus valable : demandez-en un nouveau.",
    "vm_created": "Machine demandée : sa création est en cours.",
    "vm_action": "Action demandée : elle est en cours.",
    "lang": "Langue changée.",
    "ordered": "Commande enregistrée : voici votre contrat et comment le former.",
    "mandate_added": "Mandat SEPA enregistré.",
    "debit_asked": "Prélèvement demandé : il sera crédité une fois encaissé.",
    "disputed": "Contestation enregistrée : le prestataire y répondra.",
    "key_added": "Clé SSH ajoutée.",
    "key_deleted": "Clé SSH supprimée.",
    "user_added": "Utilisateur ajouté.",
    "user_changed": "Utilisateur modifié.",
    "token_created": "Jeton créé : copiez-le maintenant, il ne sera plus affiché.",
    "token_revoked": "Jeton révoqué.",
    "snapshot_asked": "Instantané demandé : il est en cours.",
    "done": "C'est fait.",
    "console_refused": "La console ne peut pas s'ouvrir : la machine doit être démarrée.",
    "firewall_changed": "Pare-feu modifié : l'hôte applique la règle.",
    "notice_given": "Préavis donné : la date de fin est indiquée ci-dessous.",
    "network_cut": "Réseau coupé : le client est prévenu.",  # net (issue 14)
    "network_restored": "Réseau rétabli : le client est prévenu.",  # net (issue 14)
    # support (issue #16)
    "ticket_opened": "Ticket ouvert : le support vous répond dans ses heures d'ouverture.",
    "ticket_replied": "Message envoyé.",
    # issue #12, last round: extensions, terms refusal, card top-up, staff reset
    "extension_ordered": "Extension commandée et autorisée : elle commence à l'heure dite.",
    "extension_pending": "Extension commandée : elle attend l'autorisation du Responsable "
    "(000 §8).",
    "extension_approved": "Extension autorisée.",
    "extension_rejected": "Extension refusée.",
    "terms_refused": "Refus enregistré : les anciennes conditions continuent de s'appliquer.",
    "refusal_withdrawn": "Refus retiré : les nouvelles conditions s'appliqueront.",
    # issue #21: partial recoveries (001 §7) and moves outside the EU (001 §5.3)
    "recovery_asked": "Transfert demandé : les copies sont en cours d'écriture ; leurs liens "
    "apparaissent ci-dessous une fois prêtes.",
    "relocated": "Déplacement enregistré : le client est prévenu et peut résilier sans "
    "indemnité pendant 30 jours (001 §5.3).",
    # contracts read again (issue 20): the client's failure notice (002 §6)
    "failure_notice_recorded": "Notification de défaillance enregistrée (002 §6) : "
    "l'indisponibilité compte au plus tard depuis maintenant.",
    "failure_notice_refused": "La notification de défaillance n'a pas pu être enregistrée.",
    "failure_notice_empty": "Décrivez ce qui ne fonctionne pas.",
    "console_not_offered": "Votre offre ne comprend pas la console de la machine (002 §3, "
    "§3.8.2) : le prestataire intervient pour vous.",
    # issue #16: staff accesses to personal data (001 §15.3)
    "access_granted": "Accès ouvert : le client est prévenu.",
    "access_revoked": "Accès révoqué.",
    "breach_notified": "Violation enregistrée : les clients touchés sont notifiés.",
    "subprocessor_saved": "Sous-traitant ultérieur enregistré : les clients sont prévenus.",
    "audit_requested": "Audit annoncé.",
    "change_requested": "Demande de changement enregistrée.",
    "audit_closed": "Audit clos : le dépassement est sur la prochaine facture.",
    "change_quoted": "Devis enregistré : le client voit le prix sur sa page de changements.",
    "quote_accepted": "Devis accepté : son prix sera sur votre prochaine facture.",
    "quote_declined": "Devis refusé : rien n'est facturé.",
}

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
}

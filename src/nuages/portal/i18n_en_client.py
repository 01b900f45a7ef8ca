"""English texts of the client area's pages (offers, contracts, account, invoices, keys,
users, tokens, history, snapshots and backups); merged into ``i18n_en.EN``."""

from __future__ import annotations

CLIENT: dict[str, str] = {
    # units and words of the terms in plain words (plain.py)
    "minute(s)": "minute(s)",
    "heure(s)": "hour(s)",
    "jour(s) calendaire(s)": "calendar day(s)",
    "jour(s) franc(s)": "clear day(s)",
    "jour(s) ouvré(s)": "working day(s)",
    "jour(s) ouvrable(s)": "business day(s) (Mon–Sat)",
    "mois": "month(s)",
    "an(s)": "year(s)",
    "par heure": "per hour",
    "par mois": "per month",
    "par trimestre": "per quarter",
    "par utilisateur et par mois": "per user and month",
    "par Gio et par mois": "per GiB and month",
    "une fois": "once",
    "par machine": "per machine",
    "carte": "card",
    "virement": "bank transfer",
    "prélèvement SEPA": "SEPA direct debit",
    "chèque": "cheque",
    "mensuelle": "monthly",
    "trimestrielle": "quarterly",
    "annuelle": "yearly",
    "Prix": "Prices",
    "{name} : {vcpu} vCPU, {ram} Mio de RAM, {disk} Gio de disque — {price} {unit}": (
        "{name}: {vcpu} vCPU, {ram} MiB RAM, {disk} GiB disk — {price} {unit}"
    ),
    "{name} : inclus": "{name}: included",
    "{name} : sur devis": "{name}: on quote",
    "Prix hors TVA ; TVA de {rate} % en sus.": "Prices before VAT; {rate} % VAT on top.",
    "Prix toutes taxes comprises (TVA {rate} %).": "Prices include VAT ({rate} %).",
    "Paiement": "Payment",
    "Compte prépayé : le contrat est formé quand vous acceptez les conditions et que le "
    "montant minimum de {amount} est crédité.": (
        "Prepaid account: the contract is formed when you accept the terms and the minimum "
        "amount of {amount} is credited."
    ),
    "Rechargement par : {means}.": "Top up by: {means}.",
    "Facturation minimale : {p}.": "Minimum billed: {p}.",
    "Facture {period} ; paiement à {term}.": "{period} invoice; payment within {term}.",
    "Contestation possible pendant {p}.": "May be disputed within {p}.",
    "La commande est définitive quand le prestataire la confirme.": (
        "The order is final once the provider confirms it."
    ),
    "Retard de paiement : intérêts de {pct} % par an.": "Late payment: interest of {pct} % a year.",
    "Retard de paiement : {n} fois le taux d'intérêt légal.": (
        "Late payment: {n} times the legal interest rate."
    ),
    "Durée": "Duration",
    "Durée initiale : {p}.": "Initial term: {p}.",
    "Renouvelé tacitement pour {p}.": "Renewed tacitly for {p}.",
    "Pour ne pas renouveler : prévenir au moins {p} avant l'échéance.": (
        "Not to renew: give notice at least {p} before the term ends."
    ),
    "Droit de rétractation : {p}.": "Right of withdrawal: {p}.",
    "Niveau de service": "Service level",
    "Pas d'engagement de disponibilité.": "No availability commitment.",
    "Disponibilité visée : {pct} % par mois.": "Availability objective: {pct} % a month.",
    "Disponibilité entre {low} et {high} : avoir de {pct} %.": (
        "Availability between {low} and {high}: {pct} % credit."
    ),
    "Maintenance annoncée au moins {p} à l'avance.": "Maintenance announced at least {p} ahead.",
    "Vos données": "Your data",
    "Instantanés : au plus {n} par machine, gardés {p}.": (
        "Snapshots: at most {n} per machine, kept {p}."
    ),
    "Sauvegardes quotidiennes, conservées {days} jours au choix.": (
        "Daily backups, kept {days} days as you choose."
    ),
    "Réversibilité : vos données restent récupérables pendant {p} après la fin.": (
        "Reversibility: your data can be recovered for {p} after the end."
    ),
    " (frais : {fee})": " (fee: {fee})",
    # offers and ordering
    "Facturation": "Billing",
    "compte prépayé": "prepaid account",
    "sur facture": "invoiced",
    "{n} gabarit(s)": "{n} flavour(s)",
    "Commander": "Order",
    "J'accepte les conditions ci-dessus (version {v}).": "I accept the terms above (version {v}).",
    "Le contrat sera formé dès que le montant minimum de {amount} sera crédité sur votre compte.": (
        "The contract will be formed as soon as the minimum amount of {amount} is credited to "
        "your account."
    ),
    "La commande deviendra définitive à sa confirmation par le prestataire.": (
        "The order becomes final when the provider confirms it."
    ),
    "Commande enregistrée : voici votre contrat et comment le former.": (
        "Order recorded: here is your contract and how to form it."
    ),
    # contracts
    "Offre": "Offer",
    "Accepté le": "Accepted on",
    "Voir les offres": "See the offers",
    "Durée et échéances": "Term and deadlines",
    "Conditions acceptées le {when} (version {v})": "Terms accepted on {when} (version {v})",
    "conditions": "terms",
    "Formé le {when}": "Formed on {when}",
    "Si vous donniez congé aujourd'hui": "If you gave notice today",
    "Formation du contrat": "Forming the contract",
    "Le contrat sera formé quand le montant minimum de {amount} sera crédité.": (
        "The contract will be formed when the minimum amount of {amount} is credited."
    ),
    "Comment payer": "How to pay",
    "En attente de la confirmation de la commande par le prestataire.": (
        "Waiting for the provider to confirm the order."
    ),
    "Compte prépayé": "Prepaid account",
    "Factures de ce contrat": "Invoices of this contract",
    "Suspensions": "Suspensions",
    "Motif": "Reason",
    "Depuis": "Since",
    "Fin prévue": "Expected end",
    "Levée": "Lifted",
    "Aucune suspension.": "No suspension.",
    "Extensions": "Extensions",
    "Objet": "Object",
    "Période": "Period",
    "Aucune extension.": "No extension.",
    # account
    "Consommation actuelle : {amount} par heure": "Current use: {amount} per hour",
    "Solde épuisé vers le {when}": "Balance runs out around {when}",
    "Montant minimum : {amount}": "Minimum amount: {amount}",
    "Solde négatif depuis le {when}": "Negative balance since {when}",
    "Recharger": "Top up",
    "Par virement, avec la référence de paiement :": (
        "By bank transfer, with the payment reference:"
    ),
    "Montant à prélever (SEPA)": "Amount to collect (SEPA)",
    "par exemple 150.00": "for example 150.00",
    "Demander le prélèvement": "Ask for the direct debit",
    "Mandat de prélèvement SEPA": "SEPA direct-debit mandate",
    "Titulaire du compte": "Account holder",
    "IBAN": "IBAN",
    "BIC (facultatif)": "BIC (optional)",
    "Signé le": "Signed on",
    "Enregistrer le mandat": "Save the mandate",
    "Prélèvements": "Direct debits",
    "Écritures": "Entries",
    "Type": "Kind",
    "tous": "all",
    "Libellé": "Description",
    "Montant": "Amount",
    "Aucune écriture.": "No entry.",
    "Mandat SEPA enregistré.": "SEPA mandate saved.",
    "Prélèvement demandé : il sera crédité une fois encaissé.": (
        "Direct debit requested: it is credited once collected."
    ),
    # invoices
    "Factures et avoirs": "Invoices and credit notes",
    "Numéro": "Number",
    "Émise le": "Issued on",
    "Total TTC": "Total incl. VAT",
    "facture": "invoice",
    "avoir": "credit note",
    "Facture": "Invoice",
    "Avoir": "Credit note",
    # 001 §4.6 (i): a deposit invoice (Factur-X type 386)
    "facture d'acompte": "deposit invoice",
    "Facture d'acompte": "Deposit invoice",
    "Télécharger": "Download",
    "Aucune facture.": "No invoice.",
    "Télécharger le PDF": "Download the PDF",
    # the effective due date (003 §13.2.1 acceleration, 001 §4.4 receipt, SPEC §17)
    "Échéance de paiement": "Due date",
    "Échéance de paiement : {d}": "Due date: {d}",
    "aucune tant que la facture n'a pas été reçue (son e-mail n'a pas été distribué)": (
        "none until the invoice is received (its e-mail was not delivered)"
    ),
    "date imprimée : {d}": "printed date: {d}",
    "date imprimée : {d} ; exigible immédiatement depuis la résiliation du contrat — {c}": (
        "printed date: {d}; due at once since the contract's termination — {c}"
    ),
    "date imprimée : {d} ; reportée, la facture ayant été reçue le {r}": (
        "printed date: {d}; moved later, the invoice having been received on {r}"
    ),
    "aucune : facture non reçue": "none: invoice not received",
    "exigible immédiatement": "due at once",
    "Total HT": "Total before VAT",
    "TVA": "VAT",
    "Reste dû": "Still due",
    "Quantité": "Quantity",
    "Prix unitaire HT": "Unit price before VAT",
    "Contester cette facture": "Dispute this invoice",
    "Possible jusqu'au {when}.": "Possible until {when}.",
    "Contester": "Dispute",
    "Contestation enregistrée : le prestataire y répondra.": (
        "Dispute recorded: the provider will answer it."
    ),
    # keys, users, tokens, history
    "Empreinte": "Fingerprint",
    "Ajoutée le": "Added on",
    "Supprimer": "Delete",
    "Aucune clé.": "No key.",
    "Ajouter une clé": "Add a key",
    "Clé publique": "Public key",
    "Ajouter": "Add",
    "Clé SSH ajoutée.": "SSH key added.",
    "Clé SSH supprimée.": "SSH key deleted.",
    "Historique des actions": "Action history",
    "Identifiant": "Id",
    "Qui": "Who",
    "Action": "Action",
    "Résultat": "Outcome",
    "Aucune action.": "No action.",
    "Mes jetons d'API": "My API tokens",
    "E-mail": "E-mail",
    "Rôle": "Role",
    "Responsable désigné": "Designated Responsable",
    "Actif": "Active",
    "Modifier": "Change",
    "oui": "yes",
    "non": "no",
    "actif": "active",
    "désactivé": "disabled",
    "Enregistrer": "Save",
    "Désigner Responsable": "Designate as Responsable",
    "Ajouter un utilisateur": "Add a user",
    "propriétaire (Responsable)": "owner (Responsable)",
    "membre (sous-responsable)": "member (sub-responsable)",
    "invité (lecture seule)": "guest (read only)",
    "Mot de passe (facultatif : sinon, lien de réinitialisation)": (
        "Password (optional: otherwise, a reset link)"
    ),
    "Utilisateur ajouté.": "User added.",
    "Utilisateur modifié.": "User changed.",
    "Jetons d'API": "API tokens",
    "Jeton créé : copiez-le maintenant, il ne sera plus affiché.": (
        "Token created: copy it now, it will not be shown again."
    ),
    "Droits": "Permissions",
    "Expire le": "Expires on",
    "cette session": "this session",
    "révoqué": "revoked",
    "Révoquer": "Revoke",
    "Nouveau jeton": "New token",
    "Durée de validité (jours)": "Valid for (days)",
    "Votre mot de passe": "Your password",
    "Créer le jeton": "Create the token",
    "Mot de passe incorrect.": "Wrong password.",
    "Jeton révoqué.": "Token revoked.",
    # snapshots, backups
    "Instantanés": "Snapshots",
    "Au plus {n} par machine ({clause}).": "At most {n} per machine ({clause}).",
    "le disque revient à cet instantané": "the disk goes back to this snapshot",
    "Restaurer": "Restore",
    "Aucun instantané.": "No snapshot.",
    "Nom (facultatif)": "Name (optional)",
    "Prendre un instantané": "Take a snapshot",
    "Sauvegardes": "Backups",
    "Volume des sauvegardes : {n} octets.": "Backup volume: {n} bytes.",
    "Prise le": "Taken on",
    "le disque revient à cette sauvegarde": "the disk goes back to this backup",
    "Aucune sauvegarde.": "No backup.",
    "Sauvegarde quotidienne": "Daily backup",
    "Activer": "Turn on",
    "Sauvegarder maintenant": "Back up now",
    "Nom de la nouvelle VM": "Name of the new VM",
    "Restaurer en nouvelle VM": "Restore as a new VM",
    "Volume des sauvegardes": "Backup volume",
    "Volume des sauvegardes du contrat : {n} octets.": "The contract's backup volume: {n} bytes.",
    "Octets": "Bytes",
    "Instantané demandé : il est en cours.": "Snapshot requested: it is under way.",
    "C'est fait.": "Done.",
    # issue 20 (contracts read again): the Datacenter firewall chosen at order
    "Pare-feu choisi à la commande (002 §3.6)": "Firewall chosen at order (002 §3.6)",
    "Signaler une défaillance (002 §6)": "Report a failure (002 §6)",
    "Ce qui ne fonctionne pas": "What does not work",
    "Envoyer la notification": "Send the notice",
    "Notification de défaillance enregistrée (002 §6) : "
    "l'indisponibilité compte au plus tard depuis maintenant.": (
        "Failure notice recorded (002 §6): unavailability counts from now at the latest."
    ),
    "La notification de défaillance n'a pas pu être enregistrée.": (
        "The failure notice could not be recorded."
    ),
    "Décrivez ce qui ne fonctionne pas.": "Describe what does not work.",
    "Votre offre ne comprend pas la console de la machine (002 §3, "
    "§3.8.2) : le prestataire intervient pour vous.": (
        "Your offer does not include the machine's console (002 §3, §3.8.2): the "
        "provider acts for you."
    ),
}

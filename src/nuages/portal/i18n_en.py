"""The English catalogue: French source text → English (missing entries stay French;
tests/portal/test_i18n.py lists any the pages use without an English text)."""

from __future__ import annotations

from nuages.portal.i18n_en_admin import ADMIN
from nuages.portal.i18n_en_client import CLIENT
from nuages.portal.i18n_en_life import LIFE
from nuages.portal.i18n_en_more import MORE
from nuages.portal.i18n_en_support import SUPPORT

EN: dict[str, str] = {
    # layout, navigation
    "Aller au contenu": "Skip to content",
    "Menu principal": "Main menu",
    "Se déconnecter": "Sign out",
    "Langue": "Language",
    "Accueil": "Home",
    "Tableau de bord": "Dashboard",
    "Machines": "Machines",
    "Offres": "Offers",
    "Compte": "Account",
    "Factures": "Invoices",
    "Contrat": "Contract",
    "Contrats": "Contracts",
    "Clés SSH": "SSH keys",
    "Utilisateurs": "Users",
    "Historique": "History",
    "Back-office": "Back-office",
    "clients": "clients",
    "contrats": "contracts",
    "machines": "machines",
    "Pages": "Pages",
    "{n} élément(s)": "{n} item(s)",
    "page {p} sur {q}": "page {p} of {q}",
    "← Précédente": "← Previous",
    "Suivante →": "Next →",
    "Filtrer": "Filter",
    # errors
    "Action refusée": "Action refused",
    "Page introuvable": "Page not found",
    "Conflit": "Conflict",
    "Saisie invalide": "Invalid input",
    "Trop de tentatives": "Too many attempts",
    "Erreur": "Error",
    "Cette page n'existe pas, ou vous n'y avez pas accès.": (
        "This page does not exist, or you may not see it."
    ),
    "Retour à l'accueil": "Back to the home page",
    "Ce formulaire n'a pas été reconnu (jeton de sécurité absent ou faux) : rien n'a été "
    "enregistré. Rechargez la page et recommencez.": (
        "This form was not recognised (security token missing or wrong): nothing was saved. "
        "Reload the page and try again."
    ),
    # sign-in, reset
    "Connexion": "Sign in",
    "Adresse e-mail": "E-mail address",
    "Mot de passe": "Password",
    "Se connecter": "Sign in",
    "Mot de passe oublié ?": "Forgot your password?",
    "Mot de passe oublié": "Forgotten password",
    "Adresse e-mail du compte": "The account's e-mail address",
    "Un lien valable une heure y sera envoyé.": "A link valid for one hour will be sent there.",
    "Recevoir un lien": "Send me a link",
    "Nouveau mot de passe": "New password",
    "Au moins 12 caractères.": "At least 12 characters.",
    "Le même, à nouveau": "The same again",
    "Changer le mot de passe": "Change the password",
    "Trop de tentatives depuis votre adresse : réessayez dans {n} secondes.": (
        "Too many attempts from your address: try again in {n} seconds."
    ),
    "Saisissez une adresse e-mail valide.": "Enter a valid e-mail address.",
    "E-mail ou mot de passe incorrect.": "Wrong e-mail or password.",
    "Trop d'échecs pour cette adresse : elle est bloquée jusqu'à {when}. Vous pouvez aussi "
    "réinitialiser votre mot de passe.": (
        "Too many failures for this address: it is locked until {when}. You can also reset "
        "your password."
    ),
    "Trop de demandes depuis votre adresse : patientez.": (
        "Too many requests from your address: please wait."
    ),
    "Au moins {n} caractères.": "At least {n} characters.",
    "Au plus 256 caractères.": "At most 256 characters.",
    "Les deux mots de passe diffèrent.": "The two passwords differ.",
    # flash messages
    "Vous êtes déconnecté.": "You are signed out.",
    "Votre session a expiré : rien n'a été enregistré. Reconnectez-vous, puis envoyez le "
    "formulaire à nouveau.": (
        "Your session expired: nothing was saved. Sign in again, then send the form again."
    ),
    "Connectez-vous pour continuer.": "Sign in to continue.",
    "Session rouverte : rien n'avait été enregistré, envoyez le formulaire à nouveau.": (
        "Signed in again: nothing had been saved, send the form again."
    ),
    "Ce formulaire a déjà été envoyé : voici le résultat du premier envoi (rien n'a été "
    "fait deux fois).": (
        "This form was already sent: here is what the first sending did (nothing was done twice)."
    ),
    "Si cette adresse correspond à un compte, un lien de réinitialisation vient de lui être "
    "envoyé (valable une heure).": (
        "If this address belongs to an account, a reset link was just sent to it (valid for "
        "one hour)."
    ),
    "Mot de passe changé : connectez-vous avec le nouveau.": (
        "Password changed: sign in with the new one."
    ),
    "Ce lien de réinitialisation n'est plus valable : demandez-en un nouveau.": (
        "This reset link is no longer valid: ask for a new one."
    ),
    "Machine demandée : sa création est en cours.": "Machine requested: it is being created.",
    "Action demandée : elle est en cours.": "Action requested: it is under way.",
    "Langue changée.": "Language changed.",
    # dashboard
    "Nom": "Name",
    "État": "State",
    "Adresse": "Address",
    "Toutes les machines": "All machines",
    "Aucune machine pour l'instant.": "No machine yet.",
    "Créer une machine": "Create a machine",
    "Échéance": "Term ends",
    "Solde": "Balance",
    "épuisé vers le {when}": "runs out around {when}",
    "En attente du montant minimum de {amount} (référence de paiement {ref}).": (
        "Awaiting the minimum amount of {amount} (payment reference {ref})."
    ),
    "Suspension en cours": "Suspended",
    "fin prévue le {when}": "expected to end on {when}",
    "Aucun contrat.": "No contract.",
    "Derniers avis": "Latest notices",
    "Aucun avis.": "No notice.",
    # VMs
    "Nom contient": "Name contains",
    "tous (sauf supprimées)": "all (but deleted)",
    "Ressources": "Resources",
    "Créée le": "Created on",
    "Aucune machine.": "No machine.",
    "Accès SSH": "SSH access",
    "Connexion par les clés SSH choisies à la création ; aucun mot de passe n'est envoyé.": (
        "Sign in with the SSH keys chosen at creation; no password is ever sent."
    ),
    "Pas encore d'adresse.": "No address yet.",
    "Actions": "Actions",
    "Démarrer": "Start",
    "Arrêter": "Stop",
    "Redémarrer": "Reboot",
    "Réinstaller…": "Reinstall…",
    "Supprimer…": "Delete…",
    "Nouveau gabarit (machine arrêtée)": "New flavour (machine stopped)",
    "Redimensionner": "Resize",
    "Opérations récentes": "Recent operations",
    "Quand": "When",
    "Opération": "Operation",
    "Supprimer la machine {name} ? Son disque est détruit ; son adresse retourne au pool.": (
        "Delete the machine {name}? Its disk is destroyed; its address goes back to the pool."
    ),
    "Oui, supprimer": "Yes, delete",
    "Réinstaller la machine {name} ? Elle revient à son état d'origine, sans vos données "
    "(000 §5).": (
        "Reinstall the machine {name}? It goes back to its original state, without your data "
        "(000 §5)."
    ),
    "Oui, réinstaller": "Yes, reinstall",
    "Annuler": "Cancel",
    "Aucun contrat actif : commandez une offre, puis revenez ici.": (
        "No active contract: order an offer, then come back here."
    ),
    "Gabarit": "Flavour",
    "Image": "Image",
    "lettres minuscules, chiffres et tirets, 63 caractères au plus": (
        "lower-case letters, digits and hyphens, at most 63 characters"
    ),
    "Aucune clé : la machine sera joignable par la console seulement.": (
        "No key: the machine will be reachable through the console only."
    ),
    "Créer": "Create",
    "en cours": "in progress",
    "alimentation": "power",
    "Suspendue": "Suspended",
    "Dernière opération": "Last operation",
    # issue 14: console and supervision graphs on the VM page
    "Console": "Console",
    "Un jeton à usage unique, valable 60 secondes, ouvre la console.": (
        "A single-use token, valid 60 seconds, opens the console."
    ),
    "Console série": "Serial console",
    "Écran (VNC)": "Display (VNC)",
    "Supervision (dernière heure)": "Monitoring (last hour)",
    "Pas encore de mesures.": "No measurements yet.",
    "max": "max",
    "CPU": "CPU",
    "Mémoire utilisée": "Memory used",
    "Lecture disque": "Disk read",
    "Écriture disque": "Disk write",
    "Réseau reçu": "Network received",
    "Réseau envoyé": "Network sent",
    "La console ne peut pas s'ouvrir : la machine doit être démarrée.": (
        "The console cannot open: the machine must be running."
    ),
    # sla (issue 22)
    "Niveau de service": "Service level",
    "Niveaux de service": "Service levels",
    "Disponibilité du mois": "The month's availability",
    "Disponibilité": "Availability",
    "objectif": "objective",
    "objectif atteint": "objective met",
    "objectif manqué": "objective missed",
    "Minutes comptées": "Counted minutes",
    "Crédit": "Credit",
    "Rapport pas encore émis : chiffres à ce jour.": "Report not issued yet: figures so far.",
    "à demander avant le {when}": "to claim before {when}",
    "Machine": "Machine",
    "Maintenances prévues": "Planned maintenance",
    "Aucune maintenance prévue.": "No maintenance planned.",
    "Incidents déclarés": "Declared outages",
    "Début": "Start",
    "Fin": "End",
    "Portée": "Scope",
    "Cause": "Cause",
    "Maintenances": "Maintenance",
    "Motif": "Reason",
    "Contrats prévenus à temps": "Contracts told in time",
    # network (issue 14): the firewall page
    "Pare-feu": "Firewall",
    "Politique": "Policy",
    "Trafic entrant non couvert par une règle": "Inbound traffic no rule covers",
    "L'envoi de courriels (ports 25, 465, 587) est bloqué : seul un serveur déclaré "
    "serveur de messagerie peut en envoyer.": "Sending e-mail (ports 25, 465, 587) is "
    "blocked: only a server declared a mail server may send it.",
    "Serveur pare-feu : chaque changement de règle attend l'accord du prestataire.": (
        "Firewall server: each rule change waits for the provider's approval."
    ),
    "La connexion réseau de ce serveur est coupée.": "This server's network connection is cut.",
    "Elle le restera jusqu'à la réinstallation du serveur.": (
        "It stays cut until the server is reinstalled."
    ),
    "Durée prévue : jusqu'au": "Expected duration: until",
    "heure de Paris": "Paris time",
    "Durée prévue : pas encore connue.": "Expected duration: not known yet.",
    "Fin prévue (heure de Paris, facultatif ; pas pour un serveur à réinstaller)": (
        "Expected end (Paris time, optional; not for a server to reinstall)"
    ),
    "Règles": "Rules",
    "Sens": "Direction",
    "Protocole": "Protocol",
    "Port": "Port",
    "Source": "Source",
    "Action": "Action",
    "Priorité": "Priority",
    "Retirer": "Remove",
    "Ajouter une règle": "Add a rule",
    "Sens (in ou out)": "Direction (in or out)",
    "Protocole (tcp, udp, icmp, any)": "Protocol (tcp, udp, icmp, any)",
    "Port ou plage a-b": "Port or range a-b",
    "Source (CIDR)": "Source (CIDR)",
    "Action (accept ou drop)": "Action (accept or drop)",
    "Ajouter": "Add",
    "Pare-feu modifié : l'hôte applique la règle.": "Firewall changed: the host applies the rule.",
    # reversibility (issue 21.6): a contract's exit page
    "Fin de contrat": "End of contract",
    "Date limite": "Deadline",
    "Vos données": "Your data",
    "Contrat terminé le {when}": "Contract ended on {when}",
    "Pas de réversibilité après un défaut de paiement.": (
        "No reversibility after a payment default."
    ),
    "Les données ne sont restituées qu'une fois toutes les factures payées.": (
        "Data is returned only once every invoice is paid."
    ),
    "Solde remboursé": "Balance refunded",
    "Copies": "Copies",
    "Lien valable jusqu'au": "Link valid until",
    "Aucune copie pour l'instant.": "No copy yet.",
    "Effacement": "Erasure",
    "Effacé le {when}": "Erased on {when}",
    "Procès-verbal": "Record",
    "sceau": "seal",
    # contract life (issue #21)
    "Échéances du contrat": "Contract deadlines",
    "terme le {day}": "term ends {day}",
    "Clause": "Clause",
    "Aucune échéance à venir.": "No deadline coming.",
    "Préavis donné : le contrat prend fin le {day}.": "Notice given: the contract ends on {day}.",
    "Préavis de résiliation": "Notice to quit",
    "La date de fin vous est indiquée avant que le préavis ne soit donné.": (
        "The end date is shown before the notice is given."
    ),
    "Voir la date de fin": "Show the end date",
    "Le contrat prendrait fin le {day}.": "The contract would end on {day}.",
    "Motif (facultatif)": "Reason (optional)",
    "Oui, donner le préavis": "Yes, give notice",
    "Préavis donné : la date de fin est indiquée ci-dessous.": (
        "Notice given: the end date is shown below."
    ),
    # support and GDPR pages (issue #16)
    "Accès du personnel à vos données": "Staff access to your data",
    "Aucun ticket.": "No ticket.",
    "Aucun transfert hors Union européenne.": "No transfer outside the European Union.",
    "Basse": "Low",
    "Catégorie": "Category",
    "Catégories de traitements": "Categories of processing",
    "Centres de données": "Data centres",
    "Clore le ticket": "Close the ticket",
    "Contrat (sans machine)": "Contract (no machine)",
    "Critique": "Critical",
    "Demande": "Request",
    "Description": "Description",
    "Données personnelles": "Personal data",
    "Délégué à la protection des données / contact": "Data protection officer / contact",
    "Envoyer": "Send",
    "Gravité": "Severity",
    "Haute": "High",
    "Heures de support": "Support hours",
    "Incident": "Incident",
    "Intervention au plus tard": "Intervention at the latest",
    "Le support répond du lundi au vendredi de 9 h à 18 h, hors jours fériés ; un incident "
    "sur une machine vaut notification de défaillance.": "Support answers Monday to Friday "
    "9:00–18:00, public holidays excepted; an incident on a machine is also its failure notice.",
    "Message envoyé.": "Message sent.",
    "Messages": "Messages",
    "Minutes ouvrées écoulées": "Business minutes elapsed",
    "Mise à jour": "Update",
    "Mise à jour visée (moyenne)": "Update target (average)",
    "Normale": "Normal",
    "Objet": "Subject",
    "Ouvert le": "Opened",
    "Ouvrir un ticket": "Open a ticket",
    "Pays": "Country",
    "Première réponse": "First answer",
    "Prestation": "Service",
    "Question": "Question",
    "Registre des traitements": "Register of processing",
    "Responsable du traitement": "Controller",
    "Sous-traitants ultérieurs": "Sub-processors",
    "Support": "Support",
    "Ticket ouvert : le support vous répond dans ses heures d'ouverture.": (
        "Ticket opened: support answers within its opening hours."
    ),
    "Transferts hors Union européenne": "Transfers outside the European Union",
    "Télécharger en PDF": "Download as PDF",
    "Votre message": "Your message",
    "Vous": "You",
    "dépassé": "overdue",
    "hors heures": "out of hours",
    "hors heures de support": "outside support hours",
    "hors heures, facturé": "out of hours, billed",
    "hors jours fériés": "public holidays excepted",
    # net (issue 14): staff network measures on the firewall page
    "Mesures du prestataire": "Provider measures",
    "Coupé depuis": "Cut since",
    "suspension partielle du contrat": "partial suspension of the contract",
    "Motif du rétablissement": "Why it is restored",
    "Coupure manifestement injustifiée (temps coupé crédité, 000 §11.1)": (
        "Manifestly wrongful cut (cut time credited, 000 §11.1)"
    ),
    "non": "no",
    "oui": "yes",
    "Rétablir le réseau": "Restore the network",
    "Ce qui a été constaté": "What was seen",
    "Toutes les machines du client (000 §6)": "All of the client's machines (000 §6)",
    "Couper le réseau": "Cut the network",
    "Réseau coupé : le client est prévenu.": "Network cut: the client is told.",
    "Réseau rétabli : le client est prévenu.": "Network restored: the client is told.",
    # issue 12: SLA monthly reports (back-office and the contract's SLA page)
    "Mois attendu au format AAAA-MM.": "Month expected as YYYY-MM.",
    "Rapports mensuels": "Monthly reports",
    "Rapports de niveau de service": "Service-level reports",
    "Version": "Version",
    "Objectif atteint": "Objective met",
    "Mode du crédit": "Credit mode",
    "État du crédit": "Credit state",
    "Émis le": "Issued on",
    "Aucun rapport émis.": "No report issued.",
    "Rapports mensuels émis": "Issued monthly reports",
}
EN.update(CLIENT)
EN.update(ADMIN)
EN.update(MORE)
EN.update(LIFE)  # issue #21: relocations and partial recoveries
EN.update({k: v for k, v in SUPPORT.items() if k not in EN})  # issue #16: staff tickets, accesses

"""Service errors in the visitor's language (issue #12 §4: "clear error messages").

Services raise ``NuagesError`` subclasses whose ``detail`` is an English sentence (the
API's problem documents keep them). A French page must not show it, so the portal says
it again from this catalogue:

1. ``PATTERNS``: the sentences the portal's forms meet most, as English patterns with
   their French wording (the values they carry — dates, amounts, clauses — kept);
2. else ``BY_TYPE``: one French and one English sentence per error type (the problem
   ``type`` slug), which says what kind of refusal it was;
3. a pydantic error is said from its error type (``PYDANTIC``).

An English page shows the service's own sentence (more precise than the type's). A
``field: …`` prefix places the message next to that field (``web.field_errors``); the
French sentence names the field (``fields.label``) when it is shown above the form, and
always when only the type's sentence is known (a bare "vérifiez la valeur" says nothing).
An ``already-exists`` refusal names what exists when the service's sentence carries it.
``tests/portal/test_errors_i18n.py`` walks every error class of the code and fails if
its type has no entry here.
"""

from __future__ import annotations

import re
from typing import Any

from nuages.kernel.errors import NuagesError
from nuages.portal.fields import label

# slug → (French, English)
BY_TYPE: dict[str, tuple[str, str]] = {
    "bad-request": ("La demande n'est pas valable.", "The request is not valid."),
    "validation-failed": (
        "Cette saisie n'est pas acceptée : vérifiez la valeur.",
        "This input is not accepted: check the value.",
    ),
    "not-found": ("Introuvable, ou vous n'y avez pas accès.", "Not found, or not yours to see."),
    "unauthenticated": ("Connectez-vous pour continuer.", "Sign in to continue."),
    "forbidden": ("Votre rôle ne permet pas cette action.", "Your role does not allow this."),
    "conflict": (
        "L'état actuel ne permet pas cette action.",
        "The current state does not allow this.",
    ),
    "invalid-transition": (
        "Cette action n'est pas possible dans l'état actuel.",
        "This action is not possible in the current state.",
    ),
    "already-exists": ("Cela existe déjà.", "This already exists."),
    "capacity-exhausted": (
        "Plus de capacité disponible (hôte, adresse ou place) pour cette demande.",
        "No capacity left (host, address or slot) for this request.",
    ),
    "payment-required": (
        "Le compte doit d'abord être approvisionné.",
        "The account must be funded first.",
    ),
    "console-refused": (
        "La console ne peut pas s'ouvrir : la machine doit être démarrée.",
        "The console cannot open: the machine must be running.",
    ),
    "contract-on-hold": (
        "Le contrat est suspendu : cette action attend la levée de la suspension.",
        "The contract is on hold: this waits until the hold is lifted.",
    ),
    "firewall-not-enforceable": (
        "Ce pare-feu ne peut pas être appliqué par l'hôte de cette machine : "
        "contactez le prestataire.",
        "This firewall cannot be enforced by this machine's host: contact the provider.",
    ),
    "hold-not-open": (
        "Cette suspension n'est plus en cours.",
        "This hold is no longer in place.",
    ),
    "corrupt-offer-version": (
        "La version des conditions de ce contrat est illisible : contactez le prestataire.",
        "This contract's terms version cannot be read: contact the provider.",
    ),
    "dispute-window-closed": (
        "Le délai pour contester cette facture est passé.",
        "The time to dispute this invoice is over.",
    ),
    "domain-exists": (
        "L'hyperviseur connaît déjà cette machine.",
        "The hypervisor already knows this machine.",
    ),
    "domain-not-found": (
        "L'hyperviseur ne connaît pas cette machine.",
        "The hypervisor does not know this machine.",
    ),
    "host-unreachable": (
        "L'hôte de la machine ne répond pas : réessayez plus tard.",
        "The machine's host does not answer: try again later.",
    ),
    "hypervisor-error": (
        "L'hyperviseur a refusé l'opération.",
        "The hypervisor refused the operation.",
    ),
    "invalid-seller-file": (
        "Le fichier d'identité du vendeur n'est pas valable.",
        "The seller's identity file is not valid.",
    ),
    "invalid-terms-file": (
        "Le fichier des conditions n'est pas valable.",
        "The terms file is not valid.",
    ),
    "missing-buyer-data": (
        "Il manque des données de l'acheteur pour émettre la facture (adresse, TVA…).",
        "Buyer data needed on the invoice are missing (address, VAT…).",
    ),
    "nft-error": ("Le pare-feu de l'hôte a refusé la règle.", "The host's firewall refused."),
    "notice-already-given": (
        "Un préavis a déjà été donné pour ce contrat.",
        "Notice was already given for this contract.",
    ),
    "qemu-cannot-reach": (
        "L'hôte ne peut pas lire le disque de la machine.",
        "The host cannot read the machine's disk.",
    ),
    "reversibility-export-in-progress": (
        "Un export des données est déjà en cours.",
        "A data export is already under way.",
    ),
    "reversibility-unpaid": (
        "La réversibilité attend le paiement des sommes dues.",
        "Reversibility waits for the amounts due to be paid.",
    ),
    "reversibility-window-closed": (
        "Le délai de réversibilité est passé.",
        "The reversibility period is over.",
    ),
    "seller-not-configured": (
        "L'identité du vendeur n'est pas configurée : le prestataire doit la renseigner.",
        "The seller's identity is not configured: the provider must set it.",
    ),
    "sign-in-locked": (
        "Trop d'échecs de connexion : patientez avant de réessayer.",
        "Too many failed sign-ins: wait before trying again.",
    ),
    "termination-ground-not-open": (
        "Ce motif de résiliation n'est pas ouvert pour ce contrat.",
        "This ground for termination is not open for this contract.",
    ),
    "terms-not-applicable": (
        "Les conditions de l'offre ne prévoient pas cela.",
        "The offer's terms do not provide for this.",
    ),
    "terms-refusal-closed": (
        "Les nouvelles conditions ne peuvent plus être refusées.",
        "The new terms can no longer be refused.",
    ),
    "unsafe-disk": (
        "Ce fichier disque n'est pas sûr : il est refusé.",
        "This disk file is not safe: refused.",
    ),
    # Answers of the API layer itself (api/problems.py, api/refusals.py, api/limits.py).
    "too-many-refusals": (
        "Trop de demandes refusées : patientez avant de réessayer.",
        "Too many refused requests: wait before trying again.",
    ),
    "unavailable": ("Le service est occupé : réessayez.", "The service is busy: try again."),
    "internal-error": (
        "Une erreur inattendue est survenue ; elle a été consignée.",
        "An unexpected error occurred; it was logged.",
    ),
    "body-too-large": ("L'envoi est trop gros.", "The upload is too large."),
}

# English detail (after any "field: " prefix) → French; named groups are carried over.
PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), fr)
    for p, fr in (
        (
            r"^an extension cannot start in the past$",
            "une extension ne peut pas commencer dans le passé.",
        ),
        (r"^must be after starts_at$", "la fin doit venir après le début."),
        (r"^an extension lasts at most (?P<n>\d+) days$", "une extension dure au plus {n} jours."),
        (
            r"^an extension lasts at least the minimum service \((?P<c>[^)]*)\)$",
            "une extension dure au moins le service minimum ({c}).",
        ),
        (
            r"^offer (?P<o>\S+) has no (flavour|option priced per hour or month) '?(?P<i>[^']*)'?$",
            "l'offre {o} n'a pas « {i} ».",
        ),
        (
            r"^a resources extension names the VM to enlarge$",
            "une extension de ressources désigne la machine à agrandir.",
        ),
        (
            r"^a resources extension enlarges one VM$",
            "une extension de ressources agrandit une seule machine.",
        ),
        (
            r"^the client's designated Responsable decides on extensions \(000 §8\)$",
            "seul le Responsable désigné du client décide des extensions (000 §8).",
        ),
        (
            r"^a (?P<s>\w+) extension is not waiting for a decision$",
            "cette extension ({s}) n'attend pas de décision.",
        ),
        (
            r"^the extension changed meanwhile; read it again$",
            "l'extension a changé entre-temps : rechargez la page.",
        ),
        (
            r"^a refusal is sent by registered letter \((?P<c>[^)]*)\)$",
            "le refus se fait par lettre recommandée ({c}) : indiquez sa date.",
        ),
        (r"^is in the future$", "cette date est dans le futur."),
        (
            r"^the refusal window closed on (?P<d>\S+) \((?P<c>[^)]*)\)$",
            "le délai de refus s'est terminé le {d} ({c}).",
        ),
        (
            r"^this change is imposed by law and cannot be refused \(000 §4\)$",
            "ce changement est imposé par la loi : il ne peut pas être refusé (000 §4).",
        ),
        (
            r"^the terms give no right to refuse this change \((?P<c>[^)]*)\)$",
            "les conditions ne donnent pas le droit de refuser ce changement ({c}).",
        ),
        (
            r"^no terms change awaits an answer on this contract$",
            "aucun changement des conditions n'attend de réponse sur ce contrat.",
        ),
        (r"^no refusal to withdraw on this contract$", "aucun refus à retirer sur ce contrat."),
        (
            r"^only a Responsable \(owner\) (refuses new terms|withdraws a refusal) \(000 §1, §4\)",
            "seul un Responsable (propriétaire) répond aux nouvelles conditions (000 §1, §4).",
        ),
        (
            r"^bank reference (?P<r>.+) is already credited \(#(?P<n>\d+)\)$",
            "la référence bancaire {r} est déjà créditée (écriture n° {n}).",
        ),
        (
            r"^card payment (?P<r>.+) is already credited \(#(?P<n>\d+)\)$",
            "le paiement par carte {r} est déjà crédité (écriture n° {n}).",
        ),
        (
            r"^offer (?P<o>\S+) does not take top-ups by (?P<m>\S+)$",
            "l'offre {o} ne prévoit pas de recharge par ce moyen ({m}).",
        ),
        (r"^a number such as (?P<x>\S+)$", "un nombre tel que {x}."),
        (
            r"^the account is kept in (?P<a>\w+), not (?P<b>\w+)$",
            "le compte est tenu en {a}, pas en {b}.",
        ),
        (r"^only provider staff (?P<w>.+)$", "réservé au personnel du prestataire."),
        (r"^give a date and a time$", "indiquez une date et une heure."),
        (
            r"^the window lies outside the preferred maintenance",
            "la fenêtre sort des heures de maintenance prévues.",
        ),
        (r"^wrong e-mail or password$", "e-mail ou mot de passe incorrect."),
        (r"^a user with the e-mail (?P<e>\S+) exists$", "un utilisateur a déjà l'adresse {e}."),
        (
            r"^too many failed sign-ins",
            "trop d'échecs de connexion : patientez avant de réessayer.",
        ),
        (r"^say why the hold is lifted$", "dites pourquoi la suspension est levée."),
        (r"^a date such as (?P<x>\S+)$", "une date telle que {x}."),
        # issue #21: moves outside the EU (001 §5) and partial recoveries (001 §7)
        (
            r"^'?(?P<s>[^']+)'? is in (?P<c>[A-Z]{2}), inside the EU: the provider moves the "
            r"data there without notice \((?P<k>[^)]*)\)$",
            "le site {s} est en {c}, dans l'UE : le prestataire y déplace les données sans "
            "préavis ({k}).",
        ),
        (
            r"^site '?(?P<s>[^']+)'? is in (?P<c>[A-Z]{2}), not (?P<d>[A-Z]{2})$",
            "le site {s} est en {c}, pas en {d}.",
        ),
        (
            r"^no host serves site '?(?P<s>[^']+)'?, so its country is not known; give it$",
            "aucun hôte ne dessert le site {s} : indiquez son pays.",
        ),
        (
            r"^partial recovery: data is returned only once every invoice is paid "
            r"\((?P<k>[^)]*)\); unpaid: (?P<n>[^(]+) \((?P<a>\S+) still due\)$",
            "les données ne sont restituées qu'une fois toutes les factures payées ({k}) ; "
            "impayées : {n} ({a} encore dus).",
        ),
        # issue #16: data protection pages (001 §15.3, §16.7, §16.9)
        (
            r"^(?P<c>[A-Z]{2}) is outside the EU without an adequacy decision; name the GDPR "
            r"Art\. 46 instrument",
            "{c} est hors de l'UE sans décision d'adéquation : indiquez la garantie de "
            "l'article 46 du RGPD (par exemple les clauses contractuelles types).",
        ),
        (r"^(?P<n>.+) was already replaced or ended$", "{n} a déjà été remplacé ou a pris fin."),
        (
            r"^it reaches no client",
            "elle ne touche aucun client : nommez des clients, des hôtes ou des sites, ou tous.",
        ),
        (
            r"^a breach is detected after it occurred$",
            "une violation est détectée après l'incident.",
        ),
        (r"^the access is already revoked$", "l'accès est déjà révoqué."),
        (
            r"^only an owner or staff revokes an access$",
            "seul un propriétaire ou le personnel révoque un accès.",
        ),
        (
            r"^an audit is announced at least (?P<n>.+) ahead \((?P<c>[^)]*)\); the earliest "
            r"start from today is (?P<d>\S+)$",
            "un audit s'annonce au moins {n} à l'avance ({c}) ; le premier jour possible à "
            "partir d'aujourd'hui est le {d}.",
        ),
        (
            r"^the month's (?P<q>\d+) free standard changes \((?P<c>[^,]*), quota of "
            r"(?P<m>\S+)\) are used; this one costs EUR (?P<p>\S+); send accept_price true",
            "les {q} changements standard compris de {m} sont utilisés ({c}) : celui-ci coûte "
            "{p} EUR ; cochez l'acceptation du prix pour le commander.",
        ),
        (
            r"^give a number of hours, e\.g\. 5\.5$",
            "indiquez un nombre d'heures, par exemple 5,5.",
        ),
        (
            r"^give a price in euros, e\.g\. 2400\.00$",
            "indiquez un prix en euros, par exemple 2400,00.",
        ),
        (r"^a quote is a positive amount$", "un devis est un montant positif."),
        (
            r"^a price has at most two decimals \(cents\)$",
            "un prix a au plus deux décimales (les centimes).",
        ),
        # what already exists, named (compute, accounts)
        (
            r"^this client already has a VM named (?P<n>.+)$",
            "vous avez déjà une machine nommée « {n} » : choisissez un autre nom.",
        ),
        (r"^an image named (?P<n>.+) exists$", "une image nommée « {n} » existe déjà."),
        (r"^a host named (?P<n>.+) exists$", "un hôte nommé « {n} » existe déjà."),
        (
            r"^an IP pool named (?P<n>.+) exists$",
            "une plage d'adresses nommée « {n} » existe déjà.",
        ),
        (
            r"^a backup target named (?P<n>.+) exists$",
            "une cible de sauvegarde nommée « {n} » existe déjà.",
        ),
        (
            r"^you already have a key with this name$",
            "vous avez déjà une clé de ce nom : choisissez un autre nom.",
        ),
        (r"^you already have a key with this key$", "vous avez déjà enregistré cette clé."),
        (r"^this member already operates this VM$", "ce membre opère déjà cette machine."),
        (r"^give the new VM a name$", "donnez un nom à la nouvelle machine."),
    )
]
# An ``already-exists`` sentence no pattern knows that still names the object.
NAMED = re.compile(r"named '?(?P<n>[^']+?)'?(?: exists)?$")

# pydantic error type → French (``{…}`` from the error's context).
PYDANTIC: dict[str, str] = {
    "missing": "Ce champ est obligatoire.",
    "string_too_short": "Trop court (au moins {min_length} caractères).",
    "string_too_long": "Trop long (au plus {max_length} caractères).",
    "string_pattern_mismatch": "Ce format n'est pas accepté.",
    "int_parsing": "Saisissez un nombre entier.",
    "int_type": "Saisissez un nombre entier.",
    "decimal_parsing": "Saisissez un montant tel que 100.00.",
    "decimal_type": "Saisissez un montant tel que 100.00.",
    "decimal_max_places": "Trop de décimales.",
    "greater_than": "La valeur doit dépasser {gt}.",
    "greater_than_equal": "La valeur doit être au moins {ge}.",
    "less_than": "La valeur doit être inférieure à {lt}.",
    "less_than_equal": "La valeur doit être au plus {le}.",
    "date_parsing": "Saisissez une date valide.",
    "date_from_datetime_parsing": "Saisissez une date valide.",
    "datetime_parsing": "Saisissez une date et une heure valides.",
    "datetime_from_date_parsing": "Saisissez une date et une heure valides.",
    "timezone_aware": "Saisissez une date et une heure valides.",
    "literal_error": "Choisissez une des valeurs proposées.",
    "enum": "Choisissez une des valeurs proposées.",
    "value_error": "Cette valeur n'est pas acceptée.",
    "too_long": "Trop d'éléments.",
    "bool_parsing": "Choisissez oui ou non.",
    "extra_forbidden": "Ce champ n'est pas attendu.",
    "uuid_parsing": "Identifiant non valable.",
}
PYDANTIC_DEFAULT = "Cette valeur n'est pas acceptée."


class ErrorText(str):
    """An error shown on a page: the service's (English) sentence, with its type so
    the page can say it in the visitor's language (``say``)."""

    slug: str
    pydantic: str | None
    ctx: dict[str, Any]
    field: str | None  # the field it is about, when known
    beside: bool  # shown next to that field's input (which names it already)

    def __new__(
        cls,
        text: str,
        slug: str,
        pydantic: str | None = None,
        ctx: dict[str, Any] | None = None,
        field: str | None = None,
        beside: bool = False,
    ) -> ErrorText:
        made = super().__new__(cls, text)
        made.slug = slug
        made.pydantic = pydantic
        made.ctx = dict(ctx or {})
        made.field = field
        made.beside = beside
        return made


def of(exc: BaseException) -> ErrorText:
    """The sentence of a service error (or a ValueError of the page's own parsing)."""
    if isinstance(exc, NuagesError):
        field = exc.extra.get("field")
        return ErrorText(exc.detail, exc.slug, field=field if isinstance(field, str) else None)
    return ErrorText(str(exc), "validation-failed")


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def _named(field: str | None, text: str, sentence: bool = True) -> str:
    """``text`` said of ``field`` (« Nom » : …), else capitalised. A ``sentence`` of the
    catalogue loses its capital after the colon; a pattern's wording is written in lower
    case already and may start with a value (a country code, a name) kept as it is."""
    if not field:
        return text[:1].upper() + text[1:]
    return f"« {label(field)} » : {_lower(text) if sentence else text}"


def _french(text: str, slug: str, field: str | None = None, beside: bool = False) -> str:
    head, sep, rest = text.partition(": ")
    body = text
    if sep and re.fullmatch(r"[a-z_][a-z0-9_.]*", head):
        body, field = rest, field or head
    for pattern, french in PATTERNS:
        found = pattern.search(body)
        if found:
            out = french.format(**found.groupdict())
            return _named(None if beside else field, out, sentence=False)
    named = NAMED.search(body) if slug == "already-exists" else None
    if named:
        return _named(None if beside else field, f"« {named['n']} » existe déjà.", False)
    generic = BY_TYPE.get(slug, BY_TYPE["bad-request"])[0]
    if slug == "validation-failed" and field:
        return _named(field, "cette saisie n'est pas acceptée, vérifiez la valeur.")
    return _named(field, generic)


def say(value: Any, lang: str) -> Any:
    """``value`` in ``lang`` when it is an ``ErrorText``; any other text as it is (the
    pages' own texts are already translated)."""
    if not isinstance(value, ErrorText):
        return value
    if value.pydantic is not None:
        if lang == "en":
            return str(value)
        try:
            french = PYDANTIC.get(value.pydantic, PYDANTIC_DEFAULT).format(**value.ctx)
        except (KeyError, IndexError, ValueError):
            french = PYDANTIC_DEFAULT
        return _named(None if value.beside else value.field, french)
    if lang == "en":
        return str(value)
    return _french(str(value), value.slug, value.field, value.beside)


def say_all(errors: dict[str, Any], lang: str) -> dict[str, Any]:
    """Every message of a form's errors in ``lang``."""
    return {name: say(text, lang) for name, text in errors.items()}

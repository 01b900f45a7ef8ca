"""Service errors on French pages are French (issue #12 §4 "clear error messages"; the
portal is French by default): every error type the code can raise has a French and an
English sentence in ``portal/errors.py``, and a refused form shows the French one."""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
from collections.abc import Callable
from decimal import Decimal
from html import unescape
from typing import Any

import nuages
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role
from nuages.api.problems import _HTTP_SLUGS
from nuages.billing import schemas as billing_schemas
from nuages.billing import topups
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.portal import errors, i18n
from tests.invoicing.factories import Billing
from tests.portal.conftest import signed_in

Make = Callable[..., Any]


def _error_classes() -> set[type[NuagesError]]:
    for module in pkgutil.walk_packages(nuages.__path__, "nuages."):
        if ".migrations." in module.name or module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)
    found: set[type[NuagesError]] = set()
    todo = [NuagesError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_type_has_a_french_and_an_english_sentence() -> None:
    """Walks every ``NuagesError`` subclass of every module (and the API layer's own
    answers): each type slug is in the catalogue, French and English, not empty."""
    slugs = {cls.slug for cls in _error_classes()}
    slugs |= {slug for slug, _title in _HTTP_SLUGS.values() if slug != "method-not-allowed"}
    slugs |= {"too-many-refusals", "unavailable", "internal-error"}
    assert len(slugs) > 30
    missing = sorted(s for s in slugs if s not in errors.BY_TYPE)
    missing = [s for s in missing if s not in {"method-not-allowed", "not-acceptable",
                                               "unsupported-media-type"}]  # fmt: skip
    assert not missing, f"add to portal/errors.py BY_TYPE: {missing}"
    for slug, (french, english) in errors.BY_TYPE.items():
        assert french and english and french != english, slug


def test_patterns_keep_their_values() -> None:
    """The French wording of a known sentence keeps its values (dates, clauses)."""
    text = errors.ErrorText("the refusal window closed on 2026-05-02 (000 §4)", "conflict")
    assert errors.say(text, "fr") == "Le délai de refus s'est terminé le 2026-05-02 (000 §4)."
    assert errors.say(text, "en") == "the refusal window closed on 2026-05-02 (000 §4)"
    unknown = errors.ErrorText("something nobody wrote a pattern for", "capacity-exhausted")
    assert errors.say(unknown, "fr") == errors.BY_TYPE["capacity-exhausted"][0]
    plain = "Un texte de la page, déjà en français."
    assert errors.say(plain, "fr") is plain


def test_regression_refused_extension_is_said_in_french(
    browser: Make, user_with_password: Make, database: Database, offers: Any
) -> None:
    """Before, a French page showed the service's English sentence ("ends_at: an
    extension lasts at most 30 days"). Now the French page says it in French next to
    the field, and the English page keeps the service's sentence; a pydantic error
    (quantity 0) is French too."""
    billing = Billing(database, offers)
    client_id = billing.client("Erreurs SA")
    contract_id = billing.contract("isstar-cloud", client_id, utc_now() - dt.timedelta(hours=2))
    with database.unit() as session:
        topups.record_transfer(
            session, Principal.staff("test"), offers, contract_id,
            billing_schemas.TransferCreate(amount=Decimal("200.00"), reference="BANK-ERR"),
        )  # fmt: skip
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, email)
    page = f"/contracts/{contract_id}/extensions"

    def typed(moment: dt.datetime) -> str:
        return moment.astimezone(i18n.ZONE).strftime("%Y-%m-%dT%H:%M")

    start = utc_now() + dt.timedelta(hours=1)
    far = dict(
        item_id="vm-s", starts_at=typed(start), ends_at=typed(start + dt.timedelta(days=400))
    )
    french = visitor.submit(page, page, **far)
    text = unescape(french.text)
    assert french.status_code == 422 and 'id="e-ends_at"' in french.text
    assert "une extension dure au plus" in text.lower()
    assert "lasts at most" not in text
    zero = unescape(visitor.submit(page, page, **{**far, "quantity": "0"}).text)
    assert "La valeur doit être au moins 1." in zero and "greater than" not in zero
    visitor.submit("/", "/lang", lang="en")
    english = unescape(visitor.submit(page, page, **far).text)
    assert "an extension lasts at most" in english


def test_french_refusals_name_their_field_and_what_exists() -> None:
    """A refusal shown above the form, or one only the type's sentence would say,
    names its field in French (``portal/fields.py``; an unknown field as the service
    names it); next to its own input a known sentence stays as it is. An
    ``already-exists`` refusal names what exists. English pages keep the service's
    sentence, prefix included."""
    say = errors.say
    cidr = errors.ErrorText("cidr: 10.0.0.0/33 is not a network", "validation-failed")
    assert say(cidr, "fr") == (
        "« Sous-réseau (CIDR) » : cette saisie n'est pas acceptée, vérifiez la valeur."
    )
    assert say(cidr, "en") == "cidr: 10.0.0.0/33 is not a network"
    raw = errors.ErrorText("frobnication: no", "validation-failed")
    assert say(raw, "fr").startswith("« frobnication » : ")
    beside = errors.ErrorText("one key, on one line", "validation-failed", field="public_key",
                              beside=True)  # fmt: skip
    assert "« Clé publique »" in say(beside, "fr")
    known = errors.ErrorText("ends_at: an extension lasts at most 30 days", "validation-failed")
    assert say(known, "fr") == "« Fin » : une extension dure au plus 30 jours."
    coded = errors.ErrorText("safeguard: US is outside the EU without an adequacy decision; "
                             "name the GDPR Art. 46 instrument", "validation-failed")  # fmt: skip
    assert say(coded, "fr").startswith("« Garanties appropriées » : US est hors de l'UE")
    short = errors.ErrorText("too short", "validation-failed", "string_too_short",
                             {"min_length": 3}, field="iban")  # fmt: skip
    assert say(short, "fr") == "« IBAN » : trop court (au moins 3 caractères)."
    vm = errors.ErrorText("this client already has a VM named web-2", "already-exists")
    assert "« web-2 »" in say(vm, "fr") and "machine" in say(vm, "fr")
    other = errors.ErrorText("a frobnicator named blue-7 exists", "already-exists")
    assert say(other, "fr") == "« blue-7 » existe déjà."
    assert say(errors.ErrorText("exists", "already-exists"), "fr") == "Cela existe déjà."


def test_key_form_names_the_field_in_french(
    browser: Make, user_with_password: Make, world: Any
) -> None:
    """The key form refused for a malformed key says so next to it in French naming
    « Clé publique » (the service's sentence has no French pattern); a second key of the
    same name is refused in French saying it is the name; the English page keeps the
    service's sentence."""
    from tests.compute.world import TENANT_KEY

    _owner, email = user_with_password(Role.CLIENT_OWNER, world.client("Champs SA"))
    visitor = signed_in(browser, email)
    bad = visitor.submit("/keys", "/keys", name="laptop", public_key="not a key")
    assert bad.status_code == 422
    message = unescape(bad.text.split('id="e-public_key">')[1].split("</p>")[0])
    assert message == "« Clé publique » : cette saisie n'est pas acceptée, vérifiez la valeur."
    assert visitor.submit("/keys", "/keys", name="laptop", public_key=TENANT_KEY).status_code == 200
    again = visitor.submit("/keys", "/keys", name="laptop", public_key=TENANT_KEY)
    assert again.status_code == 409
    assert "Vous avez déjà une clé de ce nom" in unescape(again.text)
    visitor.submit("/", "/lang", lang="en")
    english = unescape(visitor.submit("/keys", "/keys", name="pc", public_key="not a key").text)
    assert "type 'not' is not one of" in english

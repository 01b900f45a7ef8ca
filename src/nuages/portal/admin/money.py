"""Back-office: invoicing runs (a dry run first, then the real one), dunning, payments,
SEPA batches, bank statements (CAMT.053 upload), disputes."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from nuages.billing import sepa as billing_sepa
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import (
    disputes,
    dunning,
    payments,
    reading,
    reconcile,
    runs,
    schemas,
    sepa,
)
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import NuagesError, ValidationFailed
from nuages.payments import statements
from nuages.portal import service as portal
from nuages.portal.admin.common import (
    Button,
    Column,
    Field,
    Filter,
    Form,
    Table,
    act,
    page,
    values_of,
)
from nuages.portal.errors import of as error_text
from nuages.portal.web import Paging, PostedStaff, Staff, Visit, field_errors

router = APIRouter()


def _registry(visit: Visit) -> OfferRegistry:
    registry: OfferRegistry = visit.request.app.state.offers
    return registry


def _day(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if text else utc_now().date()
    except ValueError:
        raise ValidationFailed(f"{field}: a date such as 2026-12-01") from None


def _run_form(run_on: str, dry: bool) -> Form:
    return Form(
        "Simulation (rien n'est émis)" if dry else "Émettre les factures",
        "/admin/invoicing",
        [
            Field("run_on", "Date de la facturation", "date", value=run_on),
            Field("dry_run", "Simulation seulement", "checkbox", value="yes" if dry else ""),
        ],
        "Simuler" if dry else "Émettre pour de bon",
    )


@router.get("/admin/invoicing")
def invoicing(visit: Staff) -> Response:
    """Run invoicing: a dry run shows what would be issued and writes nothing."""
    today = utc_now().date().isoformat()
    return page(visit, "Facturation", forms=[_run_form(today, True)])


@router.post("/admin/invoicing")
def invoicing_run(posted: PostedStaff) -> Response:
    """A dry run (the default) or the real run; the real one is offered after a dry run
    with the same date. Each contract is invoiced in its own transaction."""
    visit = posted.visit
    values = values_of(posted, ("run_on", "dry_run"))
    dry = values["dry_run"] == "yes"
    try:
        run_on = _day(values["run_on"], "run_on")
        if not dry:  # a real run twice from the same form issues once
            with visit.write() as session:
                portal.claim(session, visit.me.user_id, posted.once, "/admin/invoicing")
        report = runs.run(
            visit.database,
            visit.me.actor,
            _registry(visit),
            run_on,
            dry_run=dry,
            settings=visit.request.app.state.settings,
        ).as_dict()
    except portal.AlreadySent:
        return visit.redirect("/admin/invoicing", "already_sent")
    except NuagesError as exc:
        return page(
            visit,
            "Facturation",
            forms=[_run_form(values["run_on"], True)],
            errors=field_errors(exc, ("run_on",)),
            values=values,
            status=exc.status,
        )
    money = [
        Column("Contrat", "contract_id", "code"),
        Column("Période", "period"),
        Column("Total TTC", "grand_total"),
    ]
    tables = [
        Table(
            "Factures émises" if not dry else "Factures qui seraient émises",
            [*money, Column("Numéro", "number")] if not dry else money,
            report["issued"] if not dry else report["previews"],
            empty="Aucune.",
        ),
        Table(
            "Problèmes",
            [Column("Contrat", "contract_id", "code"), Column("Problème", "problem")],
            report["problems"],
            empty="Aucun problème.",
        ),
    ]
    notes = [
        visit._(
            "{n} contrat(s) examiné(s), {s} déjà facturé(s).",
            n=report["contracts"],
            s=report["skipped"],
        )
    ]
    forms = [_run_form(run_on.isoformat(), False)] if dry else []
    return page(visit, "Facturation", tables=tables, forms=forms, notes=notes)


@router.get("/admin/dunning")
def dunning_page(visit: Staff) -> Response:
    """Reminders and formal notices sent, and the form to run dunning for a day."""
    paging = Paging.of(visit.request)
    with visit.read() as session:
        shown, total = reading.list_notices(session, visit.me, paging.page, paging.per_page)
        table = Table(
            "Relances envoyées",
            [
                Column("Facture", "invoice_id", "code"),
                Column("Étape", "step"),
                Column("Envoyée le", "sent_on", "day"),
                Column("Reste dû", "outstanding", "money"),
                Column("Frais", "fee", "money"),
                Column("Intérêts", "interest", "money"),
            ],
            shown,
            total=total,
            paging=paging,
        )
        form = Form(
            "Lancer les relances",
            "/admin/dunning",
            [Field("on", "Date", "date", value=utc_now().date().isoformat())],
            "Relancer",
        )
        return page(visit, "Relances", tables=[table], forms=[form])


@router.post("/admin/dunning")
def dunning_run(posted: PostedStaff) -> Response:
    """Send the reminders, formal notices and suspensions due on the day (003 §14.5)."""
    visit = posted.visit

    def work(session: Any) -> object:
        return dunning.run(session, visit.me.actor, _registry(visit), _day(posted.get("on"), "on"))

    return act(
        posted, "/admin/dunning", work, lambda e, s: page(visit, "Relances", errors=e, status=s)
    )


PAYMENT_FIELDS = ("client_id", "means", "amount", "received_on", "reference")


def _payments(
    visit: Visit, errors: dict[str, str], values: dict[str, str], status: int
) -> Response:
    paging = Paging.of(visit.request)
    with visit.read() as session:
        shown, total = reading.list_payments(session, visit.me, paging.page, paging.per_page)
        table = Table(
            "Paiements",
            [
                Column("Client", "client_id", "code"),
                Column("Moyen", "means"),
                Column("Montant", "amount", "money"),
                Column("Reçu le", "received_on", "day"),
                Column("Référence", "reference"),
                Column("État", "state", "state"),
            ],
            shown,
            total=total,
            paging=paging,
        )
        form = Form(
            "Enregistrer un paiement reçu",
            "/admin/payments",
            [
                Field("client_id", "Client (identifiant)", required=True),
                Field(
                    "means",
                    "Moyen",
                    "select",
                    True,
                    (
                        ("transfer", "virement"),
                        ("direct_debit", "prélèvement SEPA"),
                        ("card", "carte"),
                        ("cheque", "chèque"),
                    ),
                ),
                Field("amount", "Montant", required=True),
                Field("received_on", "Reçu le", "date", True),
                Field("reference", "Référence"),
            ],
            "Enregistrer",
        )
        return page(
            visit,
            "Paiements",
            tables=[table],
            forms=[form],
            errors=errors,
            values=values,
            status=status,
        )


@router.get("/admin/payments")
def payment_list(visit: Staff) -> Response:
    """Payments received, newest first, and the form to record one."""
    return _payments(visit, {}, {}, 200)


@router.post("/admin/payments")
def payment_record(posted: PostedStaff) -> Response:
    """Record money received; it is allocated to the client's oldest open invoices."""
    visit = posted.visit
    values = values_of(posted, PAYMENT_FIELDS)

    def work(session: Any) -> object:
        body = schemas.PaymentCreate.model_validate(
            {**values, "idempotency_key": f"portal-{posted.once or secrets.token_hex(8)}"[:100]}
        )
        return payments.staff_record(session, visit.me, _registry(visit), body)

    def again(errors: dict[str, str], status: int) -> Response:
        return _payments(visit, errors, values, status)

    return act(posted, "/admin/payments", work, again, PAYMENT_FIELDS)


def _sepa_page(
    visit: Visit, errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:  # fmt: skip
    """The invoices' batches (filtered by state) and the prepaid accounts' files, each
    a page at a time, and the form building a new batch."""
    paging = Paging.of(visit.request)
    state = visit.request.query_params.get("state", "")
    state = state if state in ("created", "settled") else ""
    with visit.read() as session:
        batches, total = sepa.list_batches(
            session, visit.me, paging.page, paging.per_page, state or None
        )
        files_paging = Paging.of(visit.request, per_page=20, prefix="files_")
        files, files_total = billing_sepa.list_batches(
            session, visit.me, files_paging.page, files_paging.per_page
        )
    columns = [
        Column("Lot", "message_id", "link", "/admin/sepa/{id}"),
        Column("Créé le", "created_at", "when"),
        Column("Date de prélèvement", "collection_date", "day"),
        Column("Prélèvements", "count"),
        Column("Total", "total", "money"),
        Column("État", "state", "state"),
    ]
    table = Table(
        "Lots des factures", columns, batches, empty="Aucun lot.", total=total,
        paging=paging, base="/admin/sepa", filters={"state": state},
    )  # fmt: skip
    prepaid = Table(
        "Fichiers des comptes prépayés",
        [
            Column("Fichier", "id", "link", "/admin/sepa/prepaid/{id}"),
            Column("Créé le", "created_at", "when"),
            Column("Date de prélèvement", "collection_date", "day"),
            Column("Prélèvements", "transactions"),
            Column("Total", "total", "money"),
        ],
        files,
        empty="Aucun fichier.",
        total=files_total,
        paging=files_paging,
        base="/admin/sepa",
    )
    form = Form(
        "Nouveau lot de prélèvements",
        "/admin/sepa",
        [
            Field("collection_date", "Date de prélèvement", "date", True),
            Field("due_by", "Factures échues au plus tard le (facultatif)", "date"),
        ],
        "Constituer le lot",
    )
    filters = [Filter("state", "État", (("", "tous"), ("created", "créé"), ("settled", "encaissé")),
                      state)]  # fmt: skip
    return page(
        visit, "Prélèvements SEPA", tables=[table, prepaid], forms=[form], filters=filters,
        errors=errors, values=values, status=status,
    )  # fmt: skip


@router.get("/admin/sepa")
def sepa_page(visit: Staff) -> Response:
    """Every direct-debit batch, and the form to build one of the invoices due."""
    return _sepa_page(visit)


@router.post("/admin/sepa")
def sepa_create(posted: PostedStaff) -> Response:
    """Create the batch (its pain.008 file) and show it."""
    visit = posted.visit
    values = values_of(posted, ("collection_date", "due_by"))
    made: list[str] = []

    def work(session: Any) -> object:
        body = schemas.SepaBatchCreate.model_validate(
            {"collection_date": values["collection_date"], "due_by": values["due_by"] or None}
        )
        batch, _skipped = sepa.staff_create(session, visit.me, _registry(visit), body)
        made.append(batch.id)
        return batch

    answer = act(
        posted,
        "/admin/sepa",
        work,
        lambda e, s: _sepa_page(visit, e, values, s),
        ("collection_date", "due_by"),
    )
    return visit.redirect(f"/admin/sepa/{made[0]}", "done") if made else answer


@router.get("/admin/sepa/{batch_id}")
def sepa_batch(visit: Staff, batch_id: str) -> Response:
    """A batch: its debits; its file is downloaded from the API."""
    with visit.read() as session:
        batch = sepa.get_batch(session, visit.me, batch_id)
        items = sepa.batch_items(session, batch.id)
        table = Table(
            "Prélèvements du lot",
            [
                Column("Facture", "invoice_id", "code"),
                Column("Montant", "amount", "money"),
                Column("Séquence", "sequence_type"),
                Column("État", "state", "state"),
            ],
            items,
        )
        notes = [
            visit._(
                "Lot du {day} : {n} prélèvement(s), {total}. Fichier : {url}",
                day=visit.day(batch.collection_date),
                n=batch.count,
                total=visit.money(batch.total),
                url=f"/admin/sepa/{batch.id}/xml",
            )
        ]
        return page(visit, "Lot de prélèvements", tables=[table], notes=notes)


def _xml(name: str, xml: str) -> Response:
    return Response(
        xml.encode("utf-8"),
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{name}.xml"'},
    )


@router.get("/admin/sepa/{batch_id}/xml")
def sepa_batch_xml(visit: Staff, batch_id: str) -> Response:
    """The batch's pain.008 file, to send to the bank."""
    with visit.read() as session:
        batch = sepa.get_batch(session, visit.me, batch_id)
        return _xml(batch.message_id, batch.xml)


@router.get("/admin/sepa/prepaid/{batch_id}")
def prepaid_file(visit: Staff, batch_id: str) -> Response:
    """A prepaid accounts' pain.008 file (the collections it holds are in billing)."""
    with visit.read() as session:
        batch = billing_sepa.get_batch(session, visit.me, batch_id)
        return _xml(batch.id, batch.xml)


def _statement_form() -> Form:
    return Form(
        "Importer un relevé (CAMT.053 ou CAMT.054)",
        "/admin/statements",
        [Field("statement", "Fichier XML du relevé", "file", True)],
        "Importer",
        once=False,
        multipart=True,
    )


@router.get("/admin/statements")
def statement_page(visit: Staff) -> Response:
    """Upload a bank statement: transfers paying invoices or crediting prepaid accounts,
    collections settled, returned debits (the payments slice's statement import)."""
    return page(visit, "Relevés bancaires", forms=[_statement_form()])


@router.post("/admin/statements")
async def statement_upload(posted: PostedStaff, request: Request) -> Response:
    """Reconcile the statement (each line once: a line already credited is a duplicate)."""
    visit = posted.visit
    upload = posted.form.get("statement")
    if not isinstance(upload, UploadFile):
        return page(
            visit,
            "Relevés bancaires",
            forms=[_statement_form()],
            errors={"statement": visit._("Choisissez un fichier.")},
            status=422,
        )
    # The same bound as POST /api/v1/bank-statements (NUAGES_MAX_STATEMENT_BYTES): the
    # app's settings, not a constant, so an operator's limit holds on both doors.
    limit: int = request.app.state.settings.max_statement_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        return page(
            visit,
            "Relevés bancaires",
            forms=[_statement_form()],
            errors={"statement": visit._("Fichier trop gros.")},
            status=413,
        )
    from starlette.concurrency import run_in_threadpool

    try:
        report = await run_in_threadpool(
            statements.import_statement,
            visit.database.unit,
            _registry(visit),
            data,
            visit.me.actor,
            reconcile.reconcile,
            max_bytes=limit,
        )
    except (NuagesError, ValueError) as exc:
        return page(
            visit,
            "Relevés bancaires",
            forms=[_statement_form()],
            errors={"statement": error_text(exc)},
            status=422,
        )
    rows = [{"id": "", **asdict(line)} for line in report.lines]
    table = Table(
        "Lignes du relevé",
        [
            Column("Ligne", "line"),
            Column("Référence", "bank_reference", "code"),
            Column("Montant", "amount"),
            Column("Résultat", "outcome", "state"),
            Column("Cible", "target", "code"),
            Column("Détail", "detail"),
            Column("Suggestion", "suggestion"),
        ],
        rows,
        empty="Aucune.",
    )
    notes = (
        [visit._("Relevé déjà importé : rien n'a été comptabilisé une seconde fois.")]
        if report.already_imported
        else []
    )
    return page(visit, "Relevés bancaires", tables=[table], notes=notes, forms=[_statement_form()])


@router.get("/admin/disputes")
def dispute_list(visit: Staff) -> Response:
    """Disputes, newest first; accept (credit note) or reject with a resolution."""
    paging = Paging.of(visit.request)
    with visit.read() as session:
        shown, total = disputes.list_disputes(session, visit.me, paging.page, paging.per_page)
        table = Table(
            "Contestations",
            [
                Column("Facture", "invoice_id", "code"),
                Column("Ouverte le", "opened_at", "when"),
                Column("Motif", "reason"),
                Column("État", "state", "state"),
                Column("Réponse", "resolution"),
            ],
            shown,
            buttons=[
                Button(
                    "Accepter (avoir)",
                    "/admin/disputes/{id}",
                    lambda d: d.state == "open",
                    fields=(("accept", "yes"),),
                    ask="Réponse",
                ),
                Button(
                    "Rejeter",
                    "/admin/disputes/{id}",
                    lambda d: d.state == "open",
                    True,
                    (("accept", "no"),),
                    ask="Réponse",
                ),
            ],
            total=total,
            paging=paging,
        )
        return page(visit, "Contestations", tables=[table])


@router.post("/admin/disputes/{dispute_id}")
def dispute_resolve(posted: PostedStaff, dispute_id: str) -> Response:
    """Answer a dispute: accepted, the invoice is credited in full."""
    visit = posted.visit

    def work(session: Any) -> object:
        reason = posted.get("reason").strip()
        if not reason:
            raise ValidationFailed("reason: write the answer sent to the client")
        return disputes.resolve(
            session, visit.me, _registry(visit), dispute_id, posted.get("accept") == "yes", reason
        )

    return act(
        posted,
        "/admin/disputes",
        work,
        lambda e, s: page(visit, "Contestations", errors=e, status=s),
    )

"""What invoicing's readers may list, and who may act as staff (the rules the API
routes used to hold): every list needs the billing permission (000 §5: members and
guests never see money) and shows a client only its own rows (``kernel.access``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.invoicing.models import (
    DunningNotice,
    IndexValue,
    Invoice,
    InvoiceLine,
    LegalRate,
    Payment,
)
from nuages.kernel.access import visible
from nuages.kernel.errors import Forbidden
from nuages.kernel.pagination import paginate


def require_staff(actor: Principal) -> None:
    """Refuse (403) anyone but provider staff holding the billing permission."""
    actor.require(Scope.BILLING)
    if not actor.is_staff:
        raise Forbidden("only provider staff do this")


def list_invoices(
    session: Session,
    actor: Principal,
    page: int,
    per_page: int,
    contract_id: str | None = None,
    state: str | None = None,
) -> tuple[list[Invoice], int]:
    """Invoices and credit notes the caller may see, newest first."""
    actor.require(Scope.BILLING)
    stmt = visible(
        actor,
        select(Invoice).order_by(Invoice.issued_at.desc(), Invoice.seq_no.desc()),
        Invoice.client_id,
    )
    if contract_id is not None:
        stmt = stmt.where(Invoice.contract_id == contract_id)
    if state is not None:
        stmt = stmt.where(Invoice.state == state)
    return paginate(session, stmt, page, per_page)


def invoice_lines(session: Session, invoice_id: str) -> list[InvoiceLine]:
    """A document's lines in order (the caller already read the document)."""
    return list(
        session.execute(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice_id)
            .order_by(InvoiceLine.position)
        ).scalars()
    )


def list_payments(
    session: Session, actor: Principal, page: int, per_page: int
) -> tuple[list[Payment], int]:
    """Payments the caller may see, newest first."""
    actor.require(Scope.BILLING)
    stmt = visible(
        actor, select(Payment).order_by(Payment.created_at.desc(), Payment.id), Payment.client_id
    )
    return paginate(session, stmt, page, per_page)


def list_notices(
    session: Session, actor: Principal, page: int, per_page: int
) -> tuple[list[DunningNotice], int]:
    """Dunning notices the caller may see, newest first."""
    actor.require(Scope.BILLING)
    stmt = visible(
        actor,
        select(DunningNotice).order_by(DunningNotice.created_at.desc(), DunningNotice.id),
        DunningNotice.client_id,
    )
    return paginate(session, stmt, page, per_page)


def list_indices(session: Session, actor: Principal, name: str | None) -> list[IndexValue]:
    """Index values entered for revisions (000 §13.3, 004 §8.1)."""
    actor.require(Scope.BILLING)
    stmt = select(IndexValue).order_by(IndexValue.name, IndexValue.period)
    if name is not None:
        stmt = stmt.where(IndexValue.name == name)
    return list(session.execute(stmt.limit(1000)).scalars())


def list_legal_rates(session: Session, actor: Principal) -> list[LegalRate]:
    """Legal interest rates entered (SPEC §17)."""
    actor.require(Scope.BILLING)
    return list(
        session.execute(
            select(LegalRate).order_by(LegalRate.series, LegalRate.valid_from)
        ).scalars()
    )

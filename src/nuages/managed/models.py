"""The service agreement of a contract (``support_agreements``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from nuages.invoicing.models import Cents
from nuages.kernel.db import Base, TimestampMixin, UTCDateTime


class SupportAgreement(TimestampMixin, Base):
    """What a contract's particular conditions or quote add to its offer: the normal
    hourly rate (001 §10.3, §16.8), the maintenance offer (003 §5.1.3), the managed
    service's monthly quota of standard changes and catalogue price of a significant one
    (002 §3.8.4), and the end of the initial footprint audit (002 §4 probation)."""

    __tablename__ = "support_agreements"

    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    hourly_rate: Mapped[Decimal | None] = mapped_column(Cents(), nullable=True)
    maintenance_offer: Mapped[bool] = mapped_column(Boolean, default=False)
    managed: Mapped[bool] = mapped_column(Boolean, default=False)
    standard_changes_per_month: Mapped[int] = mapped_column(Integer, default=0)
    standard_change_price: Mapped[Decimal | None] = mapped_column(Cents(), nullable=True)
    significant_change_price: Mapped[Decimal | None] = mapped_column(Cents(), nullable=True)
    footprint_audit_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

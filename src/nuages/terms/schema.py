"""The terms-file schema: one ``Offer`` per TOML file in ``offers/``.

An offer file transcribes one contract (general terms plus the order form's usual
values) into typed tables; the platform enforces and computes from it. The tables are
defined by topic in ``schema_*.py`` and assembled here. ``docs/terms.md`` documents
every key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import PrivateAttr, model_validator

from nuages.terms.schema_billing import (
    BalanceRefund,
    Billing,
    Deposit,
    Invoiced,
    LatePayment,
    PaymentMeans,
    Prepaid,
    ReminderFees,
)
from nuages.terms.schema_catalogue import (
    EU_COUNTRIES,
    Catalogue,
    Derogations,
    Flavour,
    Hosting,
    Identity,
    Option,
    OptionKind,
    PriceUnit,
    Relocation,
    Site,
    Source,
    UserPricing,
    UserTier,
)
from nuages.terms.schema_common import (
    WEEKDAYS,
    Duration,
    TermsModel,
    Unit,
    clock_time,
    problem,
)
from nuages.terms.schema_contract import (
    Abuse,
    Changes,
    Confidentiality,
    ContractDuration,
    DataProtection,
    ForceMajeure,
    Indexation,
    IndexWeight,
    Liability,
    Renewal,
    Reversibility,
    Suspension,
    SuspensionGround,
    Termination,
    Withdrawal,
)
from nuages.terms.schema_network import NetworkTerms
from nuages.terms.schema_sla import (
    Backups,
    Caps,
    Claim,
    ClockWindow,
    Coverage,
    CreditTier,
    Maintenance,
    Probation,
    Sla,
    Snapshots,
    Support,
)

__all__ = [
    "EU_COUNTRIES",
    "WEEKDAYS",
    "Abuse",
    "Backups",
    "BalanceRefund",
    "Billing",
    "Caps",
    "Catalogue",
    "Changes",
    "Claim",
    "ClockWindow",
    "Confidentiality",
    "ContractDuration",
    "Coverage",
    "CreditTier",
    "DataProtection",
    "Deposit",
    "Derogations",
    "Duration",
    "Flavour",
    "ForceMajeure",
    "Hosting",
    "Identity",
    "IndexWeight",
    "Indexation",
    "Invoiced",
    "LatePayment",
    "Liability",
    "Maintenance",
    "Offer",
    "Option",
    "OptionKind",
    "PaymentMeans",
    "Prepaid",
    "PriceUnit",
    "Probation",
    "Relocation",
    "ReminderFees",
    "Renewal",
    "Reversibility",
    "Site",
    "Sla",
    "Snapshots",
    "Source",
    "Support",
    "Suspension",
    "SuspensionGround",
    "Termination",
    "Unit",
    "UserPricing",
    "UserTier",
    "Withdrawal",
    "clock_time",
]

SCHEMA_VERSION = 1


class Offer(TermsModel):
    """One offer: everything a contract of this offer promises, as data.

    Built by ``nuages.terms.loader.load_offer``, which also records the file it came from
    and the SHA-256 of its bytes (``content_hash``): a contract is bound to one version.
    """

    schema_version: Literal[1]
    offer: Identity
    catalogue: Catalogue
    billing: Billing
    duration: ContractDuration
    changes: Changes
    indexation: Indexation
    sla: Sla
    maintenance: Maintenance
    snapshots: Snapshots
    backups: Backups
    suspension: Suspension
    termination: Termination
    reversibility: Reversibility
    liability: Liability
    confidentiality: Confidentiality | None = None
    data_protection: DataProtection | None = None
    abuse: Abuse | None = None
    support: Support | None = None
    network: NetworkTerms | None = None  # issue 14: firewall and abuse rules

    _content_hash: str = PrivateAttr(default="")
    _source_path: str = PrivateAttr(default="")
    _source_bytes: bytes = PrivateAttr(default=b"")

    @property
    def id(self) -> str:
        """The offer's id (a slug), e.g. ``"axantis-cloud-vm-avance"``."""
        return self.offer.id

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the file's bytes: the offer version a contract accepts."""
        return self._content_hash

    @property
    def source_bytes(self) -> bytes:
        """The exact bytes that were parsed (b'' when built in memory): what a contract
        accepts is these, never the file as it is on disk later."""
        return self._source_bytes

    @property
    def source_path(self) -> str:
        """The file the offer was loaded from ('' when built in memory)."""
        return self._source_path

    def flavour(self, flavour_id: str) -> Flavour:
        """The flavour with this id; KeyError if the offer does not sell it."""
        for flavour in self.catalogue.flavours:
            if flavour.id == flavour_id:
                return flavour
        raise KeyError(flavour_id)

    def is_consumer_offer(self) -> bool:
        """True when consumers may subscribe (003 §12 then gives them a withdrawal right)."""
        return "consumer" in self.offer.clients

    @model_validator(mode="after")
    def _cross_tables(self) -> Offer:
        withdrawal = self.duration.withdrawal
        if withdrawal is not None and withdrawal.consumers_only and not self.is_consumer_offer():
            raise problem(
                "a consumer withdrawal right on an offer closed to consumers",
                'offer.clients including "consumer", or no [duration.withdrawal]',
                "duration",
                "withdrawal",
            )
        if self.sla.suspended_while_balance_negative and self.billing.mode != "prepaid":
            raise problem(
                "penalties suspended on a negative balance need a prepaid account",
                'billing.mode = "prepaid"',
                "sla",
                "suspended_while_balance_negative",
            )
        if self.offer.law != self.offer.holidays:
            # SPEC §16: public holidays follow the contract's law.
            raise problem(
                f"holidays {self.offer.holidays} differ from the governing law {self.offer.law}",
                f'holidays = "{self.offer.law}"',
                "offer",
                "holidays",
            )
        return self

"""Settings of the billing slice, read from ``NUAGES_BILLING_*`` variables."""

from __future__ import annotations

import functools
from decimal import Decimal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BillingSettings(BaseSettings):
    """Knobs of prepaid billing; each one is an ``NUAGES_BILLING_<NAME>`` variable."""

    model_config = SettingsConfigDict(env_prefix="NUAGES_BILLING_", extra="ignore")

    # Warn the client when the balance, at the current hourly burn, runs out within this.
    low_balance_hours: int = Field(default=72, ge=1)
    # on_negative_balance = "notify_then_suspend": how long the notice runs first.
    negative_grace_hours: int = Field(default=24, ge=0)
    # The longest extension a client may order at once (000 §8 "période limitée").
    extension_max_days: int = Field(default=31, ge=1)
    # 000 §8 is silent on what happens at an extension's end: its extra VMs (or raised
    # resources) stay, unbilled, this long after it, then are deleted (put back).
    extension_grace_minutes: int = Field(default=60, ge=0)
    # Entries written per metering transaction: a crash loses at most one batch of work,
    # never money (the rerun finds what was written by its idempotency key).
    metering_batch: int = Field(default=5000, ge=1)
    # The SEPA creditor is the seller of the contract's offer's provider (nuages.sellers).
    # Least days between writing a batch and its collection date (the bank's cut-off);
    # the pre-notification (14 days unless the mandate agrees less) usually decides.
    sepa_lead_days: int = Field(default=2, ge=1)
    # Ceilings on direct-debit top-ups, over any rolling ``direct_debit_cap_days``: what
    # one mandate may collect, and what one contract may collect over all its mandates
    # (a revoked and re-signed mandate does not start afresh). Returned and cancelled
    # collections do not count. A client who needs more pays by transfer.
    direct_debit_mandate_cap: Decimal = Field(default=Decimal("2000.00"), gt=0)
    direct_debit_contract_cap: Decimal = Field(default=Decimal("5000.00"), gt=0)
    direct_debit_cap_days: int = Field(default=30, ge=1)


@functools.cache
def get_billing_settings() -> BillingSettings:
    """The process-wide billing settings, read once."""
    return BillingSettings()

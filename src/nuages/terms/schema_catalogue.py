"""The ``[offer]`` identity and ``[catalogue]`` tables of a terms file."""

from __future__ import annotations

import itertools
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from nuages.terms.schema_common import (
    Clause,
    CountryCode,
    Duration,
    Money,
    Percent,
    Slug,
    StrictBool,
    StrictInt,
    StrictStr,
    TermsModel,
    TimeZoneName,
    problem,
)

# Member states of the European Union, for hosting constraints written as "EU" (001 §5.2).
EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)

Law = Literal["FR", "BE"]


class Source(TermsModel):
    """The document the offer transcribes (000 §1: particular conditions cite the CGV version)."""

    seed: StrictStr
    document: StrictStr
    version: StrictStr
    language: Literal["fr", "nl", "en"] = "fr"


class Derogations(TermsModel):
    """How negotiated clauses may override the general terms (000 §3.3)."""

    allowed: StrictBool
    # 000 §3.3: a negotiated clause prevails only if it opens with this formula.
    formula: StrictStr | None = None
    only_in_negotiated_agreement: StrictBool = True
    clause: Clause | None = None


class Identity(TermsModel):
    """The ``[offer]`` table: who sells what, under which law, in which calendar."""

    id: Slug
    provider: StrictStr
    title: StrictStr
    law: Law
    # Public holidays follow the contract's law (SPEC §16); written out so a provider
    # may pick the calendar explicitly.
    holidays: Law
    timezone: TimeZoneName
    currency: Literal["EUR"]
    clients: Annotated[list[Literal["business", "consumer"]], Field(min_length=1)]
    source: Source
    derogations: Derogations


class PriceUnit(StrEnum):
    """What one price buys."""

    hour = "hour"
    month = "month"
    quarter = "quarter"
    user_month = "user_month"
    gib_month = "gib_month"
    one_off = "one_off"
    vm = "vm"


class Flavour(TermsModel):
    """A VM shape sold by the offer (vCPU, RAM, disk, bandwidth) and its price net of VAT."""

    id: Slug
    name: StrictStr
    # 002 §2 "vCPU": every VM has at least one vCPU.
    vcpu: Annotated[StrictInt, Field(ge=1, le=256)]
    ram_mib: Annotated[StrictInt, Field(ge=64)]
    disk_gib: Annotated[StrictInt, Field(ge=1)]
    bandwidth_mbps: Annotated[StrictInt, Field(ge=1)]
    price: Money
    unit: PriceUnit


class OptionKind(StrEnum):
    """Families of options a VM or a contract can add."""

    backup = "backup"
    firewall = "firewall"
    geo_redundancy = "geo_redundancy"
    preset = "preset"
    managed_service = "managed_service"
    storage = "storage"
    support = "support"
    hardware = "hardware"
    ip_address = "ip_address"
    other = "other"


class Option(TermsModel):
    """An option of the catalogue; backups carry a retention, firewalls a tier."""

    id: Slug
    kind: OptionKind
    name: StrictStr
    price: Money
    unit: PriceUnit
    # True when the option comes with the service at no extra price (002 §3 Firewall basic).
    included: StrictBool = False
    # True when the price is set by a quote (002 §3.5 custom retention for Cloud Datacenter).
    on_quote: StrictBool = False
    retention_days: Annotated[StrictInt, Field(ge=1)] | None = None
    firewall_tier: Literal["basic", "standard", "advanced"] | None = None
    # 003 §7.4: only servers declared as mail servers may send e-mail.
    sends_mail: StrictBool = False
    clause: Clause | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> Option:
        if self.kind is OptionKind.backup and self.retention_days is None:
            raise problem("a backup option needs retention_days", "retention_days = 7 or 31")
        if self.kind is not OptionKind.backup and self.retention_days is not None:
            raise problem(
                "retention_days only applies to backup options",
                'kind = "backup" or no retention_days',
                "retention_days",
            )
        if self.kind is OptionKind.firewall and self.firewall_tier is None:
            raise problem(
                "a firewall option needs firewall_tier", 'firewall_tier = "basic|standard|advanced"'
            )
        if self.kind is not OptionKind.firewall and self.firewall_tier is not None:
            raise problem(
                "firewall_tier only applies to firewall options",
                'kind = "firewall" or no firewall_tier',
                "firewall_tier",
            )
        return self


class UserTier(TermsModel):
    """A band of subscribed users and its discount (001 §4.2)."""

    min_users: Annotated[StrictInt, Field(ge=1)]
    max_users: Annotated[StrictInt, Field(ge=1)] | None = None
    discount_pct: Percent

    @model_validator(mode="after")
    def _bounds(self) -> UserTier:
        if self.max_users is not None and self.max_users < self.min_users:
            raise problem(
                f"max_users {self.max_users} is below min_users {self.min_users}",
                "max_users ≥ min_users",
            )
        return self


class UserPricing(TermsModel):
    """Per-subscribed-user pricing with tier discounts (001 §4.2–4.3)."""

    price_per_user: Money
    unit: Literal[PriceUnit.user_month] = PriceUnit.user_month
    # 001 §4.2 (ii): a subscription runs at least 12 months.
    minimum_subscription: Duration
    # 001 §4.1–4.3 "chaque utilisateur": the minimum runs per seat from the day it is
    # added; a seat removed earlier stays billed to the end of its minimum.
    minimum_per_seat: StrictBool = False
    tiers: Annotated[list[UserTier], Field(min_length=1)]
    # 001 §4.3: a discount granted for a tier not kept may be billed back.
    clawback_if_tier_not_kept: StrictBool
    clause: Clause | None = None

    @model_validator(mode="after")
    def _contiguous(self) -> UserPricing:
        tiers = self.tiers
        if tiers[0].min_users != 1:
            raise problem(
                f"the first tier starts at {tiers[0].min_users} users",
                "min_users = 1",
                "tiers",
                0,
                "min_users",
            )
        for i, (low, high) in enumerate(itertools.pairwise(tiers), start=1):
            if low.max_users is None:
                raise problem(
                    f"tier {i - 1} is open-ended but tier {i} follows",
                    "only the last tier without max_users",
                    "tiers",
                    i - 1,
                )
            if high.min_users != low.max_users + 1:
                raise problem(
                    f"tier {i} starts at {high.min_users} users, tier {i - 1} ends at "
                    f"{low.max_users}",
                    f"tiers in ascending order, tier {i} starting at {low.max_users + 1}",
                    "tiers",
                    i,
                    "min_users",
                )
        return self


class Site(TermsModel):
    """A data centre VMs may run in."""

    id: Slug
    name: StrictStr
    country: CountryCode


class Relocation(TermsModel):
    """Moving data outside the allowed countries (001 §5.3–5.4)."""

    notice: Duration
    termination_window: Duration
    needs_consent_without_adequacy: StrictBool = True
    clause: Clause | None = None


class Hosting(TermsModel):
    """Where VMs may run: allowed countries, sites, dedicated hosts (000 §1, 001 §5, 004 §4)."""

    # "EU" stands for every member state (001 §5.2); "ANY" means no constraint.
    allowed_countries: Annotated[list[CountryCode | Literal["EU", "ANY"]], Field(min_length=1)]
    sites: Annotated[list[Site], Field(min_length=1)]
    dedicated_infrastructure: StrictBool = False
    geo_redundancy: Literal["none", "optional", "included"] = "none"
    relocation: Relocation | None = None
    # 003 §7.7: above this total bandwidth the provider only does its best.
    bandwidth_best_effort_above_mbps: Annotated[StrictInt, Field(ge=1)] | None = None
    fixed_ip: StrictBool = True
    clause: Clause | None = None

    def countries(self) -> frozenset[str]:
        """The allowed countries with "EU" expanded to the member states ("ANY" left out)."""
        out: set[str] = set()
        for code in self.allowed_countries:
            if code == "EU":
                out |= EU_COUNTRIES
            elif code != "ANY":
                out.add(code)
        return frozenset(out)

    def allows(self, country: str) -> bool:
        """Whether a host in ``country`` may run this offer's VMs (001 §5, 004 §4)."""
        return "ANY" in self.allowed_countries or country in self.countries()

    @model_validator(mode="after")
    def _sites_allowed(self) -> Hosting:
        allowed = self.countries()
        for i, site in enumerate(self.sites):
            if not self.allows(site.country):
                raise problem(
                    f"site {site.id!r} is in {site.country}, outside the allowed countries",
                    "a site in one of: " + ", ".join(sorted(allowed)),
                    "sites",
                    i,
                    "country",
                )
        return self


Feature = Literal[
    "create_vm",
    "resources",
    "power",
    "backups",
    "snapshots",
    "history",
    "console",
    "ssh_keys",
    "firewall_basic",
    "monitoring",
]


class Features(TermsModel):
    """What the client itself may do on the service (002 §3, §3.8.2).

    ``client`` lists the self-service features; with ``exclusive`` nothing else is
    offered (002 §3 Cloud VM Essentiel: "se limitent exclusivement aux suivantes, à
    l'exclusion de toute autre"). ``firewall_at_order``: the firewall tiers one of which
    is chosen at order (002 §3.6 Cloud Datacenter: standard or advanced). A managed
    server (002 §3.8.2 "entièrement administré par le Prestataire") gives the client no
    direct access when ``managed_client_access`` is false: no console, no SSH keys, no
    self-service action; staff act for the client.
    """

    client: list[Feature] = []
    exclusive: StrictBool = False
    firewall_at_order: list[Literal["basic", "standard", "advanced"]] = []
    managed_client_access: StrictBool = True
    clause: Clause | None = None

    @model_validator(mode="after")
    def _distinct(self) -> Features:
        if len(set(self.client)) != len(self.client):
            raise problem("a feature is listed twice", "each feature once", "client")
        if self.exclusive and not self.client:
            raise problem("exclusive features need their list", 'client = ["history"]', "client")
        return self


class Catalogue(TermsModel):
    """What the offer sells and at which price (net of VAT unless prices_include_vat)."""

    vat_rate: Percent
    # 003 §14.1: prices are quoted all taxes included; 000 §13.1: net of VAT.
    prices_include_vat: StrictBool
    flavours: Annotated[list[Flavour], Field(min_length=1)]
    options: list[Option] = []
    user_pricing: UserPricing | None = None
    hosting: Hosting
    # 002 §3, §3.8.2: the client's self-service features (see Features).
    features: Features | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> Catalogue:
        seen: set[str] = set()
        items = [("flavours", i, f.id) for i, f in enumerate(self.flavours)]
        items += [("options", i, o.id) for i, o in enumerate(self.options)]
        for table, i, item_id in items:
            if item_id in seen:
                raise problem(
                    f"id {item_id!r} is used twice", "unique flavour and option ids", table, i, "id"
                )
            seen.add(item_id)
        return self

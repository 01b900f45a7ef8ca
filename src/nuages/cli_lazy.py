"""How the slices' command groups attach to ``nuages`` without being imported.

``nuages --help`` lists every slice from ``LAZY`` (name and short help); a slice's
module is imported only when one of its commands (or its help) is asked for (issue
#19: start in well under a second).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup

from nuages import cli_output as out

# name -> (module, Typer attribute, short help). The help is repeated here so the top
# level's help does not import the slice; tests/foundation/test_cli_convention.py keeps
# it equal to the slice's own.
LAZY: dict[str, tuple[str, str, str]] = {
    "admin": ("nuages.accounts.cli", "admin_app", "Provider administrators and users."),
    "billing": ("nuages.billing.cli", "billing_app", "Prepaid accounts, top-ups and metering."),
    "backup": ("nuages.compute.cli_backup", "backup_app", "VM backups on another site (002 §3.5)."),
    "client": (
        "nuages.accounts.cli",
        "client_app",
        "Clients (the businesses and consumers invoiced).",
    ),
    "compute": ("nuages.compute.cli", "compute_app", "Reconciliation and crash recovery."),
    "contract": ("nuages.contracts.cli", "contract_app", "Contracts: holds (suspensions)."),
    "history": ("nuages.history.cli", "history_app", "The action history."),
    "host": ("nuages.compute.cli", "host_app", "Hypervisor hosts."),
    "image": ("nuages.compute.cli", "image_app", "Bootable images."),
    "index": ("nuages.invoicing.cli", "index_app", "Index values for yearly price revisions."),
    "invoicing": ("nuages.invoicing.cli", "invoicing_app", "Invoices: runs, dunning, documents."),
    "notices": (
        "nuages.notices.cli",
        "notices_app",
        "Notices: the e-mail outbox and its deliveries.",
    ),
    # `offers list` is registered by the contracts slice: importing it brings both.
    "offers": ("nuages.contracts.cli", "offers_app", "Offer terms files: check and list them."),
    "sellers": (
        "nuages.sellers.cli",
        "sellers_app",
        "Seller identities (who issues each offer's invoices).",
    ),
    # payments (issue 15)
    "payments": (
        "nuages.cli_payments",
        "payments_app",
        "Payments: bank statements for invoices and top-ups.",
    ),
    "terms": (
        "nuages.terms.cli",
        "terms_app",
        "Compute what an offer's terms say (SLA, deadlines, revision, interest).",
    ),
    # issue 14 (console, metrics)
    "metrics": (
        "nuages.compute.metrics.cli",
        "metrics_app",
        "VM supervision series: collect, roll up, read (002 §3).",
    ),
    "console": (
        "nuages.compute.console.cli",
        "console_app",
        "VM consoles: single-use tokens (002 §3).",
    ),
    # sla (issue 22)
    "sla": ("nuages.sla.cli", "sla_app", "Service levels: monthly reports, credits and outages."),
    # issue 14 (network): firewall rules, cuts, new addresses
    "vm": (
        "nuages.compute.net.cli",
        "vm_app",
        "VM network: firewall rules, cuts, new addresses.",
    ),
    # contract life (issue #21)
    "contracts": (
        "nuages.cli_life",
        "contracts_app",
        "Contract life: deadlines, notices to quit, terms changes, revisions.",
    ),
    # gdpr and support (issue #16)
    "gdpr": (
        "nuages.gdpr.cli",
        "gdpr_app",
        "Data protection: register, sub-processors, breaches, audits.",
    ),
    "tickets": (
        "nuages.support.cli",
        "tickets_app",
        "Support tickets, support agreements and change requests.",
    ),
}


# Sub-groups a slice above another adds to that one's group (a lower slice cannot
# import it): group -> [(name, module, Typer attribute)].
SUBGROUPS: dict[str, list[tuple[str, str, str]]] = {
    "contract": [("exit", "nuages.reversibility.cli", "exit_app")],  # reversibility
    # reversibility (issue #21): the data while the contract runs (001 §5.3, §7)
    "contracts": [
        ("relocations", "nuages.reversibility.cli_data", "relocations_app"),
        ("partial-recoveries", "nuages.reversibility.cli_data", "recoveries_app"),
    ],
}


def load_group(name: str) -> TyperGroup:
    """The Click group of slice ``name``, imported now, with the shared conventions."""
    import importlib

    module, attr, _help = LAZY[name]
    sub: typer.Typer = getattr(importlib.import_module(module), attr)
    for sub_name, sub_module, sub_attr in SUBGROUPS.get(name, []):
        sub.add_typer(getattr(importlib.import_module(sub_module), sub_attr), name=sub_name)
    group = typer.main.get_group(sub)
    group.name = name
    out.decorate(group, f"nuages {name}")
    return group


class _SliceCommands(MutableMapping[str, Any]):
    """A slice group's sub-commands, imported on first look."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loaded: dict[str, Any] | None = None

    def _commands(self) -> dict[str, Any]:
        if self._loaded is None:
            self._loaded = dict(load_group(self._name).commands)
        return self._loaded

    def __getitem__(self, key: str) -> Any:
        return self._commands()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._commands()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._commands()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._commands())

    def __len__(self) -> int:
        return len(self._commands())


class LazySlice(TyperGroup):
    """A slice's group whose name and short help are known without importing it."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, help=LAZY[name][2], no_args_is_help=True)
        self.commands = _SliceCommands(name)


class NuagesGroup(TyperGroup):
    """The top level: the process commands plus every slice, attached lazily."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name in LAZY:
            self.commands.setdefault(name, LazySlice(name))
        out.decorate(self, "nuages", skip=frozenset(LAZY))

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(self.commands)

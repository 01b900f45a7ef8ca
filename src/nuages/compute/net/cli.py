"""``nuages vm``: a VM's firewall and the provider's network measures (issue 14).

The command line acts as provider staff: a rule it adds needs no approval (003 §7.1.1
approval is staff's own). Services are imported inside the commands so ``--help``
starts fast (issue #19). Errors print one line on stderr and exit 1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nuages import cli_output as out
from nuages.compute.net.abuse_cli import abuse_app
from nuages.kernel.errors import NuagesError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from nuages.accounts.principal import Principal
    from nuages.compute.runtime import ComputeRuntime

vm_app = typer.Typer(help="VM network: firewall rules, cuts, new addresses.", no_args_is_help=True)
firewall_app = typer.Typer(help="A VM's firewall rules (002 §3.6).", no_args_is_help=True)
vm_app.add_typer(firewall_app, name="firewall")
vm_app.add_typer(abuse_app, name="abuse")


def _cli() -> Principal:
    from nuages.accounts.principal import Principal

    return Principal.staff("cli")


@contextmanager
def _unit() -> Iterator[tuple[Session, ComputeRuntime]]:
    """A unit of work and the compute runtime; a refusal exits 1 with its reason."""
    from nuages.compute.runtime import ComputeRuntime
    from nuages.kernel.db import Database
    from nuages.kernel.settings import get_settings

    settings = get_settings()
    runtime = ComputeRuntime(settings, database=Database(settings.effective_database_url))
    assert runtime.database is not None
    try:
        with runtime.database.unit() as session:
            yield session, runtime
    except NuagesError as exc:
        out.fail(exc.detail)
    finally:
        runtime.close()


def _rule_row(rule: Any) -> dict[str, Any]:
    port = None
    if rule.port_from is not None:
        port = f"{rule.port_from}-{rule.port_to}" if rule.port_to else str(rule.port_from)
    return {
        "id": rule.id,
        "direction": rule.direction,
        "protocol": rule.protocol,
        "port": port,
        "source": rule.cidr,
        "action": rule.action,
        "priority": rule.priority,
        "state": rule.state,
    }


def _firewall(session: Session, vm_id: str) -> dict[str, Any]:
    from nuages.compute.net import service

    view = service.get_firewall(session, _cli(), vm_id)
    net = view.standing
    return {
        "vm_id": vm_id,
        "default_in": view.policy.default_in.value,
        "smtp_blocked": not view.policy.mail_server,
        "mail_server": bool(net and net.mail_server),
        "firewall_server": bool(net and net.firewall_server),
        "registered": sorted(filter(None, (net.registered if net else "").split(","))),
        "cut": view.policy.cut,
        "cut_ground": net.cut_ground if net else None,
        "until_reinstall": bool(net and net.until_reinstall),
        "cut_expected_end_at": _iso(net.expected_end_at if net else None),
        "rules": [_rule_row(r) for r in view.rules],
    }


@firewall_app.command("list")
def firewall_list(vm_id: str, as_json: bool = out.JSON) -> None:
    """Show a VM's firewall: the offer's default policy, egress rules, the rules."""
    with _unit() as (session, _runtime):
        data = _firewall(session, vm_id)
    out.emit(data, as_json)


@firewall_app.command("add")
def firewall_add(
    vm_id: str,
    direction: str = typer.Option("in", help="in (to the VM) or out"),
    protocol: str = typer.Option("tcp", help="tcp, udp, icmp or any"),
    port: str | None = typer.Option(None, help="a port or a range a-b (tcp/udp only)"),
    source: str = typer.Option("0.0.0.0/0", help="source CIDR (out: the destination)"),
    action: str = typer.Option("accept", help="accept or drop"),
    priority: int = typer.Option(100, help="lower first, -1000..1000"),
    as_json: bool = out.JSON,
) -> None:
    """Add a rule to a VM's firewall; the host enforces it at once."""
    from nuages.compute.net import service

    new = service.NewRule(
        direction=direction,
        protocol=protocol,
        action=action,
        source=source,
        port=port,
        priority=priority,
    )
    with _unit() as (session, runtime):
        row = _rule_row(service.add_rule(session, _cli(), runtime, vm_id, new))
    out.emit(row, as_json)


@firewall_app.command("delete")
def firewall_delete(vm_id: str, rule_id: str, as_json: bool = out.JSON) -> None:
    """Remove a rule from a VM's firewall."""
    from nuages.compute.net import service

    with _unit() as (session, runtime):
        service.delete_rule(session, _cli(), runtime, vm_id, rule_id)
        data = _firewall(session, vm_id)
    out.emit(data, as_json, f"rule {rule_id} removed")


@firewall_app.command("approve")
def firewall_approve(vm_id: str, rule_id: str, as_json: bool = out.JSON) -> None:
    """Approve a firewall server's pending rule change (003 §7.1.1)."""
    from nuages.compute.net import service

    with _unit() as (session, runtime):
        service.approve_rule(session, _cli(), runtime, vm_id, rule_id)
        data = _firewall(session, vm_id)
    out.emit(data, as_json, f"rule {rule_id}: change approved")


@vm_app.command("network-declare")
def network_declare(
    vm_id: str,
    mail_server: bool | None = typer.Option(None, help="declared a mail server (003 §7.4)"),
    firewall_server: bool | None = typer.Option(
        None, help="a firewall server: rule changes need approval (003 §7.1.1)"
    ),
    register: Annotated[
        list[str] | None,
        typer.Option(help="registered use: irc, proxy or video (003 §7.5); repeat"),
    ] = None,
    as_json: bool = out.JSON,
) -> None:
    """Declare what a VM is allowed to do on the network."""
    from nuages.compute.net import service

    with _unit() as (session, runtime):
        service.declare(
            session,
            _cli(),
            runtime,
            vm_id,
            mail_server=mail_server,
            firewall_server=firewall_server,
            registered=register,
        )
        data = _firewall(session, vm_id)
    out.emit(data, as_json)


@vm_app.command("network-cut")
def network_cut(
    vm_id: str | None = typer.Argument(None, help="the VM (or --client for all of its VMs)"),
    ground: str = typer.Option(..., help="malicious-traffic, compromised, or a contract ground"),
    reason: str = typer.Option(..., help="what was seen"),
    client: str | None = typer.Option(None, help="cut every live VM of this client"),
    until: str | None = typer.Option(
        None, help="expected end, told to the client (004 §7), e.g. 2026-12-05T18:00:00Z"
    ),
    as_json: bool = out.JSON,
) -> None:
    """Cut the network of a VM or of all of a client's VMs (000 §6, §11.1); a
    compromised server stays cut until reinstalled (003 §7.3)."""
    from nuages.compute.net import service

    with _unit() as (session, runtime):
        expected_end_at = _moment(until)
        vms = service.cut(
            session,
            _cli(),
            runtime,
            ground=ground,
            reason=reason,
            vm_id=vm_id,
            client_id=client,
            expected_end_at=expected_end_at,
        )
        ids = [vm.id for vm in vms]
        data = {"vm_ids": ids, "ground": ground, "expected_end_at": _iso(expected_end_at)}
    out.emit(data, as_json, [f"network cut: {v}" for v in ids])


def _moment(text: str | None) -> dt.datetime | None:
    """``--until`` as an aware UTC moment (ISO 8601 with its zone)."""
    from nuages.kernel.clock import ensure_aware
    from nuages.kernel.errors import ValidationFailed

    if text is None:
        return None
    try:
        return ensure_aware(dt.datetime.fromisoformat(text.strip()))
    except ValueError as exc:
        raise ValidationFailed(
            f"expected_end_at: {text!r}: {exc} (give e.g. 2026-12-05T18:00:00Z)"
        ) from None


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None


@vm_app.command("network-restore")
def network_restore(
    vm_id: str,
    reason: str = typer.Option("", help="why the cut is lifted"),
    wrongful: bool = typer.Option(
        False, help="the cut was manifestly wrong: its held time is given back (000 §11.1)"
    ),
    as_json: bool = out.JSON,
) -> None:
    """Lift a VM's network cut (not a compromised server's: its reinstall does)."""
    from nuages.compute.net import service

    with _unit() as (session, runtime):
        service.restore(session, _cli(), runtime, vm_id, reason=reason, wrongful=wrongful)
        data = _firewall(session, vm_id)
    out.emit(data, as_json, f"network restored: {vm_id}")


@vm_app.command("new-ip")
def new_ip(
    vm_id: str,
    reason: str = typer.Option(..., help="the misuse report"),
    quarantine_days: int = typer.Option(30, help="days before the old address is reused"),
    report: str = typer.Option(..., help="the recorded misuse report it answers (003 §7.9)"),
    as_json: bool = out.JSON,
) -> None:
    """Move a VM to a fresh address of its pools; quarantine the old one (003 §7.9)."""
    from nuages.compute.net import service

    with _unit() as (session, runtime):
        vm, old, new = service.new_ip(
            session,
            _cli(),
            runtime,
            vm_id,
            quarantine_days=quarantine_days,
            reason=reason,
            report_id=report,
        )
        data = {"vm_id": vm.id, "old_address": old, "new_address": new}
    out.emit(data, as_json, f"{vm_id}: {old} → {new} (old one quarantined {quarantine_days} d)")

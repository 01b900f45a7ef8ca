"""``nuages vm abuse``: abuse reports and violation notices kept per client (003 §7.9).

The command line acts as provider staff. Services are imported inside the commands so
``--help`` starts fast (issue #19). Errors print one line on stderr and exit 1.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import typer

from nuages import cli_output as out

if TYPE_CHECKING:
    pass

abuse_app = typer.Typer(
    help="Abuse reports and violation notices, kept per client (003 §7.9).",
    no_args_is_help=True,
)


_unit = out.unit


def _staff() -> Any:
    from nuages.accounts.principal import Principal

    return Principal.staff("cli")


def _row(report: Any) -> dict[str, Any]:
    return {
        "id": report.id,
        "client_id": report.client_id,
        "vm_id": report.vm_id,
        "kind": report.kind,
        "source": report.source,
        "received_at": report.received_at,
        "notice_id": report.notice_id,
        "hold_id": report.hold_id,
        "new_address": report.new_address,
        "closed_at": report.closed_at,
    }


def _when(value: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        out.fail(f"--received-at: {value!r} is not an ISO 8601 time", code=out.EXIT_USAGE)
    if when.tzinfo is None:
        out.fail("--received-at: give a time zone (Z or +01:00)", code=out.EXIT_USAGE)
    return when


@abuse_app.command("record")
def record(
    kind: str = typer.Option(..., help="misuse (the IP address) or violation (French law)"),
    source: str = typer.Option(..., help="who reported it"),
    received_at: str = typer.Option(..., help="when it was received (ISO 8601 with zone)"),
    client: str | None = typer.Option(None, help="the client it is about"),
    vm: str | None = typer.Option(None, help="the VM it is about (its client follows)"),
    evidence: str = typer.Option("", help="what the reporter sent"),
    as_json: bool = out.JSON,
) -> None:
    """Record a report; a violation sends the client its violation notice at once.

    Example: nuages vm abuse record --kind misuse --vm VM_ID --source 'abuse desk'
    --received-at 2026-12-01T09:00:00Z --evidence 'spam from 192.0.2.10'
    """
    from nuages.compute.net import abuse

    when = _when(received_at)
    with _unit() as session:
        report = abuse.record(
            session,
            _staff(),
            kind=kind,
            source=source,
            evidence=evidence,
            received_at=when,
            client_id=client,
            vm_id=vm,
        )
        data = _row(report)
    out.emit(data, as_json, f"{data['kind']} report {data['id']} recorded")


@abuse_app.command("list")
def list_reports(
    client: str | None = typer.Option(None, help="only this client's"),
    vm: str | None = typer.Option(None, help="only this VM's"),
    as_json: bool = out.JSON,
) -> None:
    """The reports kept, oldest first.

    Example: nuages vm abuse list --client CLIENT_ID --json
    """
    from nuages.compute.net import abuse

    with _unit() as session:
        rows = [_row(r) for r in abuse.list_reports(session, _staff(), client_id=client, vm_id=vm)]
    out.emit(
        rows,
        as_json,
        [f"{r['id']}  {r['kind']:<9} {r['client_id']}  {r['source']}" for r in rows]
        or ["no abuse report"],
    )


@abuse_app.command("standing")
def standing(client_id: str, as_json: bool = out.JSON) -> None:
    """A client's misuse reports, violation notices and suspensions counted.

    Example: nuages vm abuse standing CLIENT_ID --json
    """
    from nuages.compute.net import abuse

    with _unit() as session:
        data = dict(abuse.standing(session, _staff(), client_id).__dict__)
    out.emit(
        data,
        as_json,
        f"{client_id}: {data['misuse_reports']} misuse, {data['violation_notices']} "
        f"violation(s), {data['open_reports']} open, {data['suspensions']} suspension(s)",
    )


@abuse_app.command("close")
def close(
    report_id: str,
    reason: str = typer.Option(..., help="why it is settled"),
    as_json: bool = out.JSON,
) -> None:
    """Close a settled report (it stays on the client's record).

    Example: nuages vm abuse close REPORT_ID --reason 'content removed'
    """
    from nuages.compute.net import abuse

    with _unit() as session:
        data = _row(abuse.close(session, _staff(), report_id, reason))
    out.emit(data, as_json, f"report {report_id} closed")


@abuse_app.command("suspend")
def suspend(
    report_id: str,
    reason: str = typer.Option(..., help="what the client failed to stop"),
    as_json: bool = out.JSON,
) -> None:
    """Suspend the VM's contract after an unheeded violation notice (003 §7.9, §8).

    Example: nuages vm abuse suspend REPORT_ID --reason 'content still online on 8 Dec'
    """
    from nuages.compute.net import abuse

    with _unit() as session:
        data = _row(abuse.suspend(session, _staff(), report_id, reason))
    out.emit(data, as_json, f"contract suspended (hold {data['hold_id']})")

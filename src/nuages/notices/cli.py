"""``nuages notices``: the outbox seen by the operator (list, show, retry, deliver).

Every command takes ``--json``; exit codes: 0 done, 1 refused (no such notice, not
retryable), 2 bad input.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, NoReturn

import typer

import nuages.models  # noqa: F401 - every table, for the foreign keys of a fresh process
from nuages.accounts.principal import Principal
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import get_settings
from nuages.notices import bounces, service
from nuages.notices.delivery import deliver_pass
from nuages.notices.mailer import mailer_for
from nuages.notices.schemas import AttemptOut, BounceMailOut, BounceOut, NoticeOut

notices_app = typer.Typer(
    help="Notices: the e-mail outbox and its deliveries.", no_args_is_help=True
)

CLI = Principal.staff("cli", "cli@localhost")
JSON = typer.Option(False, "--json", help="print JSON")


def _fail(message: str, code: int, as_json: bool) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"error": message, "exit": code}))
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _database() -> Database:
    return Database(get_settings().effective_database_url)


def _out(notice: Any) -> dict[str, Any]:
    return NoticeOut.model_validate(notice).model_dump(mode="json")


@notices_app.command("list")
def list_cmd(
    state: str | None = typer.Option(None, help="queued, sending, sent, failed or bounced"),
    client: str | None = typer.Option(None, help="one client's id"),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = JSON,
) -> None:
    """The newest notices, with their delivery state and last error.

    Example: nuages notices list --state failed --json
    """
    if state is not None and state not in service.ALL_STATES:
        _fail(f"--state must be one of {', '.join(service.ALL_STATES)}", 2, as_json)
    with _database().unit() as session:
        stmt = service.list_notices(CLI, state=state, client_id=client).limit(limit)
        rows = [_out(n) for n in session.execute(stmt).scalars()]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in rows:
        error = f"  ({row['last_error']})" if row["last_error"] else ""
        error += "  ALERT: send it another way" if row["alert"] else ""
        typer.echo(
            f"{row['id']} {row['state']:<7} {row['kind']:<28} "
            f"{','.join(row['recipients'])} {row['subject']}{error}"
        )


@notices_app.command("show")
def show(notice_id: str, as_json: bool = JSON) -> None:
    """One notice: body, recipients and every delivery attempt.

    Example: nuages notices show NOTICE_ID
    """
    try:
        with _database().unit() as session:
            notice = service.get_notice(session, CLI, notice_id)
            row = _out(notice) | {"body": notice.body}
            row["history"] = [
                AttemptOut.model_validate(a).model_dump(mode="json")
                for a in service.attempts_of(session, notice.id)
            ]
            row["bounces"] = [
                BounceOut.model_validate(b).model_dump(mode="json")
                for b in bounces.bounces_of(session, notice.id)
            ]
    except NuagesError as exc:
        _fail(exc.detail, 1, as_json)
    if as_json:
        typer.echo(json.dumps(row, ensure_ascii=False, indent=1))
        return
    typer.echo(f"{row['kind']} ({row['clause']}) {row['state']}  Message-ID {row['message_id']}")
    typer.echo(f"to: {', '.join(row['recipients'])}\nsubject: {row['subject']}")
    if row["last_error"]:
        typer.echo(f"last error: {row['last_error']}")
    if row["alert"]:
        typer.echo(f"ALERT: {row['alert']}")
    typer.echo("")
    typer.echo(row["body"])
    for attempt in row["history"]:
        typer.echo(
            f"attempt {attempt['at']} {attempt['outcome']} "
            f"{attempt['code'] or '-'} {attempt['reply']}"
        )
    for bounce in row["bounces"]:
        typer.echo(
            f"bounce {bounce['at']} {bounce['action']} {bounce['recipient']} "
            f"{bounce['status'] or '-'} {bounce['diagnostic']}"
        )


@notices_app.command("retry")
def retry(notice_id: str, as_json: bool = JSON) -> None:
    """Put a failed notice back in the outbox (refused when a server accepted it).

    Example: nuages notices retry NOTICE_ID --json
    """
    try:
        with _database().unit() as session:
            row = _out(service.retry(session, CLI, notice_id))
    except NuagesError as exc:
        _fail(exc.detail, 1, as_json)
    typer.echo(json.dumps(row, ensure_ascii=False) if as_json else f"{notice_id} queued again")


@notices_app.command("resend")
def resend(notice_id: str, as_json: bool = JSON) -> None:
    """Send a bounced notice again, as a new notice, once the client's address is fixed.

    Example: nuages notices resend NOTICE_ID --json
    """
    try:
        with _database().unit() as session:
            row = _out(service.resend(session, CLI, notice_id))
    except NuagesError as exc:
        _fail(exc.detail, 1, as_json)
    if as_json:
        typer.echo(json.dumps(row, ensure_ascii=False))
    else:
        typer.echo(f"{notice_id} resent as {row['id']} to {', '.join(row['recipients'])}")


@notices_app.command("deliver")
def deliver(as_json: bool = JSON) -> None:
    """Run one delivery pass now (the worker runs one each minute and after each notice).

    Example: nuages notices deliver --json
    """
    settings = get_settings()
    try:
        mailer = mailer_for(settings)
    except ValueError as exc:
        _fail(str(exc), 2, as_json)
    report = deliver_pass(_database(), settings, mailer)
    data = {
        "mailer": mailer.describe(),
        "sent": report.sent,
        "deferred": report.deferred,
        "failed": report.failed,
        "recovered": report.recovered,
    }
    if as_json:
        typer.echo(json.dumps(data))
    else:
        typer.echo(
            f"{data['mailer']}: {len(report.sent)} sent, {len(report.deferred)} deferred, "
            f"{len(report.failed)} failed, {len(report.recovered)} recovered"
        )


# ---------------------------------------------------------------- bounces (DSNs)

bounces_app = typer.Typer(
    help="Bounces received after a server accepted a notice (DSNs).", no_args_is_help=True
)
notices_app.add_typer(bounces_app, name="bounces")
MAILDIR = typer.Option(None, help="the Maildir (default NUAGES_BOUNCE_MAILDIR)")
MESSAGE_FILE = typer.Argument(..., help="one message (.eml), or - for standard input")


@bounces_app.command("serve")
def bounces_serve(
    listen: str | None = typer.Option(
        None, help="host:port, loopback or private (default NUAGES_BOUNCE_LISTEN)"
    ),
) -> None:
    """Run the bounce listener (SMTP) until stopped: the provider's MX forwards mail for
    the bounce domain here; each DSN is recorded on its notice.

    Example: nuages notices bounces serve --listen 127.0.0.1:2525
    """
    import signal
    import threading

    from nuages.notices.bounce_intake import ListenError, listener

    settings = get_settings()
    try:
        server = listener(_database(), settings, listen)
    except ListenError as exc:
        _fail(str(exc), 2, False)
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        _fail(f"cannot listen on {listen or settings.bounce_listen}: {exc}", 1, False)
    typer.echo(
        f"bounces: listening on {server.hostname}:{server.port} for "
        f"bounces+…@{settings.effective_bounce_domain}"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@bounces_app.command("maildir")
def bounces_maildir(
    path: Path | None = MAILDIR,
    as_json: bool = JSON,
) -> None:
    """Read the bounce Maildir once now (the worker does it each minute).

    Example: nuages notices bounces maildir --path /var/mail/nuages-bounces --json
    """
    from nuages.notices.bounce_intake import read_maildir

    try:
        report = read_maildir(_database(), get_settings(), path)
    except FileNotFoundError as exc:
        _fail(str(exc), 2, as_json)
    data = dataclasses.asdict(report)
    typer.echo(json.dumps(data) if as_json else " ".join(f"{k} {v}" for k, v in data.items()))


@bounces_app.command("intake")
def bounces_intake(
    file: Path = MESSAGE_FILE,
    as_json: bool = JSON,
) -> None:
    """Record one bounce message (e.g. from an MTA pipe transport: `nuages notices
    bounces intake -`).

    Example: nuages notices bounces intake bounce.eml --json
    """
    import sys

    from nuages.notices.bounces import intake

    try:
        raw = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc}", 2, as_json)
    result = intake(_database(), raw, domain=get_settings().effective_bounce_domain, source="file")
    data = dataclasses.asdict(result)
    typer.echo(json.dumps(data) if as_json else f"{result.outcome} {result.notice_id or '-'}")


@bounces_app.command("list")
def bounces_list(
    outcome: str | None = typer.Option(None, help="matched, unknown or unparsable"),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = JSON,
) -> None:
    """The messages received at the bounce address (unknown ones kept for staff).

    Example: nuages notices bounces list --outcome unknown
    """
    if outcome is not None and outcome not in ("matched", "unknown", "unparsable"):
        _fail("--outcome must be one of matched, unknown, unparsable", 2, as_json)
    with _database().unit() as session:
        rows = [
            BounceMailOut.model_validate(m).model_dump(mode="json")
            for m in session.execute(bounces.list_mail(CLI, outcome).limit(limit)).scalars()
        ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in rows:
        typer.echo(
            f"{row['id']} {row['received_at']} {row['source']:<7} {row['outcome']:<10} "
            f"{row['notice_id'] or '-'} {row['subject']} ({row['detail']})"
        )

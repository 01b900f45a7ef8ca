"""``nuages doctor``: check an installation and say what to fix (issue #19 item 4).

Each check is independent (one failing does not hide the others) and reads only:
nothing is written, no guest is booted. A check is ``ok``, ``warn`` (works, but look at
it) or ``fail`` (something the platform needs is missing); the command exits 1 when
any check fails.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from nuages import cli_output as out

# The scheduler meters each hour at minute 1: two hours without a metered period
# means no scheduler has run.
WORKER_LATE = dt.timedelta(hours=2)


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


def _settings() -> Any:
    from nuages.kernel.settings import get_settings

    return get_settings()


def check_libvirt(settings: Any) -> list[Check]:
    import libvirt

    uri = settings.libvirt_uri
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        return [
            Check(
                "libvirt",
                "fail",
                f"cannot connect to {uri}: {exc.get_error_message()}",
                "start libvirtd (`systemctl start libvirtd`) and add this user to the "
                "libvirt group, or set NUAGES_LIBVIRT_URI",
            )
        ]
    try:
        version = conn.getLibVersion()
        text = f"{version // 1_000_000}.{version // 1000 % 1000}.{version % 1000}"
        return [Check("libvirt", "ok", f"{uri} reachable (libvirt {text})")]
    finally:
        conn.close()


def check_accel(settings: Any) -> list[Check]:
    kvm = Path("/dev/kvm")
    if kvm.exists() and os.access(kvm, os.R_OK | os.W_OK):
        return [Check("acceleration", "ok", "KVM (/dev/kvm usable)")]
    if kvm.exists():
        return [
            Check(
                "acceleration",
                "warn",
                "/dev/kvm exists but this user cannot open it: guests run under TCG "
                "(emulation, slow) unless libvirt's QEMU user can",
                "add the user to the kvm group (`adduser $USER kvm`)",
            )
        ]
    return [
        Check(
            "acceleration",
            "warn",
            "no /dev/kvm: guests run under TCG (emulation, several times slower)",
            "enable virtualisation (VT-x/AMD-V) in the firmware or nested virtualisation "
            "on the VM host, then load kvm_intel or kvm_amd",
        )
    ]


def check_data_dir(settings: Any) -> list[Check]:
    """The data dir exists, and QEMU's user (libvirt's, read from the host) can reach
    every directory it opens files in: the check `nuages host add` makes (``reach``)."""
    from nuages.compute import reach
    from nuages.compute.hypervisor import HypervisorError, QemuCannotReach
    from nuages.compute.runtime import ComputeRuntime

    data = Path(settings.data_dir).resolve()
    if not data.is_dir():
        return [
            Check(
                "data dir",
                "fail",
                f"{data} does not exist",
                "run `nuages db upgrade` (it creates it) or set NUAGES_DATA_DIR",
            )
        ]
    uri = settings.libvirt_uri
    if not reach.is_local_qemu(uri):
        return [Check("data dir", "ok", f"{data} (no local QEMU on {uri} to check for)")]
    runtime = ComputeRuntime(settings)
    try:
        user = reach.require(runtime.hypervisor(uri), uri, runtime.qemu_paths())
    except QemuCannotReach as exc:
        what, _, change = exc.detail.partition(" Change one of: ")
        return [Check("data dir", "fail", what, change or exc.detail)]
    except HypervisorError as exc:
        return [Check("data dir", "warn", f"could not check what QEMU reaches: {exc.detail}")]
    finally:
        runtime.close()
    who = reach.user_name(user) if user is not None else "this user"
    return [Check("data dir", "ok", f"{data} reachable by QEMU ({who})")]


def check_database(settings: Any) -> list[Check]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    from nuages.kernel.migrate import alembic_config

    url = settings.effective_database_url
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as exc:
        return [
            Check(
                "database",
                "fail",
                f"cannot open {engine.url.render_as_string(hide_password=True)}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
                "check NUAGES_DATABASE_URL and that the server runs",
            )
        ]
    finally:
        engine.dispose()
    if current == heads:
        return [Check("database", "ok", f"migrated ({len(heads)} branch head(s))")]
    missing = sorted(heads - current)
    return [
        Check(
            "database",
            "fail",
            "not migrated" if not current else f"behind: {', '.join(missing)} not applied",
            "run `nuages db upgrade`",
        )
    ]


def check_worker(settings: Any) -> list[Check]:
    from sqlalchemy import func, select

    from nuages.billing.models import MeteringPeriod
    from nuages.kernel.clock import ensure_aware, utc_now
    from nuages.kernel.db import Database

    database = Database(settings.effective_database_url)
    with database.sessions() as session:
        last = session.execute(select(func.max(MeteringPeriod.completed_at))).scalar()
    queue = "Redis" if settings.redis_url else "the SQLite queue in the data dir"
    how = (
        f"run `nuages worker` (jobs on {queue}) beside `nuages serve`, or `nuages up`; "
        "`nuages billing meter` catches up the hours missed"
    )
    if last is None:
        return [Check("worker", "warn", "the hourly metering never ran", how)]
    late = utc_now() - ensure_aware(last)
    if late > WORKER_LATE:
        return [
            Check(
                "worker",
                "fail",
                f"the hourly metering last ran {late // dt.timedelta(minutes=1)} min ago "
                f"({ensure_aware(last).isoformat()}): no scheduler is running",
                how,
            )
        ]
    return [Check("worker", "ok", f"the scheduler metered at {ensure_aware(last).isoformat()}")]


def check_smtp(settings: Any) -> list[Check]:
    # No SMTP settings exist yet (see docs/operations.md); do not invent them.
    return [
        Check(
            "smtp",
            "warn",
            "no SMTP configured: notices go to the file drop once the notices slice lands",
        )
    ]


def check_sellers(settings: Any) -> list[Check]:
    from nuages.sellers import identity
    from nuages.sellers.cli import coverage

    folder = identity.directory_of(settings)
    try:
        book = identity.load_sellers(folder)
    except identity.SellerFileError as exc:
        return [
            Check(
                "seller identity",
                "fail",
                f"{len(exc.problems)} problem(s) in {folder}",
                "run `nuages sellers check` and fix the lines it prints",
            )
        ]
    example = [o for o, s in coverage(book, settings.offers_dir) if s.startswith("EXAMPLE")]
    if example:
        return [
            Check(
                "seller identity",
                "fail",
                f"offers on the EXAMPLE identity (real invoices refused): {', '.join(example)}",
                identity.how_to(folder),
            )
        ]
    return [Check("seller identity", "ok", f"{len(book.sellers)} seller file(s) in {folder}")]


def check_firewalls(settings: Any) -> list[Check]:
    """User-networking guests on remote QEMU hosts with a firewall nuages cannot
    enforce there (compute/net/remote.py; docs/network.md "Remote hosts")."""
    from nuages.compute.net import remote
    from nuages.kernel.db import Database

    database = Database(settings.effective_database_url)
    try:
        with database.unit(readonly=True) as session:
            found = remote.unenforced(session)
    finally:
        database.dispose()
    if not found:
        return [Check("firewalls", "ok", "every stored firewall has a host that enforces it")]
    shown = ", ".join(f"{u.name} ({u.vm_id[:8]}) on {u.host}" for u in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return [
        Check(
            "firewalls",
            "warn",
            f"{len(found)} user-networking VM(s) on remote QEMU hosts have firewall rules or "
            f"a default drop that nftables on this machine cannot enforce: {shown}{more}",
            "give them bridged addresses (nwfilter is applied over libvirt), or filter their "
            'forwarded ports on those hosts: docs/network.md "Remote hosts"',
        )
    ]


CHECKS: list[tuple[str, Callable[[Any], list[Check]]]] = [
    ("libvirt", check_libvirt),
    ("acceleration", check_accel),
    ("data dir", check_data_dir),
    ("database", check_database),
    ("worker", check_worker),
    ("smtp", check_smtp),
    ("seller identity", check_sellers),
    ("firewalls", check_firewalls),  # net (issue 14)
]


def run_checks(settings: Any) -> list[Check]:
    found: list[Check] = []
    for name, check in CHECKS:
        if name in ("worker", "firewalls") and any(
            c.name == "database" and c.status == "fail" for c in found
        ):
            found.append(Check(name, "warn", "not checked: the database is not usable"))
            continue
        try:
            found.extend(check(settings))
        except Exception as exc:  # one broken check must not hide the others
            first = (str(exc).splitlines() or [""])[0]
            found.append(Check(name, "fail", f"the check failed: {type(exc).__name__}: {first}"))
    return found


def doctor(as_json: bool = out.JSON) -> None:
    """Check the installation: libvirt reachable, KVM or TCG, data dir reachable by QEMU,
    database migrated, worker alive, SMTP, seller identity; say what to fix. Exit 1 when
    a check fails (warnings alone exit 0)."""
    with out.progress("checking the installation", ticker=True) as bar:
        bar.step("")
        checks = run_checks(_settings())
    failed = [c for c in checks if c.status == "fail"]

    def human() -> None:
        for c in checks:
            typer.echo(f"{c.status.upper():4}  {c.name:16} {c.detail}")
            if c.fix and c.status != "ok":
                typer.echo(f"{'':6}{'':16} fix: {c.fix}")
        typer.echo(
            f"{len(checks) - len(failed)} of {len(checks)} checks passed"
            + (f"; {len(failed)} to fix" if failed else "")
        )

    out.emit({"ok": not failed, "checks": checks}, as_json, human)
    if failed:
        raise typer.Exit(out.EXIT_REFUSED)

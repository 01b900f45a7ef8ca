"""Starting nuages: the all-in-one ``up``, the API alone, the worker alone."""

from __future__ import annotations

import logging
from collections.abc import Callable

import uvicorn
from huey.consumer import Consumer

from nuages.accounts import service as accounts
from nuages.kernel import migrate
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings

log = logging.getLogger("nuages")


def prepare(settings: Settings) -> Database:
    """Create the data directory and bring the database schema up to date."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.effective_database_url)
    return Database.from_settings(settings)


def first_admin(database: Database, email: str) -> tuple[str, str] | None:
    """Create the first admin on first start; return (email, password) that one time."""
    with database.unit() as session:
        created = accounts.ensure_first_admin(session, email)
    if created is None:
        return None
    user, password = created
    return user.email, password


def _qemu_reach(settings: Settings, database: Database) -> list[str]:
    """Whether QEMU's user reaches the data directory (issue #18); never stops ``up``."""
    from nuages.compute.runtime import ComputeRuntime
    from nuages.compute.services.hosts import reach_warnings

    runtime = ComputeRuntime(settings, database=database)
    try:
        # A read unit: libvirt may hang in there, and must not hold the write lock.
        with database.unit(readonly=True) as session:
            return reach_warnings(session, runtime)
    finally:
        runtime.close()


def make_consumer(workers: int, periodic: bool = True) -> Consumer:
    """A huey consumer over the configured queue, with the tasks registered."""
    from nuages.jobs import tasks

    return tasks.huey.create_consumer(
        workers=workers, periodic=periodic, worker_type="thread", check_worker_health=True
    )


def serve_api(settings: Settings, database: Database) -> None:
    """Run the API with uvicorn until interrupted."""
    from nuages.app import create_app

    app = create_app(settings, database)
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="info")


def seller_notice(settings: Settings) -> list[str]:
    """What ``up`` says about seller identities: the offers still on the example
    identity (their real invoices are refused, dry runs work) and how to set theirs.
    Invalid seller files stop the start, every problem listed."""
    from nuages.sellers import identity
    from nuages.sellers.cli import coverage

    folder = identity.directory_of(settings)
    book = identity.load_sellers(folder)  # SellerFileError: stop, with every problem
    missing = [offer for offer, text in coverage(book, settings.offers_dir) if "EXAMPLE" in text]
    if not missing:
        return [f"sellers:      {len(book.sellers)} identity file(s) in {folder}"]
    return [
        f"invoices:     REFUSED for {', '.join(missing)}: the example seller identity "
        "(Exemple Cloud SAS) is in use; dry runs work",
        f"              to issue them, {identity.how_to(folder)}",
    ]


def mailer_notice(settings: Settings) -> str:
    """What ``up`` says about e-mail: SMTP when NUAGES_SMTP_URL is set, else the file drop."""
    from nuages.notices.mailer import mailer_for

    return mailer_for(settings).describe()


def prepare_compute(
    settings: Settings, database: Database, announce: Callable[[str], None]
) -> None:
    """The local libvirt as a host and the tiny image, when none exist (issue #12);
    run beside the server so a missing or hanging libvirt never delays the start."""
    from nuages import bootstrap

    try:
        # The reach check talks to libvirt too: under the same time limit (a hanging
        # /dev/kvm leaves libvirtd unanswering).
        for warning in bootstrap.within(
            settings.up_libvirt_timeout, lambda: _qemu_reach(settings, database)
        ):
            announce(f"WARNING:      {warning}")
    except bootstrap.TimedOut as exc:
        announce(f"WARNING:      could not check what QEMU reaches: libvirt gave {exc}")
    except Exception as exc:
        announce(f"WARNING:      could not check what QEMU reaches: {exc}")
    try:
        announce(bootstrap.local_host(settings, database))
        announce(bootstrap.tiny_image(settings, database))
    except Exception as exc:  # never take the process down: say it and go on
        log.exception("preparing the local host failed")
        announce(f"WARNING:      could not prepare the local host and image: {exc}")


def announce_demo(settings: Settings, database: Database, announce: Callable[[str], None]) -> None:
    """``up --demo``: one client per offer with an owner login, printed once."""
    from nuages import bootstrap

    logins = bootstrap.demo_clients(settings, database)
    announce("demo clients (one per offer; passwords shown once):")
    for login in logins:
        shown = login.password or "(created earlier; shown at creation)"
        announce(f"  {login.offer_id:<28} {login.email}  {shown}")


def run_all(settings: Settings, announce: Callable[[str], None], demo: bool = False) -> None:
    """``nuages up``: API, portal, worker and scheduler in one process on the embedded
    defaults; the local libvirt registered as a host and the tiny image made when none
    exist; ``demo``: a demo client per offer."""
    import threading

    mail = mailer_notice(settings)  # a bad NUAGES_SMTP_URL stops the start here
    database = prepare(settings)
    creds = first_admin(database, "admin@localhost")
    announce(f"portal:       http://{settings.api_host}:{settings.api_port}/")
    announce(f"back-office:  http://{settings.api_host}:{settings.api_port}/admin")
    announce(f"nuages API:   http://{settings.api_host}:{settings.api_port}/api/v1")
    announce(f"API docs:     http://{settings.api_host}:{settings.api_port}/docs")
    announce(f"database:     {settings.effective_database_url}")
    announce(f"notices:      {mail}")
    for line in seller_notice(settings):
        announce(line)
    if creds is not None:
        announce("first admin created; these credentials are shown once:")
        announce(f"  e-mail:     {creds[0]}")
        announce(f"  password:   {creds[1]}")
        announce(
            f"  sign in:    http://{settings.api_host}:{settings.api_port}/signin "
            "(or POST /api/v1/auth/token)"
        )
        announce(f"  real e-mail: nuages admin set-email {creds[0]} you@example.com")
    if demo:
        announce_demo(settings, database, announce)
    threading.Thread(
        target=prepare_compute, args=(settings, database, announce), name="up-prepare", daemon=True
    ).start()
    consumer = make_consumer(workers=2)
    # start() spawns the worker and scheduler threads and returns; it must run in the
    # main thread because it installs signal handlers (uvicorn installs its own after).
    consumer.start()
    try:
        serve_api(settings, database)
    finally:
        consumer.stop(graceful=True)

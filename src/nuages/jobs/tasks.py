"""The periodic and on-demand jobs of nuages.

Each task opens one unit of work and calls one service function; the slices' services
hold the rules. Importing this module registers the tasks on the process's queue.
"""

from __future__ import annotations

import logging
import threading

from huey import crontab

from nuages.jobs.queue import get_huey

log = logging.getLogger("nuages.jobs")
huey = get_huey()


@huey.task()  # type: ignore[untyped-decorator]
def ping(marker: str) -> str:
    """A no-op job used to check that a worker consumes the queue."""
    log.info("ping %s", marker)
    return marker


# ---------------------------------------------------------------- compute

_compute_pass = threading.Lock()
_compute_recovered = threading.Event()


@huey.task()  # type: ignore[untyped-decorator]
def compute_operation(operation_id: str) -> str:
    """Carry out one VM operation (create, start, stop, …); a second delivery is a no-op."""
    from nuages.compute.runtime import get_runtime
    from nuages.compute.services.operations import run_operation

    runtime = get_runtime()
    assert runtime.database is not None
    return run_operation(runtime.database, runtime, operation_id)


@huey.task()  # type: ignore[untyped-decorator]
def compute_enforce_holds(contract_id: str) -> None:
    """Pause or resume a contract's VMs after a hold was placed or lifted (003 §8); a
    second delivery is a no-op, a lost one is finished by the next reconciliation."""
    from nuages.compute.runtime import get_runtime
    from nuages.compute.services.holds import run_job

    runtime = get_runtime()
    assert runtime.database is not None
    done = run_job(runtime.database, runtime, contract_id)
    log.info(
        "holds of %s: %d VMs suspended, %d resumed",
        contract_id,
        len(done.suspended),
        len(done.resumed),
    )


@huey.task()  # type: ignore[untyped-decorator]
def compute_reconcile_pass() -> None:
    """One reconciliation pass: power states from the hypervisors, outages opened/closed.

    Passes overlapping in one process are skipped; across processes they are harmless
    (every write is a compare-and-swap, one open outage per VM).
    """
    from nuages.compute.runtime import get_runtime
    from nuages.compute.services.reconcile import run_pass

    if not _compute_pass.acquire(blocking=False):
        return
    try:
        runtime = get_runtime()
        assert runtime.database is not None
        report = run_pass(runtime.database, runtime)
        log.info(
            "reconcile: %d hosts (%d unreachable), %d VMs, %d changed, %d outages opened",
            report.hosts,
            len(report.unreachable),
            report.vms_checked,
            len(report.changed),
            len(report.outages_opened),
        )
    finally:
        _compute_pass.release()


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def compute_reconcile() -> None:
    """Each minute, schedule that minute's passes (every ``NUAGES_RECONCILE_SECONDS``)."""
    from nuages.compute.services.reconcile import passes_this_minute
    from nuages.kernel.clock import utc_now
    from nuages.kernel.settings import get_settings

    minute = int(utc_now().timestamp() // 60)
    for delay in passes_this_minute(get_settings().reconcile_seconds, minute):
        if delay == 0:
            compute_reconcile_pass()
        else:
            compute_reconcile_pass.schedule(delay=delay)


@huey.on_startup()  # type: ignore[untyped-decorator]
def compute_recover() -> None:
    """Once per worker process: finish or roll back VM operations a crash left running."""
    from nuages.compute.runtime import get_runtime
    from nuages.compute.services.operations import recover_operations

    if _compute_recovered.is_set():
        return
    _compute_recovered.set()
    try:
        runtime = get_runtime()
        assert runtime.database is not None
        for operation_id, outcome in recover_operations(runtime.database, runtime).items():
            log.info("recovered operation %s: %s", operation_id, outcome)
    except Exception:
        log.exception("recovering VM operations failed; run `nuages compute recover`")


@huey.periodic_task(crontab(minute="*/15"))  # type: ignore[untyped-decorator]
def compute_expire_snapshots() -> None:
    """Every 15 minutes, delete the snapshots whose retention is over (002 §3: 7 days)
    and the exports whose download link expired."""
    from nuages.compute.runtime import get_runtime
    from nuages.compute.services.snapshots import expire_snapshots

    runtime = get_runtime()
    assert runtime.database is not None
    from nuages.compute.services import exports

    removed = expire_snapshots(runtime.database, runtime)
    if removed:
        log.info("snapshots: %d expired and deleted", len(removed))
    gone = exports.expire(runtime.database)
    if gone:
        log.info("exports: %d links expired, files deleted", len(gone))


@huey.periodic_task(crontab(minute="*/15"))  # type: ignore[untyped-decorator]
def compute_backups() -> None:
    """Every 15 minutes: ask for the backups due in their window (002 §3.5: daily,
    outside working hours, spread), then destroy the expired ones (001 §2.2)."""
    from nuages.accounts.principal import Principal
    from nuages.compute.runtime import get_runtime
    from nuages.compute.services import backups
    from nuages.contracts.offers import OfferRegistry
    from nuages.kernel.settings import get_settings

    runtime = get_runtime()
    assert runtime.database is not None
    registry = OfferRegistry.from_directory(get_settings().offers_dir)
    # The job acts as provider staff; the history names it "jobs".
    staff = Principal.staff("jobs")
    report = backups.run_due(runtime.database, runtime, registry, staff)
    for vm_id, reason in report.refused.items():
        log.warning("backup of VM %s not taken: %s", vm_id, reason)
    removed = backups.expire(runtime.database, runtime)
    log.info("backups: %d asked for, %d expired", len(report.requested), len(removed))


# ---------------------------------------------------------------- billing


@huey.periodic_task(crontab(minute="1"))  # type: ignore[untyped-decorator]
def billing_meter() -> None:
    """Each hour, debit the hours ended and not metered yet, then apply the balance rules
    (000 §11.2 suspension, resumption, low-balance warnings)."""
    from nuages.billing import metering
    from nuages.jobs.runtime import get_database

    report = metering.run(get_database().unit)
    log.info(
        "metering: %d hour(s), %d entries, %d suspended, %d resumed",
        len(report.periods),
        report.written,
        len(report.suspended),
        len(report.resumed),
    )


@huey.task()  # type: ignore[untyped-decorator]
def billing_credit_wrongful_hold(hold_id: str) -> None:
    """000 §11.1: credit the usage of a hold staff lifted as wrongful (once)."""
    from nuages.billing import metering, wrongful
    from nuages.jobs.runtime import get_database

    entry = wrongful.run_job(get_database(), metering.default_registry(), hold_id)
    log.info("wrongful hold %s: %s", hold_id, entry.amount if entry else "nothing to credit")
    # Invoiced contracts: a credit note on the next invoice (it may wait for that invoice).
    from nuages.history.service import Actor
    from nuages.invoicing import wrongful as invoiced

    notes = invoiced.run_job(
        get_database(), Actor.system("invoicing"), metering.default_registry(), hold_id
    )
    if notes:
        log.info("wrongful hold %s: credit note %s", hold_id, ", ".join(notes))


@huey.task()  # type: ignore[untyped-decorator]
def invoicing_invoice_received(notice_id: str) -> None:
    """001 §4.1, §4.4: an invoice's e-mail was accepted; record its receipt (once)."""
    from nuages.billing import metering
    from nuages.invoicing import receipts
    from nuages.jobs.runtime import get_database

    with get_database().unit() as session:
        receipt = receipts.record(session, metering.default_registry(), notice_id)
    log.info(
        "notice %s: %s", notice_id, f"received {receipt.received_at}" if receipt else "no receipt"
    )


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def billing_extensions() -> None:
    """Each minute (000 §8): evaluate the owners' automatic-extension policies, end the
    extensions whose end time passed, create the VMs of running ones and remove those of
    ended ones after the grace period, through compute's services."""
    from nuages.billing import autoscale, extension_vms, metering
    from nuages.jobs.runtime import get_database

    database = get_database()
    registry = metering.default_registry()
    ordered = autoscale.run_pass(database.unit, registry)
    report = extension_vms.run_pass(database.unit, registry)
    if ordered.ordered or report.created or report.deleted or report.released:
        log.info(
            "extensions: %d ordered by policy, %d VMs asked for, %d deleted, %d released",
            len(ordered.ordered),
            len(report.created),
            len(report.deleted),
            len(report.released),
        )


# ---------------------------------------------------------------- invoicing


@huey.periodic_task(crontab(minute="20", hour="1"))  # type: ignore[untyped-decorator]
def invoicing_run() -> None:
    """Each night, invoice every contract whose period is due (001 §4.4, 003 §14.1,
    004 §8.2 in advance; prepaid consumption after the month, 000 §13.2). Runs are
    idempotent: a period already invoiced is never invoiced again."""
    from nuages.contracts.offers import OfferRegistry
    from nuages.history.service import Actor
    from nuages.invoicing import runs
    from nuages.jobs.runtime import get_database
    from nuages.kernel.clock import utc_now
    from nuages.kernel.settings import get_settings

    registry = OfferRegistry.from_directory(get_settings().offers_dir)
    report = runs.run(get_database(), Actor.system("invoicing"), registry, utc_now().date())
    log.info(
        "invoicing: %d contracts, %d documents, %d problems",
        report.contracts,
        len(report.issued),
        len(report.problems),
    )
    # 000 §11.1: wrongfully held time waiting for this run's invoices is credited now.
    from nuages.invoicing import wrongful

    notes = wrongful.run_job(get_database(), Actor.system("invoicing"), registry)
    if notes:
        log.info("invoicing: wrongful holds credited by %s", ", ".join(notes))


@huey.periodic_task(crontab(minute="40", hour="6"))  # type: ignore[untyped-decorator]
def invoicing_dunning() -> None:
    """Each morning, take the dunning steps due (reminders and 001 §4.4 fees, formal
    notices, 003 §14.5 suspensions)."""
    from nuages.contracts.offers import OfferRegistry
    from nuages.history.service import Actor
    from nuages.invoicing import dunning
    from nuages.jobs.runtime import get_database
    from nuages.kernel.clock import utc_now
    from nuages.kernel.settings import get_settings

    registry = OfferRegistry.from_directory(get_settings().offers_dir)
    with get_database().unit() as session:
        report = dunning.run(session, Actor.system("dunning"), registry, utc_now().date())
    log.info("dunning: %d notices, %d problems", len(report.notices), len(report.problems))


@huey.periodic_task(crontab(minute="30", hour="0"))  # type: ignore[untyped-decorator]
def contracts_daily() -> None:
    """Each night, before invoicing, act on every contract deadline reached: terminations
    taking effect, renewals (000 §9, 001 §3.2, 003 §11, 004 §5), terms changes closing
    (000 §4, 004 §3), force majeure (003 §9), index revisions (000 §13.3, 004 §8.1).
    Idempotent: run twice the same day, it acts once."""
    from nuages.contracts.offers import OfferRegistry
    from nuages.jobs.life import run_daily
    from nuages.jobs.runtime import get_database
    from nuages.kernel.clock import utc_now
    from nuages.kernel.settings import get_settings

    registry = OfferRegistry.from_directory(get_settings().offers_dir)
    report = run_daily(get_database(), registry, utc_now()).as_dict()
    log.info("contracts: %s acts, %d problems", report["acts"], len(report["problems"]))  # type: ignore[arg-type]


# ---------------------------------------------------------------- notices

_notices_pass = threading.Lock()


@huey.task()  # type: ignore[untyped-decorator]
def notices_deliver() -> None:
    """One delivery pass over the outbox (asked after each notice is written, and each
    minute); overlapping passes in one process are skipped, across processes the claims
    are compare-and-swaps, so a notice is never sent twice."""
    from nuages.jobs.runtime import get_database
    from nuages.kernel.settings import get_settings
    from nuages.notices.delivery import deliver_pass

    if not _notices_pass.acquire(blocking=False):
        return
    try:
        report = deliver_pass(get_database(), get_settings())
        if report.sent or report.deferred or report.failed or report.recovered:
            log.info(
                "notices: %d sent, %d deferred, %d failed, %d recovered",
                len(report.sent),
                len(report.deferred),
                len(report.failed),
                len(report.recovered),
            )
    finally:
        _notices_pass.release()


@huey.task()  # type: ignore[untyped-decorator]
def notices_deliver_soon() -> None:
    """A pass a second from now (asked when one was asked for less than a second ago)."""
    notices_deliver.schedule(delay=1)


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def notices_periodic() -> None:
    """Each minute: the deferred notices whose backoff ended."""
    notices_deliver.call_local()


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def notices_bounces_maildir() -> None:
    """Each minute, when NUAGES_BOUNCE_MAILDIR is set: the bounces (DSNs) the provider's
    MTA delivered there, recorded on their notices (issue #11)."""
    from nuages.jobs.runtime import get_database
    from nuages.kernel.settings import get_settings
    from nuages.notices.bounce_intake import read_maildir

    settings = get_settings()
    if settings.bounce_maildir is None:
        return
    try:
        report = read_maildir(get_database(), settings)
    except FileNotFoundError as exc:
        log.warning("notices: bounce Maildir: %s", exc)
        return
    if report.read:
        log.info(
            "notices: bounces read %d (matched %d, unknown %d, duplicate %d, errors %d)",
            report.read,
            report.matched,
            report.unknown,
            report.duplicate,
            report.errors,
        )


# ---------------------------------------------------------------- metrics (issue 14.4)

_metrics_pass = threading.Lock()


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def metrics_collect() -> None:
    """Each minute: every watched host's domain statistics (one bulk call per host),
    one row per VM; a host that does not answer is marked and the others collected."""
    from nuages.compute.metrics.collect import collect
    from nuages.compute.runtime import get_runtime

    if not _metrics_pass.acquire(blocking=False):
        return
    try:
        runtime = get_runtime()
        assert runtime.database is not None
        report = collect(runtime.database, runtime)
        log.info(
            "metrics: %d hosts (%d unreachable), %d domains read, %d rows",
            report.hosts,
            len(report.unreachable),
            report.read,
            report.written,
        )
    finally:
        _metrics_pass.release()


@huey.periodic_task(crontab(minute="5"))  # type: ignore[untyped-decorator]
def metrics_rollup() -> None:
    """Each hour: roll the complete hours up, drop minutes older than 48 h and hours
    older than 13 months (idempotent)."""
    from nuages.compute.metrics.series import rollup_and_prune
    from nuages.jobs.runtime import get_database

    with get_database().unit() as session:
        report = rollup_and_prune(session)
    log.info(
        "metrics rollup: %d hours, %d rows; pruned %d minutes, %d hours",
        len(report.hours),
        report.rows,
        report.minutes_pruned,
        report.hours_pruned,
    )


# ---------------------------------------------------------------- sla (issue 22)


@huey.task()  # type: ignore[untyped-decorator]
def sla_month(year: int, month: int) -> None:
    """Issue one month's SLA reports (a corrected version where a late fact moved the
    figures) and apply the credits that are due (002 §6, 000 §5). Idempotent."""
    from nuages.contracts.offers import OfferRegistry
    from nuages.history.service import Actor
    from nuages.jobs.runtime import get_database
    from nuages.kernel.settings import get_settings
    from nuages.sla import jobs as sla_jobs

    registry = OfferRegistry.from_directory(get_settings().offers_dir)
    done = sla_jobs.run(get_database(), Actor.system("sla"), registry, year, month)
    log.info("sla %04d-%02d: %s", year, month, done)


@huey.periodic_task(crontab(minute="50", hour="2"))  # type: ignore[untyped-decorator]
def sla_monthly() -> None:
    """Each night: the last month's reports (a month is reported once it is over; run
    daily, later facts give corrected versions) and the credits due."""
    from nuages.kernel.clock import utc_now
    from nuages.kernel.errors import ValidationFailed
    from nuages.sla import jobs as sla_jobs

    for year, month in sla_jobs.months_to_report(utc_now()):
        try:
            sla_month.call_local(year, month)
        except ValidationFailed as exc:  # the month is not over everywhere yet
            log.info("sla %04d-%02d: %s", year, month, exc.detail)


# ---------------------------------------------------------------- reversibility


def _exit_runtime() -> tuple[object, object, object]:
    from nuages.compute.runtime import get_runtime
    from nuages.contracts.offers import OfferRegistry
    from nuages.kernel.settings import get_settings

    runtime = get_runtime()
    assert runtime.database is not None
    return runtime.database, OfferRegistry.from_directory(get_settings().offers_dir), runtime


@huey.periodic_task(crontab(minute="30", hour="2"))  # type: ignore[untyped-decorator]
def contracts_exit_daily() -> None:
    """Each night (issue 21.6): open the exit of every contract in reversibility, and
    act on every exit deadline reached (copies, erasure, closure); idempotent."""
    from nuages.reversibility.service import run_daily

    database, registry, runtime = _exit_runtime()
    done = run_daily(database, registry, runtime)  # type: ignore[arg-type]
    log.info("exits: %d looked at", len(done))


@huey.task()  # type: ignore[untyped-decorator]
def contracts_exit_advance(contract_id: str) -> None:
    """Move one contract's exit on now (after staff end it, after a client act)."""
    from nuages.reversibility.service import advance

    database, registry, runtime = _exit_runtime()
    with database.unit() as session:  # type: ignore[attr-defined]
        advance(session, registry, runtime, contract_id)  # type: ignore[arg-type]


@huey.task()  # type: ignore[untyped-decorator]
def invoicing_invoice_bounced(notice_id: str) -> None:
    """001 §4.1, SPEC §17: an invoice's e-mail bounced after acceptance; void the receipt
    its acceptance recorded (issue #11 x #20)."""
    from nuages.invoicing import receipts
    from nuages.jobs.runtime import get_database

    with get_database().unit() as session:
        voided = receipts.void(session, notice_id)
    log.info("notice %s: %s", notice_id, "receipt voided" if voided else "no receipt to void")

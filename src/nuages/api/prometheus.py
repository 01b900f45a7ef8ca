"""``GET /metrics``: the operators' Prometheus scrape (issue 14.4; docs/metrics.md).

Who may scrape: with ``NUAGES_METRICS_TOKEN`` set, only ``Authorization: Bearer <token>``
(compared in constant time); without it, only clients on loopback (127.0.0.0/8, ::1) —
a scraper elsewhere needs the token. Each app has its own registry (tests build many).

Figures, read at scrape time in one read-only unit: hosts by state and reachability, VMs
by state, job lag (seconds since the metrics collector's last minute, reconciliation's
last look at a host, the metering's last finished hour), jobs waiting in the queue, the
metering of the last hour (entries and amount), the notices outbox by state, and a
latency histogram of API requests per route template.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Receive, Scope, Send

from nuages.billing.models import LedgerEntry, MeteringPeriod
from nuages.compute.metrics.models import VmMetricMinute
from nuages.compute.models import Host, Vm
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.notices.models import Notice

log = logging.getLogger("nuages.api.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class LatencyMiddleware:
    """Times every HTTP request into ``nuages_api_request_seconds`` (route template,
    method, status class), so a path full of ids stays one series."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            if path != "/metrics":
                self.histogram.labels(
                    scope.get("method", ""), path, f"{status[0] // 100}xx"
                ).observe(time.perf_counter() - start)


class PlatformCollector(Collector):
    """The platform's figures, queried at each scrape."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = utc_now()
        try:
            with self.database.unit(readonly=True) as session:
                yield from _figures(session, now)
        except Exception:  # a scrape must answer even when the database does not
            log.exception("metrics: the database figures could not be read")
        pending = GaugeMetricFamily("nuages_jobs_pending", "jobs waiting in the queue")
        try:
            from nuages.jobs.queue import get_huey

            pending.add_metric([], float(get_huey().pending_count()))
            yield pending
        except Exception:
            log.warning("metrics: the job queue could not be read", exc_info=True)


def _lag(now: dt.datetime, then: dt.datetime | None) -> float:
    if then is None:
        return float("nan")
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    return max((now - then).total_seconds(), 0.0)


def _figures(session: Any, now: dt.datetime) -> Iterator[GaugeMetricFamily]:
    hosts = GaugeMetricFamily("nuages_hosts", "hosts by state", labels=["state", "reachable"])
    for state, reachable, n in session.execute(
        select(Host.state, Host.reachable, func.count()).group_by(Host.state, Host.reachable)
    ):
        hosts.add_metric([state, "true" if reachable else "false"], n)
    yield hosts
    vms = GaugeMetricFamily("nuages_vms", "VMs by state", labels=["state"])
    for state, n in session.execute(select(Vm.vm_state, func.count()).group_by(Vm.vm_state)):
        vms.add_metric([state], n)
    yield vms
    lag = GaugeMetricFamily(
        "nuages_job_lag_seconds", "seconds since a periodic job last did its work", labels=["job"]
    )
    lag.add_metric(
        ["metrics_collect"],
        _lag(now, session.execute(select(func.max(VmMetricMinute.at))).scalar()),
    )
    lag.add_metric(
        ["compute_reconcile"], _lag(now, session.execute(select(func.max(Host.last_seen))).scalar())
    )
    lag.add_metric(
        ["billing_meter"],
        _lag(now, session.execute(select(func.max(MeteringPeriod.period_end))).scalar()),
    )
    yield lag
    since = now - dt.timedelta(hours=1)
    count, amount = session.execute(
        select(func.count(), func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.kind == "usage", LedgerEntry.recorded_at >= since
        )
    ).one()
    entries = GaugeMetricFamily("nuages_metering_entries_last_hour", "usage entries written")
    entries.add_metric([], count)
    yield entries
    debited = GaugeMetricFamily(
        "nuages_metering_amount_last_hour", "usage debited in the last hour (currency units)"
    )
    debited.add_metric([], float(-amount))
    yield debited
    outbox = GaugeMetricFamily(
        "nuages_notices_outbox", "notices by delivery state", labels=["state"]
    )
    for state, n in session.execute(select(Notice.state, func.count()).group_by(Notice.state)):
        outbox.add_metric([state], n)
    yield outbox


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def install(app: FastAPI) -> None:
    """Add the latency middleware and ``GET /metrics`` to ``app``."""
    registry = CollectorRegistry(auto_describe=True)
    histogram = Histogram(
        "nuages_api_request_seconds",
        "API request latency",
        ["method", "route", "status"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )
    registry.register(PlatformCollector(app.state.database))
    app.add_middleware(LatencyMiddleware, histogram=histogram)
    app.state.metrics_registry = registry
    app.add_api_route("/metrics", metrics, methods=["GET"], tags=["meta"], include_in_schema=False)


def metrics(request: Request) -> Response:
    """Prometheus text format; token or loopback only (see the module).

    A module function reading its app from the request, not a closure over the app:
    FastAPI keeps each endpoint in a module-level cache (4,096 entries), and a closure
    there kept every app built in the process alive, with its routes and database."""
    state = request.app.state
    token = state.settings.metrics_token
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return PlainTextResponse(
                "send the metrics token: Authorization: Bearer <NUAGES_METRICS_TOKEN>\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    elif not _loopback(request):
        return PlainTextResponse(
            "/metrics answers loopback clients only; set NUAGES_METRICS_TOKEN to scrape "
            "from elsewhere\n",
            status_code=403,
        )
    return Response(generate_latest(state.metrics_registry), media_type=CONTENT_TYPE)

"""The VM page's console button and supervision graphs (002 §3 "console directe",
"graphes de supervision"; issue 14.3, 14.4).

The console form asks for a single-use token (``compute.console.service``) and sends
the browser to the console page with it in the URL fragment. The graphs are the last
hour at 1-minute step, drawn as SVG polylines computed here (no script: the portal's
CSP refuses inline ones, and none is needed)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.compute.console import service as console
from nuages.compute.hypervisor import ConsoleKind
from nuages.compute.metrics import series
from nuages.kernel.errors import NuagesError
from nuages.portal.client.dashboard import attempt
from nuages.portal.web import PostedForm

router = APIRouter()
WIDTH, HEIGHT = 300, 60
# (field, label, unit, divisor, fixed top): what the VM page draws.
GRAPHS = (
    ("cpu_percent", "CPU", "%", 1.0, 100.0),
    ("memory_used_bytes", "Mémoire utilisée", "MiB", 1024.0 * 1024, None),
    ("disk_read_bytes_per_s", "Lecture disque", "KiB/s", 1024.0, None),
    ("disk_write_bytes_per_s", "Écriture disque", "KiB/s", 1024.0, None),
    ("net_rx_bytes_per_s", "Réseau reçu", "KiB/s", 1024.0, None),
    ("net_tx_bytes_per_s", "Réseau envoyé", "KiB/s", 1024.0, None),
)


def polyline(
    points: list[tuple[dt.datetime, float]], start: dt.datetime, end: dt.datetime, top: float
) -> str:
    """SVG ``points`` of a series over ``[start, end)`` scaled to WIDTH × HEIGHT (pure)."""
    span = max((end - start).total_seconds(), 1.0)
    top = top or 1.0
    out = []
    for at, value in points:
        x = WIDTH * (at - start).total_seconds() / span
        y = HEIGHT - HEIGHT * min(value / top, 1.0)
        out.append(f"{x:.1f},{y:.1f}")
    return " ".join(out)


def vm_graphs(session: Session, me: Principal, vm_id: str) -> list[dict[str, Any]]:
    """The VM's graphs of the last hour (empty when nothing was collected yet)."""
    found = attempt(session, lambda: series.vm_series(session, me, vm_id, None, None, "1m"))
    if not found or not found["points"]:
        return []
    graphs = []
    for field, label, unit, divisor, fixed in GRAPHS:
        values = [(p["at"], p[field] / divisor) for p in found["points"] if p[field] is not None]
        if not values:
            continue
        top = fixed or max(v for _at, v in values)
        graphs.append(
            {
                "label": label,
                "unit": unit,
                "last": f"{values[-1][1]:.1f}",
                "top": f"{top:.1f}",
                "points": polyline(values, found["from"], found["to"], top),
            }
        )
    return graphs


@router.post("/vms/{vm_id}/console")
def vm_console(posted: PostedForm, vm_id: str) -> Response:
    """Open the VM's console: a token valid once, then the console page."""
    visit = posted.visit
    kind: ConsoleKind = "vnc" if posted.get("kind") == "vnc" else "serial"
    ttl = visit.request.app.state.settings.console_ticket_seconds
    try:
        with visit.write() as session:
            _ticket, token = console.issue(session, visit.me, vm_id, kind, ttl)
    except NuagesError as exc:
        if exc.status == 404:
            raise
        if exc.status == 403:  # 002 §3 / §3.8.2: the offer or a managed server gives none
            return visit.redirect(f"/vms/{vm_id}", "console_not_offered")
        return visit.redirect(f"/vms/{vm_id}", "console_refused")
    # The fragment never reaches a server (nor a log); the page forgets it at once.
    response = RedirectResponse(f"/console#kind={kind}&token={token}", status_code=303)
    visit.finish(response)
    return response

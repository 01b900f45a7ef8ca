"""Refused state changes: written to the history, at a bounded rate.

Every refused write is recorded (SPEC §1: the history holds what was attempted, too),
in a transaction of its own since the change itself rolled back. A caller hammering
refused writes would otherwise fill the append-only history at the speed of its
loop (136 rows a second were measured); past a budget per token and per client address
the answer becomes 429 with ``Retry-After`` and nothing is written.

The budgets are token buckets (``NUAGES_REFUSALS_*``): a burst, refilled at a steady
rate. They live in the API process: each process of a multi-process install counts on
its own, which bounds the rows at (processes × rate).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse

from nuages.api import problems
from nuages.history import scopes
from nuages.history import service as history
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import Settings

log = logging.getLogger("nuages.api")

# Routers whose every route is about money: their refusals need "billing" to be read.
BILLING_TAGS = frozenset({"billing"})
_MAX_KEYS = 100_000  # forget full buckets past this many callers


@dataclass
class _Bucket:
    level: float
    at: float


class RefusalLimiter:
    """Token buckets per API token and per client address, on the platform clock."""

    def __init__(
        self,
        token_burst: int,
        token_rate: float,
        address_burst: int,
        address_rate: float,
    ) -> None:
        self._limits = {
            "token": (float(token_burst), token_rate),
            "address": (float(address_burst), address_rate),
        }
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> RefusalLimiter:
        return cls(
            settings.refusals_burst_per_token,
            settings.refusals_per_second_per_token,
            settings.refusals_burst_per_address,
            settings.refusals_per_second_per_address,
        )

    def _refilled(self, kind: str, key: str, now: float) -> _Bucket:
        burst, rate = self._limits[kind]
        bucket = self._buckets.get((kind, key))
        if bucket is None:
            if len(self._buckets) >= _MAX_KEYS:
                self._forget_full(now)
            bucket = self._buckets[(kind, key)] = _Bucket(burst, now)
        bucket.level = min(burst, bucket.level + max(now - bucket.at, 0.0) * rate)
        bucket.at = now
        return bucket

    def _forget_full(self, now: float) -> None:
        for (kind, key), bucket in list(self._buckets.items()):
            burst, rate = self._limits[kind]
            if bucket.level + (now - bucket.at) * rate >= burst:
                del self._buckets[(kind, key)]

    def take(self, token: str, address: str) -> int:
        """Spend one refusal from both budgets; 0 when allowed, else the seconds to
        wait (neither budget is spent then)."""
        now = utc_now().timestamp()
        with self._lock:
            buckets = {
                "token": self._refilled("token", token, now),
                "address": self._refilled("address", address, now),
            }
            wait = 0
            for kind, bucket in buckets.items():
                if bucket.level < 1.0:
                    rate = self._limits[kind][1]
                    needed = (1.0 - bucket.level) / rate if rate > 0 else 3600.0
                    wait = max(wait, math.ceil(needed), 1)
            if wait:
                return wait
            for bucket in buckets.values():
                bucket.level -= 1.0
            return 0


def _limiter(request: Request) -> RefusalLimiter:
    state = request.app.state
    limiter: RefusalLimiter | None = getattr(state, "refusal_limiter", None)
    if limiter is None:
        limiter = state.refusal_limiter = RefusalLimiter.from_settings(state.settings)
    return limiter


def record_refusal(request: Request, exc: NuagesError) -> JSONResponse | None:
    """Write a refused state change to the history; or, past the caller's budget,
    return the 429 to send instead (nothing written)."""
    principal = getattr(request.state, "principal", None)
    if request.method in {"GET", "HEAD", "OPTIONS"} or principal is None:
        return None
    address = request.client.host if request.client else "-"
    wait = _limiter(request).take(principal.token_id or principal.user_id, address)
    if wait:
        response = problems.problem(
            429,
            "too-many-refusals",
            "Too many refused requests",
            f"too many refused requests from this token or address; retry in {wait} s",
            request.url.path,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    params = dict(request.path_params)
    object_id = next((v for k, v in reversed(params.items()) if k.endswith("_id")), "-")
    route = request.scope.get("route")
    name = getattr(route, "name", None) or request.url.path
    tags = {str(tag) for tag in getattr(route, "tags", None) or ()}
    try:
        database: Database = request.app.state.database
        with database.unit() as session:
            history.record(
                session,
                principal.actor,
                object_type=name.split("_", 1)[-1][:32],
                object_id=str(object_id)[:64],
                action=name[:64],
                params=params,
                client_id=principal.client_id,
                # The detail is redacted by record(); the scope follows the router
                # (a refused top-up speaks of money even if its name does not say so).
                outcome=f"refused: {exc.status} {exc.detail}",
                scope=scopes.BILLING if tags & BILLING_TAGS else None,
            )
    except Exception:  # the refusal answer matters more than its record
        log.exception("could not record a refused action")
    return None

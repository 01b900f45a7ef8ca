"""``GET /metrics`` (issue 14.4, docs/metrics.md): Prometheus text with the platform's
figures, behind a token or for loopback clients only."""

from __future__ import annotations

import gc
import weakref

from fastapi.testclient import TestClient

from nuages.app import create_app
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from tests.factories import World


def test_metrics_refuse_a_non_loopback_client_without_token(client: TestClient) -> None:
    """Without NUAGES_METRICS_TOKEN only loopback may scrape (TestClient's peer is not)."""
    r = client.get("/metrics")
    assert r.status_code == 403 and "NUAGES_METRICS_TOKEN" in r.text


def test_metrics_with_the_token(settings: Settings, database: Database, world: World) -> None:
    """With the token set: refused without it, and the figures with it — hosts and VMs
    by state, job lag, metering of the last hour, outbox, API latency histogram."""
    app = create_app(settings.model_copy(update={"metrics_token": "s3cret"}), database)
    with TestClient(app) as http:
        admin = world.admin()
        assert http.get("/api/v1/me", headers=admin.headers).status_code == 200
        assert http.get("/metrics").status_code == 401
        assert http.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        r = http.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    for name in (
        "nuages_hosts",
        "nuages_vms",
        'nuages_job_lag_seconds{job="metrics_collect"}',
        'nuages_job_lag_seconds{job="billing_meter"}',
        "nuages_metering_entries_last_hour 0.0",
        "nuages_metering_amount_last_hour 0.0",
        "nuages_notices_outbox",
        'nuages_api_request_seconds_count{method="GET",route="/api/v1/me",status="2xx"} 1.0',
    ):
        assert name in text, name


def test_each_app_answers_with_its_own_token_and_is_freed_once_dropped(
    settings: Settings, database: Database
) -> None:
    """``/metrics`` reads its app from the request: two apps in one process each answer
    their own token only. And an app no longer referenced is freed: FastAPI caches every
    endpoint function at module level (4,096 of them), so an endpoint closing over its
    app kept every app of the process alive (9 million objects after 400 tests)."""
    first = create_app(settings.model_copy(update={"metrics_token": "one"}), database)
    second = create_app(settings.model_copy(update={"metrics_token": "two"}), database)
    for app, mine, other in ((first, "one", "two"), (second, "two", "one")):
        with TestClient(app) as http:
            assert http.get("/metrics", headers={"Authorization": f"Bearer {mine}"}).is_success
            refused = http.get("/metrics", headers={"Authorization": f"Bearer {other}"})
            assert refused.status_code == 401
    gone = weakref.ref(create_app(settings, database))
    gc.collect()
    assert gone() is None, "a dropped app is still referenced"

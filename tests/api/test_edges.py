"""17.9 and 9.10 at the HTTP edge: body limits on chunked bodies, 405 with Allow,
duplicate JSON keys, ISO 8601 query times, API docs that work offline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.models import Client
from nuages.kernel.db import Database
from tests.factories import World

GOOD = {
    "kind": "business",
    "legal_name": "Exemple SAS",
    "country": "FR",
    "vat_number": "FR40303265045",
    "billing_email": "compta@exemple.fr",
}


def _clients(database: Database) -> int:
    with database.unit() as session:
        return int(session.execute(select(func.count()).select_from(Client)).scalar_one())


def test_regression_chunked_body_over_limit_gets_413(client: TestClient, world: World) -> None:
    """A body sent chunked (no Content-Length) past max_body_bytes gets 413, not the
    400 "error parsing the body" it used to get, and nothing is written."""
    admin = world.admin()

    def chunks() -> Iterator[bytes]:
        yield b'{"legal_name": "'
        for _ in range(30):
            yield b"x" * 100_000
        yield b'"}'

    headers = admin.headers | {"Content-Type": "application/json"}
    r = client.post("/api/v1/clients", content=chunks(), headers=headers)
    assert r.status_code == 413, r.text
    assert r.json()["type"].endswith("/body-too-large")
    assert _clients(world.database) == 0


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/v1/clients/some-id", "GET, PATCH"),
        ("DELETE", "/api/v1/clients", "GET, POST"),
        ("POST", "/api/v1/tokens/some-id", "DELETE"),
    ],
)
def test_regression_405_carries_allow(
    client: TestClient, world: World, method: str, path: str, allow: str
) -> None:
    """RFC 9110 §15.5.6: a 405 names the methods the path takes, from every route of
    the path (GET and PATCH of one path are two routes)."""
    r = client.request(method, path, headers=world.admin().headers)
    assert r.status_code == 405
    assert r.headers["allow"] == allow
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"kind": "business", "legal_name": "A", "legal_name": "B", "country": "FR",'
        b' "billing_email": "a@exemple.fr"}',
        b'{"kind": "consumer", "legal_name": "A", "country": "FR",'
        b' "billing_email": "a@exemple.fr", "extra": {"x": 1, "x": 2}}',
    ],
)
def test_regression_duplicate_json_keys_refused(
    client: TestClient, world: World, raw: bytes
) -> None:
    """An object naming a key twice is ambiguous (which value counts is up to the
    parser): 422 naming the key, nothing written."""
    admin = world.admin()
    for content_type in ({"Content-Type": "application/json"}, {}):
        r = client.post("/api/v1/clients", content=raw, headers=admin.headers | content_type)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert re.search(r"key '(legal_name|x)' appears twice", r.json()["detail"])
        assert r.json()["errors"][0]["loc"][0] == "body"
    assert _clients(world.database) == 0


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("0.5", 422),
        ("1700000000", 422),
        ("2026-11-01", 422),
        ("2026-11-01T00:00:00", 422),
        ("tomorrow", 422),
        ("2026-11-01T00:00:00Z", 404),
        ("2026-11-01T01:00:00+01:00", 404),
    ],
)
def test_regression_until_is_an_iso_8601_time(
    client: TestClient, world: World, value: str, status: int
) -> None:
    """``until``/``since`` are ISO 8601 times with a time zone; ``until=0.5`` used to
    be read as 1970-01-01T00:00:00.5Z. (404: the time was accepted, the contract id is
    unknown.)"""
    admin = world.admin()
    for name in ("until", "since"):
        r = client.get(
            "/api/v1/billing/contracts/no-such/entries",
            params={name: value},
            headers=admin.headers,
        )
        assert r.status_code == status, r.text
        if status == 422:
            assert r.json()["detail"].startswith(f"query.{name}:")
            assert "ISO 8601" in r.json()["detail"]


def _local_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(
        r"""(?:url|spec-url)\s*[:=]\s*["']([^"']+)["']""", html
    )


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_regression_api_docs_work_offline(client: TestClient, page: str) -> None:
    """9.10: /docs and /redoc name no other host (they loaded Swagger UI from a CDN),
    and every asset they name answers 200 from this server."""
    r = client.get(page)
    assert r.status_code == 200
    html = r.text
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html), html
    urls = _local_urls(html)
    assert len(urls) >= 2, urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts and all(len(client.get(u).content) > 100_000 for u in scripts)

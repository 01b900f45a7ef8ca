"""The API's sign-in (``POST /api/v1/auth/token``) under the portal's lockout rule
(issue #12 §2: "rate-limited, a lockout after repeated failures"), shared code in
``accounts.lockout``: 5 failures in 15 minutes lock the address, right password or
not; failed attempts from one client address are rate-limited; both answer 429 with
``Retry-After``."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from nuages.accounts import lockout
from nuages.accounts.roles import Role
from nuages.kernel.clock import set_now, utc_now
from tests.factories import World

PASSWORD = "correct horse battery staple"


def _email(world: World) -> str:
    from nuages.accounts.models import User

    actor = world.user(Role.CLIENT_OWNER, world.client(), password=PASSWORD)
    with world.database.unit() as session:
        user = session.get(User, actor.user_id)
        assert user is not None
        return user.email


def _sign_in(client: TestClient, email: str, password: str) -> object:
    return client.post("/api/v1/auth/token", json={"email": email, "password": password})


def test_regression_api_sign_in_locks_after_repeated_failures(
    client: TestClient, world: World
) -> None:
    """Before, the API route had no lockout: a guesser could try passwords there at
    will while the portal locked the address. Now the 5th failure locks it for the
    window (429 + Retry-After ≤ 15 min), the right password included; after the window
    the right password signs in and forgets the failures."""
    email = _email(world)
    for _ in range(lockout.MAX_FAILURES - 1):
        wrong = _sign_in(client, email, "wrong password!")
        assert wrong.status_code == 401, wrong.text  # type: ignore[attr-defined]
    locked = _sign_in(client, email, "wrong password!")
    assert locked.status_code == 429  # type: ignore[attr-defined]
    body = locked.json()  # type: ignore[attr-defined]
    assert body["type"].endswith("/sign-in-locked")
    wait = int(locked.headers["Retry-After"])  # type: ignore[attr-defined]
    assert 0 < wait <= lockout.WINDOW.total_seconds() and body["retry_after"] == wait
    right = _sign_in(client, email, PASSWORD)
    assert right.status_code == 429, "a locked address is refused, right password or not"  # type: ignore[attr-defined]
    set_now(utc_now() + lockout.WINDOW + dt.timedelta(seconds=1))
    opened = _sign_in(client, email, PASSWORD)
    assert opened.status_code == 201 and opened.json()["token"].startswith("nua_")  # type: ignore[attr-defined]
    with world.database.unit() as session:
        assert lockout.failures_count(session, email) == 0


def test_portal_and_api_share_one_count(client: TestClient, world: World) -> None:
    """Failures on the portal and on the API add up for one address (one table, one
    rule): 3 through the API and 2 through the portal form lock it on both."""
    from tests.portal.harness import Browser

    email = _email(world)
    for _ in range(3):
        assert _sign_in(client, email, "wrong password!").status_code == 401  # type: ignore[attr-defined]
    visitor = Browser(client.app)
    assert visitor.sign_in(email, "wrong password!").status_code == 401
    assert visitor.sign_in(email, "wrong password!").status_code == 429
    assert _sign_in(client, email, PASSWORD).status_code == 429  # type: ignore[attr-defined]


def test_failed_attempts_per_client_address_are_rate_limited(
    client: TestClient, world: World
) -> None:
    """A guesser trying many e-mails from one address: after the burst of failures,
    the next attempt is 429 with Retry-After before any password is checked. (The
    limiter is the app's own, with no refill so that a slow machine's argon2 checks
    cannot earn a token back during the test.)"""
    limiter = lockout.AddressLimiter(burst=3, per_second=0.0)
    client.app.state.sign_in_limiter = limiter  # type: ignore[attr-defined]
    for n in range(limiter.burst):
        answer = _sign_in(client, f"nobody{n}@example.com", "wrong password!")
        assert answer.status_code == 401  # type: ignore[attr-defined]
    refused = _sign_in(client, "someone-else@example.com", "wrong password!")
    assert refused.status_code == 429  # type: ignore[attr-defined]
    assert int(refused.headers["Retry-After"]) >= 1  # type: ignore[attr-defined]
    with world.database.unit() as session:
        assert lockout.failures_count(session, "someone-else@example.com") == 0


def test_successful_sign_ins_do_not_spend_the_address_budget(
    client: TestClient, world: World
) -> None:
    """Scripts sign in often: only failures count against the client address."""
    email = _email(world)
    limiter = lockout.limiter_of(client.app.state)  # type: ignore[attr-defined]
    for _ in range(limiter.burst + 2):
        assert _sign_in(client, email, PASSWORD).status_code == 201  # type: ignore[attr-defined]

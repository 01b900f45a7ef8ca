"""One gate for staff reads of a client's personal data (001 §15.3: access only for the
employees who need it, revoked when no longer needed; 001 §16.1: the client controls
these accesses).

The slices that hold such data (accounts: a client's users; compute: a VM's console;
gdpr: the register naming the client's people) call ``check`` before showing it. The
gdpr slice installs the guard (``gdpr/access.py``: a live grant of that staff member for
that kind of data, each use written to the client's history); the kernel only routes
the call, so accounts and compute need not import gdpr (which imports them).

Who needs a grant: provider staff acting through a token (both staff roles, admins
and operators: the clause names no role, so every employee); the provider's own
automation and the operator's command line (principals without a token: jobs, CLI)
do not, they are not an employee reading a client's data through the product. Client
users read their own client's data as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

KINDS = ("users", "consoles", "data")
Guard = Callable[[Session, Any, str, str, str], object]
Granted = Callable[[Session, Any, str], set[str]]
_installed: dict[str, Any] = {}


def install(guard: Guard, granted: Granted) -> None:
    """Called once by the gdpr slice when it is imported."""
    _installed["guard"], _installed["granted"] = guard, granted


def needs_grant(actor: Any) -> bool:
    """Staff acting through a token (the API, the portal)."""
    return bool(getattr(actor, "is_staff", False)) and getattr(actor, "token_id", None) is not None


def _installed_or_fail(name: str) -> Any:
    found = _installed.get(name)
    if found is None:  # fail closed: never show personal data unguarded
        raise RuntimeError("the staff-access guard is not installed (import nuages.gdpr.access)")
    return found


def check(session: Session, actor: Any, client_id: str | None, what: str, detail: str) -> None:
    """Refuse (403 naming the missing grant) a staff read of ``what`` of ``client_id``
    without a live grant; record the use in the client's history when allowed."""
    if client_id is None or not needs_grant(actor):
        return
    assert what in KINDS, what
    _installed_or_fail("guard")(session, actor, client_id, what, detail)


def granted_clients(session: Session, actor: Any, what: str) -> set[str]:
    """The clients whose ``what`` this staff member holds a live grant for."""
    result: set[str] = _installed_or_fail("granted")(session, actor, what)
    return result


def check_each(
    session: Session, actor: Any, client_ids: Iterable[str | None], what: str, detail: str
) -> None:
    for client_id in sorted({c for c in client_ids if c is not None}):
        check(session, actor, client_id, what, detail)

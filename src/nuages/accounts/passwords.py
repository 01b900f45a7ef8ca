"""Setting a password through a proven channel (a reset link e-mailed to the user): no
token, no scope, since the user cannot sign in; the caller proved the e-mail."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nuages.accounts.models import User
from nuages.accounts.security import hash_password
from nuages.history import service as history


def find_active(session: Session, email: str) -> User | None:
    """The active user with this e-mail (case-insensitive), if any."""
    found = session.execute(
        select(User).where(User.email == email.strip(), User.active.is_(True))
    ).scalar_one_or_none()
    if found is None:
        found = session.execute(
            select(User).where(func.lower(User.email) == email.strip().lower(), User.active)
        ).scalar_one_or_none()
    return found


def reset_password(session: Session, user_id: str, password: str) -> User | None:
    """Give an active user a new password (argon2id); recorded in the history as done
    by the user. None when the user is gone or disabled."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        return None
    user.password_hash = hash_password(password)
    history.record(
        session,
        history.Actor(user.id, user.email),
        object_type="user",
        object_id=user.id,
        action="user.password_reset",
        params={"password": "changed"},
        client_id=user.client_id,
    )
    return user

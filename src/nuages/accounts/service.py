"""Use cases of the accounts slice: clients, users, tokens, sign-in.

Services never commit; every state change is written to the action history in the
same transaction.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from nuages.accounts import schemas
from nuages.accounts.models import ApiToken, Client, User
from nuages.accounts.principal import Principal
from nuages.accounts.roles import (
    OWNER_ASSIGNABLE,
    ROLE_SCOPES,
    STAFF_ROLES,
    Role,
    Scope,
    format_scopes,
    parse_scopes,
)
from nuages.accounts.security import (
    digests_equal,
    generate_password,
    hash_password,
    new_token,
    split_token,
    token_digest,
    verify_password,
)
from nuages.accounts.validators import normalise_vat
from nuages.history import service as history
from nuages.kernel import personal_data
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import (
    AlreadyExists,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from nuages.kernel.pagination import paginate

# ---------------------------------------------------------------- clients


def create_client(session: Session, actor: Principal, data: schemas.ClientCreate) -> Client:
    """Create a client (staff only)."""
    if not actor.is_staff:
        raise Forbidden("only provider staff create clients")
    actor.require(Scope.WRITE)
    client = Client(**data.model_dump(exclude={"address"}), **data.address.columns())
    session.add(client)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="client",
        object_id=client.id,
        action="client.create",
        params=data.model_dump(),
        client_id=client.id,
    )
    return client


def get_client(session: Session, actor: Principal, client_id: str) -> Client:
    """A client the caller may see, else 404."""
    actor.require(Scope.READ)
    client = session.get(Client, client_id)
    if client is None or not actor.can_see_client(client.id):
        raise NotFound("no such client")
    return client


def list_clients(
    session: Session, actor: Principal, page: int, per_page: int
) -> tuple[list[Client], int]:
    """Every client for staff; a client user's own for everyone else."""
    actor.require(Scope.READ)
    stmt = select(Client).order_by(Client.created_at, Client.id)
    if not actor.is_staff:
        stmt = stmt.where(Client.id == actor.client_id)
    return paginate(session, stmt, page, per_page)


def update_client(
    session: Session, actor: Principal, client_id: str, data: schemas.ClientUpdate
) -> Client:
    """Change a client's identity or billing e-mail (staff, or the client's owner)."""
    client = get_client(session, actor, client_id)
    actor.require(Scope.WRITE)
    if not (actor.is_staff or actor.role == Role.CLIENT_OWNER):
        raise Forbidden("only an owner or provider staff change a client")
    changes = data.model_dump(exclude_unset=True)
    if "vat_number" in changes and changes["vat_number"] is not None:
        try:
            changes["vat_number"] = normalise_vat(changes["vat_number"], client.country)
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from exc
    changes.pop("address", None)  # an explicit null keeps the address, like other fields
    columns: dict[str, str] = {}
    if data.address is not None:
        try:
            address = data.address.checked(client.country)
        except ValueError as exc:
            raise ValidationFailed(f"address.postcode: {exc}") from exc
        columns = address.columns()
        changes["address"] = address.model_dump()
    for key, value in changes.items():
        if key == "address" or (value is None and key != "vat_number"):
            continue
        setattr(client, key, value)
    for key, text in columns.items():
        setattr(client, key, text)
    history.record(
        session,
        actor.actor,
        object_type="client",
        object_id=client.id,
        action="client.update",
        params=changes,
        client_id=client.id,
    )
    return client


# ---------------------------------------------------------------- users


def _check_assignable(actor: Principal, role: Role) -> None:
    if actor.role == Role.PROVIDER_ADMIN:
        return
    if actor.role == Role.PROVIDER_OPERATOR and role not in STAFF_ROLES:
        return
    if actor.role == Role.CLIENT_OWNER and role in OWNER_ASSIGNABLE:
        return
    raise Forbidden(f"you may not give the role {role.value}")


def create_user(
    session: Session, actor: Principal, client_id: str | None, data: schemas.UserCreate
) -> User:
    """Add a user to a client (its owner, or staff) or a staff member (admin only)."""
    actor.require(Scope.WRITE)
    if client_id is not None:
        get_client(session, actor, client_id)
        if data.role in STAFF_ROLES:
            raise Forbidden("staff roles belong to the provider, not to a client")
    elif data.role not in STAFF_ROLES:
        raise Forbidden("a client user needs a client")
    _check_assignable(actor, data.role)
    if data.is_terms_decider and data.role != Role.CLIENT_OWNER:
        raise Forbidden("only an owner can decide on terms changes (000 §4)")
    if session.execute(select(User.id).where(User.email == data.email)).first():
        raise AlreadyExists(f"a user with the e-mail {data.email} exists")
    user = User(
        email=data.email,
        name=data.name,
        role=data.role.value,
        client_id=client_id,
        is_terms_decider=data.is_terms_decider,
        password_hash=hash_password(data.password.get_secret_value()) if data.password else None,
    )
    session.add(user)
    session.flush()
    if data.is_terms_decider:
        _single_decider(session, user)
    history.record(
        session,
        actor.actor,
        object_type="user",
        object_id=user.id,
        action="user.create",
        params=data.model_dump(exclude={"password"}),
        client_id=client_id,
    )
    return user


def _single_decider(session: Session, user: User) -> None:
    # 000 §4, §8: "one" owner receives and decides on terms changes and extensions.
    others = session.execute(
        select(User).where(
            User.client_id == user.client_id, User.is_terms_decider.is_(True), User.id != user.id
        )
    ).scalars()
    for other in others:
        other.is_terms_decider = False


def get_user(session: Session, actor: Principal, user_id: str) -> User:
    """A user the caller may see: client users see their client's users; staff see a
    client's user only with a live access grant to its users (001 §15.3), each read in
    the client's history (``kernel.personal_data``)."""
    user = _visible_user(session, actor, user_id)
    if user.id != actor.user_id:
        personal_data.check(session, actor, user.client_id, "users", f"user {user.id}")
    return user


def _visible_user(session: Session, actor: Principal, user_id: str) -> User:
    """The user row for a change by the caller (staff: any; clients: their own)."""
    actor.require(Scope.READ)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if user.id != actor.user_id and not (
        actor.is_staff or (user.client_id is not None and user.client_id == actor.client_id)
    ):
        raise NotFound("no such user")
    return user


def list_users(
    session: Session, actor: Principal, page: int, per_page: int, client_id: str | None = None
) -> tuple[list[User], int]:
    """Users the caller may see, optionally those of one client. Staff through a token
    see a client's users only with a live access grant (001 §15.3): ``client_id`` without
    one is a 403 naming it; the whole list shows staff users and the granted clients'."""
    actor.require(Scope.READ)
    stmt = select(User).order_by(User.created_at, User.id)
    if not actor.is_staff:
        stmt = stmt.where(User.client_id == actor.client_id)
    if client_id is not None:
        stmt = stmt.where(User.client_id == client_id)
        personal_data.check(session, actor, client_id, "users", "list of the client's users")
    elif personal_data.needs_grant(actor):
        granted = personal_data.granted_clients(session, actor, "users")
        stmt = stmt.where(or_(User.client_id.is_(None), User.client_id.in_(sorted(granted))))
        personal_data.check_each(session, actor, granted, "users", "list of users")
    return paginate(session, stmt, page, per_page)


def update_user(session: Session, actor: Principal, user_id: str, data: schemas.UserUpdate) -> User:
    """Change a user's role, status, decider flag or password."""
    user = _visible_user(session, actor, user_id)
    actor.require(Scope.WRITE)
    self_service = user.id == actor.user_id
    changes = data.model_dump(exclude_unset=True, exclude={"password"})
    if changes or not self_service:
        # Changing someone else, or one's own role/flags, needs the power to assign.
        _check_assignable(actor, Role(user.role))
        if data.role is not None:
            _check_assignable(actor, data.role)
            if (data.role in STAFF_ROLES) != (user.client_id is None):
                raise Forbidden("a user cannot move between the provider and a client")
    if data.name is not None:
        user.name = data.name
    if data.role is not None:
        user.role = data.role.value
    if data.active is not None:
        user.active = data.active
    if data.is_terms_decider is not None:
        if data.is_terms_decider and user.role != Role.CLIENT_OWNER:
            raise Forbidden("only an owner can decide on terms changes (000 §4)")
        user.is_terms_decider = data.is_terms_decider
        if data.is_terms_decider:
            _single_decider(session, user)
    if data.password is not None:
        user.password_hash = hash_password(data.password.get_secret_value())
        changes["password"] = "changed"  # noqa: S105 - a marker, never the password
    history.record(
        session,
        actor.actor,
        object_type="user",
        object_id=user.id,
        action="user.update",
        params=changes,
        client_id=user.client_id,
    )
    return user


def change_email(session: Session, actor: Principal, user_id: str, email: str) -> User:
    """Give a user a new e-mail address (provider admins, with the admin scope).

    The first admin is created as ``admin@localhost``; this is how it (or anyone whose
    address changed) gets a real one. Old and new addresses go to the history.
    """
    user = _visible_user(session, actor, user_id)
    actor.require(Scope.ADMIN)
    if actor.role != Role.PROVIDER_ADMIN:
        raise Forbidden("only a provider admin changes a user's e-mail")
    old = user.email
    if email != old:
        taken = session.execute(
            select(User.id).where(User.email == email, User.id != user.id)
        ).first()
        if taken:
            raise AlreadyExists(f"a user with the e-mail {email} exists")
        user.email = email
        session.flush()
    history.record(
        session,
        actor.actor,
        object_type="user",
        object_id=user.id,
        action="user.email",
        params={"from": old, "to": email},
        client_id=user.client_id,
    )
    return user


# ---------------------------------------------------------------- tokens


def issue_token(
    session: Session,
    user: User,
    scopes: frozenset[Scope],
    days: int,
    name: str = "",
    *,
    parent: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """Store a new token for ``user``; return it with the clear token (shown once).

    A token minted by another (``parent``) never outlives it: its expiry is clipped to
    the parent's, and revoking the parent revokes it.
    """
    allowed = ROLE_SCOPES[Role(user.role)]
    if not scopes <= allowed:
        extra = ", ".join(sorted(s.value for s in scopes - allowed))
        raise Forbidden(f"the role {user.role} cannot hold the scopes: {extra}")
    expires_at = utc_now() + dt.timedelta(days=days)
    if parent is not None:
        expires_at = min(expires_at, parent.expires_at)
    clear, lookup, digest = new_token()
    token = ApiToken(
        user_id=user.id,
        name=name,
        lookup=lookup,
        digest=digest,
        scopes=format_scopes(scopes),
        expires_at=expires_at,
        parent_id=parent.id if parent is not None else None,
    )
    session.add(token)
    session.flush()
    return token, clear


def create_token(
    session: Session, actor: Principal, data: schemas.TokenCreate
) -> tuple[ApiToken, str]:
    """A new token minted by the calling token: a subset of its scopes, expiring no
    later than it, revoked with it."""
    user = session.get(User, actor.user_id)
    if user is None:
        raise Unauthenticated("unknown user")
    parent = None
    if actor.token_id is not None:
        # Lock the parent: a revocation committed meanwhile is seen here, never missed.
        parent = session.execute(
            select(ApiToken)
            .where(ApiToken.id == actor.token_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if parent is None or parent.revoked_at is not None:
            raise Unauthenticated("this token was revoked")
    scopes = frozenset(data.scopes)
    if not scopes <= actor.scopes:
        extra = ", ".join(sorted(s.value for s in scopes - actor.scopes))
        raise Forbidden(f"a token cannot grant more than the token that creates it: {extra}")
    token, clear = issue_token(session, user, scopes, data.days, data.name, parent=parent)
    history.record(
        session,
        actor.actor,
        object_type="token",
        object_id=token.id,
        action="token.create",
        params={
            "name": data.name,
            "scopes": token.scopes,
            "days": data.days,
            "expires_at": token.expires_at.isoformat(),
            "parent_id": token.parent_id,
        },
        client_id=user.client_id,
    )
    return token, clear


def list_tokens(
    session: Session, actor: Principal, page: int, per_page: int
) -> tuple[list[ApiToken], int]:
    """The caller's own tokens."""
    actor.require(Scope.READ)
    stmt = (
        select(ApiToken)
        .where(ApiToken.user_id == actor.user_id)
        .order_by(ApiToken.created_at, ApiToken.id)
    )
    return paginate(session, stmt, page, per_page)


def revoke_token(session: Session, actor: Principal, token_id: str) -> ApiToken:
    """Revoke a token and every token it minted, at any depth.

    One's own tokens need the write scope (the calling token itself may always be
    revoked: signing out never needs more). Another user's token is provider-admin work
    with the admin scope (other staff: 403); client users are told it does not exist
    (404).
    """
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("no such token")
    own = token.user_id == actor.user_id
    if not own:
        if not actor.is_staff:
            raise NotFound("no such token")
        # Staff see every client's objects; revoking another user's token is still
        # admin work (operators hold no admin scope: 403).
        actor.require(Scope.ADMIN)
    elif token.id != actor.token_id:
        actor.require(Scope.WRITE)
    owner = session.get(User, token.user_id)
    client_id = owner.client_id if owner is not None else None
    now = utc_now()
    was_active = token.revoked_at is None
    if was_active:
        # Write (and so lock) the parent first: a mint racing with this revocation
        # either committed its child before (found below) or waits on this row and
        # then sees it revoked (create_token re-reads it FOR UPDATE).
        token.revoked_at = now
        session.flush()
    revoked = _revoke_descendants(session, token, now)
    if was_active or revoked:
        history.record(
            session,
            actor.actor,
            object_type="token",
            object_id=token.id,
            action="token.revoke",
            params={
                "owner_id": token.user_id,
                "by_staff": not own,
                "with": sorted(revoked),
            },
            client_id=client_id,
        )
    return token


def _revoke_descendants(session: Session, token: ApiToken, now: dt.datetime) -> list[str]:
    """Revoke every still-valid token minted from ``token`` at any depth; return their
    ids. Revoked children are walked too: a child revoked on its own before this
    cascade existed may still have live children."""
    revoked: list[str] = []
    frontier = [token.id]
    seen = {token.id}
    while frontier:
        children = (
            session.execute(select(ApiToken).where(ApiToken.parent_id.in_(frontier)))
            .scalars()
            .all()
        )
        frontier = []
        for child in children:
            if child.id in seen:
                continue
            seen.add(child.id)
            frontier.append(child.id)
            if child.revoked_at is None:
                child.revoked_at = now
                revoked.append(child.id)
    return revoked


def login(session: Session, data: schemas.Login) -> tuple[ApiToken, str]:
    """Exchange an e-mail and password for a token (SPEC §1: the "code d'accès").

    Without ``scopes`` the token gets every scope the user's role allows; with them,
    those of them the role allows. A sign-in is not minted by a token: no parent.
    """
    user = session.execute(select(User).where(User.email == data.email)).scalar_one_or_none()
    ok = verify_password(user.password_hash if user else None, data.password.get_secret_value())
    if user is None or not ok or not user.active:
        raise Unauthenticated("wrong e-mail or password")
    allowed = ROLE_SCOPES[Role(user.role)]
    scopes = allowed if data.scopes is None else frozenset(data.scopes) & allowed
    if not scopes:
        raise Forbidden("none of the asked scopes is open to this user")
    token, clear = issue_token(session, user, scopes, data.days, "sign-in")
    history.record(
        session,
        history.Actor(user.id, user.email),
        object_type="token",
        object_id=token.id,
        action="auth.login",
        params={"scopes": token.scopes},
        client_id=user.client_id,
    )
    return token, clear


def authenticate(session: Session, bearer: str) -> Principal:
    """The principal behind a bearer token; 401 when unknown, expired, revoked or inactive.

    Reads only: the token's ``last_used_at`` is written apart, at most once a minute
    (``accounts.token_use``), so that reads never take a write lock (17.1)."""
    lookup = split_token(bearer)
    if lookup is None:
        raise Unauthenticated("malformed token")
    token = session.execute(select(ApiToken).where(ApiToken.lookup == lookup)).scalar_one_or_none()
    if token is None or not digests_equal(token.digest, token_digest(bearer)):
        raise Unauthenticated("unknown token")
    now = utc_now()
    if token.revoked_at is not None:
        raise Unauthenticated("this token was revoked")
    if token.expires_at <= now:
        raise Unauthenticated("this token has expired")
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        raise Unauthenticated("this user is disabled")
    role = Role(user.role)
    return Principal(
        user_id=user.id,
        email=user.email,
        role=role,
        client_id=user.client_id,
        scopes=parse_scopes(token.scopes) & ROLE_SCOPES[role],
        token_id=token.id,
    )


# ---------------------------------------------------------------- first admin


def create_admin(
    session: Session, email: str, password: str | None = None, with_token: bool = True
) -> tuple[User, str]:
    """Create a provider admin (CLI and first start); return the user and, when asked,
    an admin token ('' otherwise)."""
    if session.execute(select(User.id).where(User.email == email)).first():
        raise AlreadyExists(f"a user with the e-mail {email} exists")
    user = User(
        email=email,
        name="Administrator",
        role=Role.PROVIDER_ADMIN.value,
        client_id=None,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    session.flush()
    clear = ""
    if with_token:
        _token, clear = issue_token(session, user, frozenset(Scope), 365, "cli")
    history.record(
        session,
        history.Actor.system("cli"),
        object_type="user",
        object_id=user.id,
        action="admin.create",
        params={"email": email},
    )
    return user, clear


def ensure_first_admin(session: Session, email: str) -> tuple[User, str] | None:
    """On first start, create the first admin with a generated password.

    Returns (user, password) the one time it creates it; None afterwards. The password
    is stored only as an argon2id hash.
    """
    if session.execute(select(User.id).where(User.role == Role.PROVIDER_ADMIN.value)).first():
        return None
    password = generate_password()
    user, _ = create_admin(session, email, password, with_token=False)
    return user, password

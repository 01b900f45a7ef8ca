"""SSH public keys of users, chosen when a VM is created (002 §3: management of SSH keys).

A key is accepted only if ``cryptography`` parses it as a real OpenSSH public key
(ed25519, ECDSA on NIST curves, RSA of 2048 bits or more); it is stored normalised
(type, base64, comment) with its SHA-256 fingerprint as ``ssh-keygen -l`` prints it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.compute import schemas
from nuages.compute.models import SshKey
from nuages.history import service as history
from nuages.kernel.errors import AlreadyExists, Forbidden, NotFound, ValidationFailed
from nuages.kernel.pagination import paginate

KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)
MIN_RSA_BITS = 2048
# A comment is free text, but it reaches a cloud-config document and a guest's
# authorized_keys: printable characters only, one line.
_COMMENT = re.compile(r"^[\x20-\x7e]{0,200}$")


def parse_public_key(text: str) -> tuple[str, str]:
    """Return (normalised key line, ``SHA256:`` fingerprint); ``ValidationFailed`` unless
    ``text`` is one OpenSSH public key line."""
    line = text.strip()
    if "\n" in line or "\r" in line:
        raise ValidationFailed("public_key: one key, on one line")
    if "PRIVATE KEY" in line:
        raise ValidationFailed("public_key: this is a private key; send the .pub file only")
    parts = line.split(None, 2)
    if len(parts) < 2:
        raise ValidationFailed("public_key: expected 'TYPE BASE64 [comment]'")
    kind, blob_text = parts[0], parts[1]
    comment = parts[2].strip() if len(parts) == 3 else ""
    if kind not in KEY_TYPES:
        raise ValidationFailed(f"public_key: type {kind!r} is not one of {', '.join(KEY_TYPES)}")
    if not _COMMENT.match(comment):
        raise ValidationFailed("public_key: the comment must be printable ASCII, 200 at most")
    try:
        blob = base64.b64decode(blob_text, validate=True)
        key = load_ssh_public_key(f"{kind} {blob_text}".encode("ascii"))
    except (binascii.Error, ValueError, UnsupportedAlgorithm, UnicodeEncodeError):
        raise ValidationFailed("public_key: not a valid OpenSSH public key") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise ValidationFailed(f"public_key: RSA keys need {MIN_RSA_BITS} bits at least")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    normalised = f"{kind} {blob_text}" + (f" {comment}" if comment else "")
    return normalised, f"SHA256:{digest}"


def create_key(session: Session, actor: Principal, data: schemas.SshKeyCreate) -> SshKey:
    """Store a public key for the calling user."""
    actor.require(Scope.WRITE)
    line, fingerprint = parse_public_key(data.public_key)
    clash = session.execute(
        select(SshKey.name, SshKey.fingerprint).where(
            SshKey.user_id == actor.user_id,
            or_(SshKey.name == data.name, SshKey.fingerprint == fingerprint),
        )
    ).first()
    if clash is not None:
        what = "name" if clash.name == data.name else "key"
        raise AlreadyExists(f"you already have a key with this {what}")
    key = SshKey(
        user_id=actor.user_id,
        client_id=actor.client_id,
        name=data.name,
        public_key=line,
        fingerprint=fingerprint,
    )
    session.add(key)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="ssh_key",
        object_id=key.id,
        action="ssh_key.create",
        params={"name": key.name, "fingerprint": fingerprint},
        client_id=actor.client_id,
    )
    return key


def _visible(actor: Principal, key: SshKey) -> bool:
    if actor.is_staff or key.user_id == actor.user_id:
        return True
    # A client's users see the client's keys (an owner picks a member's key for a VM).
    return key.client_id is not None and key.client_id == actor.client_id


def get_key(session: Session, actor: Principal, key_id: str) -> SshKey:
    """A key the caller may see, else 404."""
    actor.require(Scope.READ)
    key = session.get(SshKey, key_id)
    if key is None or not _visible(actor, key):
        raise NotFound("no such SSH key")
    return key


def list_keys(
    session: Session, actor: Principal, page: int, per_page: int
) -> tuple[list[SshKey], int]:
    """The caller's keys and, for a client's users, the client's keys."""
    actor.require(Scope.READ)
    stmt = select(SshKey).order_by(SshKey.created_at, SshKey.id)
    if not actor.is_staff:
        mine = SshKey.user_id == actor.user_id
        stmt = stmt.where(
            or_(mine, SshKey.client_id == actor.client_id) if actor.client_id else mine
        )
    return paginate(session, stmt, page, per_page)


def delete_key(session: Session, actor: Principal, key_id: str) -> None:
    """Delete a key (its user, the client's owner, or staff). VMs made with it keep it
    until reinstalled from a new seed; nuages never edits a running guest."""
    key = get_key(session, actor, key_id)
    actor.require(Scope.WRITE)
    if not (actor.is_staff or key.user_id == actor.user_id or actor.role == Role.CLIENT_OWNER):
        raise Forbidden("only the key's user or an owner deletes it")
    session.delete(key)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="ssh_key",
        object_id=key_id,
        action="ssh_key.delete",
        params={"fingerprint": key.fingerprint},
        client_id=key.client_id,
    )


def keys_for_vm(session: Session, client_id: str, key_ids: list[str]) -> list[SshKey]:
    """The keys chosen for a VM of ``client_id``; each must belong to that client."""
    if not key_ids:
        return []
    unique = list(dict.fromkeys(key_ids))
    found = {
        k.id: k
        for k in session.execute(select(SshKey).where(SshKey.id.in_(unique))).scalars().all()
    }
    for key_id in unique:
        key = found.get(key_id)
        if key is None or key.client_id != client_id:
            raise ValidationFailed(f"ssh_key_ids: no key {key_id} in this client")
    return [found[k] for k in unique]

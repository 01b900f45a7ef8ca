"""SSH public keys (002 §3): only real OpenSSH public keys are stored, with the
fingerprint ``ssh-keygen`` prints; each user's keys, seen by its client only."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.compute import schemas
from nuages.compute.models import SshKey
from nuages.compute.services import keys
from nuages.kernel.errors import AlreadyExists, Forbidden, NotFound, ValidationFailed
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401


def openssh(private: object, comment: str = "alice@laptop") -> str:
    public = private.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return public.decode() + (f" {comment}" if comment else "")


GOOD = {
    "ed25519": lambda: ed25519.Ed25519PrivateKey.generate(),
    "rsa-3072": lambda: rsa.generate_private_key(public_exponent=65537, key_size=3072),
    "ecdsa-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ecdsa-p521": lambda: ec.generate_private_key(ec.SECP521R1()),
}


@pytest.mark.parametrize("kind", list(GOOD))
def test_real_keys_are_accepted_with_ssh_keygen_fingerprint(kind: str, tmp_path: Path) -> None:
    line = openssh(GOOD[kind]())
    normalised, fingerprint = keys.parse_public_key("  " + line + "\n")
    assert normalised == line
    if shutil.which("ssh-keygen"):
        pub = tmp_path / "key.pub"
        pub.write_text(line + "\n")
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert out.split()[1] == fingerprint


def _swap_type(line: str, kind: str) -> str:
    return kind + " " + line.split(" ", 1)[1]


ED = openssh(ed25519.Ed25519PrivateKey.generate())
BAD = {
    "not a key at all": "hello world",
    "type only": "ssh-ed25519",
    "bad base64": "ssh-ed25519 AAAA!!!!",
    "truncated blob": "ssh-ed25519 " + ED.split()[1][:30],
    "type and blob disagree": _swap_type(ED, "ssh-rsa"),
    "two keys": ED + "\n" + ED,
    "control character in comment": ED + "\x07",
    "DSA is obsolete": openssh(dsa.generate_private_key(key_size=1024)),  # noqa: S505 - refused on purpose
    "short RSA": openssh(rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505
    "private key": ed25519.Ed25519PrivateKey.generate()
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    .decode(),
}


@pytest.mark.parametrize("text", list(BAD.values()), ids=list(BAD))
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValidationFailed, match="public_key"):
        keys.parse_public_key(text)


def test_keys_per_user_and_client(cw: ComputeWorld) -> None:
    """A user's keys: unique by name and by key; the client's users see them (an owner
    picks a member's key for a VM); another client sees nothing; a guest adds none."""
    client_id = cw.world.client()
    owner = cw.owner(client_id)[1]
    member = cw.principal(cw.world.user(Role.CLIENT_MEMBER, client_id))
    guest = cw.principal(cw.world.user(Role.GUEST, client_id))
    stranger = cw.owner(cw.world.client("Stranger"))[1]
    line = openssh(ed25519.Ed25519PrivateKey.generate())
    with cw.database.unit() as session:
        key = keys.create_key(session, member, schemas.SshKeyCreate(name="laptop", public_key=line))
        key_id = key.id
        assert key.fingerprint.startswith("SHA256:")
    with pytest.raises(AlreadyExists, match="name"), cw.database.unit() as session:
        other = openssh(ed25519.Ed25519PrivateKey.generate())
        keys.create_key(session, member, schemas.SshKeyCreate(name="laptop", public_key=other))
    with pytest.raises(AlreadyExists, match="key"), cw.database.unit() as session:
        keys.create_key(session, member, schemas.SshKeyCreate(name="again", public_key=line))
    with cw.database.unit() as session:  # the same key for another user is fine
        keys.create_key(session, owner, schemas.SshKeyCreate(name="shared", public_key=line))
    with pytest.raises(Forbidden), cw.database.unit() as session:
        keys.create_key(session, guest, schemas.SshKeyCreate(name="g", public_key=line))
    with cw.database.unit() as session:
        assert keys.get_key(session, owner, key_id).name == "laptop"
        assert keys.list_keys(session, guest, 1, 50)[1] == 2
        assert keys.list_keys(session, stranger, 1, 50) == ([], 0)
    with pytest.raises(NotFound), cw.database.unit() as session:
        keys.get_key(session, stranger, key_id)
    with pytest.raises(NotFound), cw.database.unit() as session:
        keys.delete_key(session, stranger, key_id)
    with cw.database.unit() as session:
        keys.delete_key(session, owner, key_id)  # an owner may remove a member's key
        assert session.execute(select(func.count()).select_from(SshKey)).scalar_one() == 1

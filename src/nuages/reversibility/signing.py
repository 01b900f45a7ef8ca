"""The provider's signature on erasure records (issue #21 item 6; 001 §7 "la
suppression ... sera consignée", 002 §10: the VMs and data erased).

The erasure record is hash-chained in the history, which proves it was not changed
*inside* this installation; the signature lets the client prove, with the provider's
public key alone, that the provider issued this record (what was erased, when, by
whom). Ed25519 (``cryptography``): the private key is a PKCS#8 PEM file generated at
first use under ``<data_dir>/keys/erasure-signing.pem`` (mode 0600), or the file named
by ``NUAGES_ERASURE_SIGNING_KEY_FILE``; the public key is published at
``GET /api/v1/erasure-signing-key`` and by ``nuages contract exit signing-key``.

What is signed: the canonical JSON (sorted keys, no spaces, UTF-8) of the manifest,
i.e. the record's parameters without ``manifest_sha256``, ``signature``,
``signature_algorithm`` and ``signing_key_id``. A verifier drops those four fields,
re-serialises the rest the same way and checks the SHA-256 and the signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from nuages.kernel.settings import Settings

ALGORITHM = "Ed25519"
SIGNATURE_FIELDS = ("manifest_sha256", "signature", "signature_algorithm", "signing_key_id")


def key_path(settings: Settings) -> Path:
    """Where the private key lives (settings, else under the data directory)."""
    configured = settings.erasure_signing_key_file
    return configured if configured else settings.data_dir / "keys" / "erasure-signing.pem"


def _load(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def private_key(settings: Settings) -> Ed25519PrivateKey:
    """The signing key, generated once at first use (two processes racing: the loser
    reads the winner's key)."""
    path = key_path(settings)
    if path.exists():
        return _load(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Written whole under a private name, then linked into place: a reader never sees
    # half a key, and the link fails if another process got there first.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(partial, path)
        except FileExistsError:
            return _load(path)
    finally:
        partial.unlink(missing_ok=True)
    return key


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """The name of the public key: the SHA-256 of its raw bytes, in full. Never cut
    short: 16 hex digits can look like an IBAN to the history's redaction, which then
    rewrote the stored record and broke its signature; 64 cannot (nor the 128 of the
    signature)."""
    return hashlib.sha256(_raw(public)).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    """The published public key, in three spellings."""

    algorithm: str
    key_id: str
    public_key: str  # raw 32 bytes, base64
    public_key_pem: str


def public_key(settings: Settings) -> PublicKey:
    """The provider's public key, as published."""
    public = private_key(settings).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return PublicKey(ALGORITHM, key_id(public), base64.b64encode(_raw(public)).decode(), pem)


def canonical(manifest: dict[str, Any]) -> bytes:
    """The bytes signed and hashed."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), default=str).encode()


def manifest_of(record: dict[str, Any]) -> dict[str, Any]:
    """The signed part of a record: its parameters without the signature fields."""
    return {k: v for k, v in record.items() if k not in SIGNATURE_FIELDS}


def sign(settings: Settings, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its SHA-256 and the provider's signature added (hex)."""
    key = private_key(settings)
    data = canonical(manifest)
    return {
        **manifest,
        "manifest_sha256": hashlib.sha256(data).hexdigest(),
        "signature": key.sign(data).hex(),
        "signature_algorithm": ALGORITHM,
        "signing_key_id": key_id(key.public_key()),
    }


@dataclass(frozen=True)
class Verdict:
    """The outcome of a verification, with the reason when it fails."""

    valid: bool
    reason: str
    key_id: str


def load_public(text: str) -> Ed25519PublicKey:
    """A public key given as PEM or as the base64 of its 32 raw bytes."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))


def verify(public: Ed25519PublicKey, record: dict[str, Any]) -> Verdict:
    """Check a record (the erasure entry's parameters) against the public key."""
    kid = key_id(public)
    if record.get("signature_algorithm") != ALGORITHM or not record.get("signature"):
        return Verdict(False, "the record carries no Ed25519 signature", kid)
    if record.get("signing_key_id") not in (None, kid):
        return Verdict(False, f"signed by key {record.get('signing_key_id')}, not {kid}", kid)
    data = canonical(manifest_of(record))
    if record.get("manifest_sha256") != hashlib.sha256(data).hexdigest():
        return Verdict(False, "the manifest does not match its SHA-256 (changed)", kid)
    try:
        public.verify(bytes.fromhex(str(record["signature"])), data)
    except (InvalidSignature, ValueError):
        return Verdict(False, "the signature does not match the record", kid)
    return Verdict(True, "signed by the provider's key; the record is unchanged", kid)

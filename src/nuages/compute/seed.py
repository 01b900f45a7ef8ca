"""cloud-init NoCloud seed ISOs, built in Python with ``pycdlib``.

A NoCloud seed is an ISO 9660 volume labelled ``cidata`` holding ``meta-data``,
``user-data`` and optionally ``network-config``. ISO 9660 itself only allows upper-case
8.3-ish names, so the real names are carried by Rock Ridge (what Linux mounts) and Joliet
(what other systems read), like ``genisoimage -J -r -V cidata`` does.

The documents are written in the subset of YAML that is also JSON-compatible (every
string double-quoted), so no value can change the structure whatever characters it holds.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pycdlib

from nuages.kernel.errors import ValidationFailed

VOLUME_LABEL = "cidata"
_HOSTNAME = re.compile(r"^(?=.{1,63}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")
_INSTANCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_KEY = re.compile(r"^(ssh-|ecdsa-|sk-)[A-Za-z0-9@.-]+ [A-Za-z0-9+/=]+( [^\r\n]*)?$")


@dataclass(frozen=True)
class SeedContent:
    """What a seed tells the guest: who it is, who may log in, what to run first.

    ``user_data``, when given, is used verbatim (a ``#cloud-config`` document or a
    script starting with ``#!``); otherwise a ``#cloud-config`` with the hostname and
    the SSH keys is generated.
    """

    instance_id: str
    hostname: str
    ssh_authorized_keys: Sequence[str] = field(default_factory=tuple)
    user_data: str | None = None
    network_config: str | None = None

    def __post_init__(self) -> None:
        if not _INSTANCE_ID.match(self.instance_id):
            raise ValidationFailed(f"instance id {self.instance_id!r} has unsafe characters")
        if not _HOSTNAME.match(self.hostname):
            raise ValidationFailed(f"hostname {self.hostname!r} is not a valid host label")
        for key in self.ssh_authorized_keys:
            if not _KEY.match(key.strip()):
                raise ValidationFailed("an SSH public key is not in OpenSSH one-line format")

    def meta_data(self) -> str:
        """The ``meta-data`` document."""
        return (
            f"instance-id: {json.dumps(self.instance_id)}\n"
            f"local-hostname: {json.dumps(self.hostname)}\n"
        )

    def user_data_text(self) -> str:
        """The ``user-data`` document (verbatim, or generated ``#cloud-config``)."""
        if self.user_data is not None:
            return self.user_data
        return cloud_config(self.hostname, self.ssh_authorized_keys)


def cloud_config(hostname: str, ssh_authorized_keys: Sequence[str]) -> str:
    """A ``#cloud-config`` setting the hostname and root's authorised SSH keys."""
    lines = ["#cloud-config", f"hostname: {json.dumps(hostname)}"]
    if ssh_authorized_keys:
        lines.append("ssh_authorized_keys:")
        lines.extend(f"  - {json.dumps(key.strip())}" for key in ssh_authorized_keys)
    # cloud-init's default user would otherwise be created and receive the keys; the
    # tiny guest has only root, and keeping root keeps both guests alike.
    lines.append("disable_root: false")
    return "\n".join(lines) + "\n"


def build_seed_iso(dest: Path, content: SeedContent) -> Path:
    """Write the NoCloud seed ISO for ``content`` to ``dest`` and return ``dest``.

    The file is written beside ``dest`` then renamed, so a reader never sees half an
    ISO. It is private (0600): user-data may hold secrets, and libvirt's dynamic
    ownership hands the file to the QEMU user when the domain starts.
    """
    files: list[tuple[str, str, str]] = [
        ("META_DATA.;1", "meta-data", content.meta_data()),
        ("USER_DATA.;1", "user-data", content.user_data_text()),
    ]
    if content.network_config is not None:
        files.append(("NETWORK_CONFIG.;1", "network-config", content.network_config))

    iso = pycdlib.PyCdlib()
    # Interchange level 3 allows the long upper-case ISO names above; Rock Ridge and
    # Joliet carry the real lower-case names.
    iso.new(interchange_level=3, vol_ident=VOLUME_LABEL, joliet=3, rock_ridge="1.09")
    try:
        for iso_name, real_name, text in files:
            data = text.encode("utf-8")
            iso.add_fp(
                io.BytesIO(data),
                len(data),
                iso_path="/" + iso_name,
                rr_name=real_name,
                joliet_path="/" + real_name,
                file_mode=0o100444,
            )
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        iso.write(str(tmp))
    finally:
        iso.close()
    tmp.chmod(0o600)
    tmp.replace(dest)
    return dest


def read_seed_iso(path: Path) -> dict[str, str]:
    """Read a seed ISO back: its label under ``"label"`` and each file by real name."""
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        out = {"label": iso.pvd.volume_identifier.decode("ascii").rstrip()}
        for child in iso.list_children(rr_path="/"):
            if child.is_dot() or child.is_dotdot():
                continue
            name = child.rock_ridge.name().decode("utf-8")
            buf = io.BytesIO()
            iso.get_file_from_iso_fp(buf, rr_path="/" + name)
            out[name] = buf.getvalue().decode("utf-8")
        return out
    finally:
        iso.close()

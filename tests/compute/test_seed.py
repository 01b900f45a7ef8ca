"""NoCloud seed ISOs: read back with pycdlib itself, label and documents right."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pycdlib
import pytest

from nuages.compute.seed import SeedContent, build_seed_iso, read_seed_iso
from nuages.kernel.errors import ValidationFailed

KEY_A = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB6yP2sK7nH2x7cJ9uQ0m7V5mYw3iQ2bq5gM1iLkQ9Zt alice@laptop"
)
KEY_B = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 bob"


def iso_files(path: Path) -> tuple[str, dict[str, bytes], set[str]]:
    """(volume label, Rock Ridge name -> bytes, Joliet names), read with pycdlib."""
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        label = iso.pvd.volume_identifier.decode().rstrip()
        files: dict[str, bytes] = {}
        for child in iso.list_children(rr_path="/"):
            if child.is_dot() or child.is_dotdot():
                continue
            name = child.rock_ridge.name().decode()
            buf = io.BytesIO()
            iso.get_file_from_iso_fp(buf, rr_path="/" + name)
            files[name] = buf.getvalue()
        joliet = {
            c.file_identifier().decode("utf-16-be")
            for c in iso.list_children(joliet_path="/")
            if not (c.is_dot() or c.is_dotdot())
        }
        return label, files, joliet
    finally:
        iso.close()


def test_seed_has_cidata_label_and_cloud_config(tmp_path: Path) -> None:
    path = build_seed_iso(
        tmp_path / "seed.iso",
        SeedContent("vm-42", "web-1", ssh_authorized_keys=[KEY_A, KEY_B]),
    )
    label, files, joliet = iso_files(path)
    assert label == "cidata"
    assert set(files) == {"meta-data", "user-data"}
    assert joliet == {"meta-data", "user-data"}
    meta = files["meta-data"].decode()
    assert 'instance-id: "vm-42"' in meta
    assert 'local-hostname: "web-1"' in meta
    user = files["user-data"].decode().splitlines()
    assert user[0] == "#cloud-config"
    assert 'hostname: "web-1"' in user
    start = user.index("ssh_authorized_keys:")
    # Each key is a JSON string (valid YAML), so it decodes back exactly.
    assert [json.loads(line.removeprefix("  - ")) for line in user[start + 1 : start + 3]] == [
        KEY_A,
        KEY_B,
    ]


def test_user_script_and_network_config_are_verbatim(tmp_path: Path) -> None:
    script = "#!/bin/sh\necho provisioned > /root/marker\n"
    netcfg = "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n"
    path = build_seed_iso(
        tmp_path / "seed.iso",
        SeedContent("vm-43", "db-1", user_data=script, network_config=netcfg),
    )
    _label, files, _joliet = iso_files(path)
    assert files["user-data"].decode() == script
    assert files["network-config"].decode() == netcfg


def test_seed_file_is_private_and_replaced_whole(tmp_path: Path) -> None:
    dest = tmp_path / "seed.iso"
    build_seed_iso(dest, SeedContent("vm-1", "one"))
    build_seed_iso(dest, SeedContent("vm-1", "two"))
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert 'local-hostname: "two"' in read_seed_iso(dest)["meta-data"]
    assert [p.name for p in tmp_path.iterdir()] == ["seed.iso"]  # no temporary left


@pytest.mark.parametrize(
    ("instance_id", "hostname", "keys"),
    [
        ("vm-1", "bad_host", []),
        ("vm-1", "a" * 64, []),
        ("vm 1\ninjected: true", "ok", []),
        ("vm-1", "ok", ["ssh-ed25519 AAAA key\nssh_pwauth: true"]),
        ("vm-1", "ok", ["not a key"]),
    ],
)
def test_unsafe_values_are_refused(instance_id: str, hostname: str, keys: list[str]) -> None:
    with pytest.raises(ValidationFailed):
        SeedContent(instance_id, hostname, ssh_authorized_keys=keys)

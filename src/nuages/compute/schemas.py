"""Request and response bodies of the compute API."""

from __future__ import annotations

import datetime as dt
import ipaddress
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from nuages.kernel.validation import Money, Out, SafeName, Strict

ObjectId = Annotated[str, StringConstraints(min_length=1, max_length=36)]
NetworkName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"),
    Field(description="a libvirt network defined on the site's hosts"),
]
_EXAMPLE_ID = "3f0c8a52-8d4e-4c36-9a57-0d7f5b1e2a10"


class VmCreate(Strict):
    """A new VM: a flavour of the contract's offer, an image, a name, SSH keys."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contract_id": _EXAMPLE_ID,
                    "flavour": "vm-s",
                    "image": "nuages-tiny",
                    "name": "web-1",
                    "ssh_key_ids": [_EXAMPLE_ID],
                }
            ]
        }
    )

    contract_id: ObjectId
    flavour: SafeName = Field(description="a flavour id of the contract's offer")
    image: Annotated[str, StringConstraints(min_length=1, max_length=63)] = Field(
        description="an image id or name"
    )
    name: SafeName
    ssh_key_ids: list[ObjectId] = Field(default_factory=list, max_length=20)
    # 002 §3.8: under the managed service (infogérance) the provider administers the
    # server entirely; the client then has no direct access (002 §3.8.2).
    managed: bool = False


class VmResize(Strict):
    """Another flavour of the same offer (003 §14.3). vCPU and RAM change while the VM
    is stopped; the disk only grows."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"flavour": "vm-m"}]})

    flavour: SafeName


class VmSuspend(Strict):
    """Why the provider suspends a VM (000 §11.1, 004 §7)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "malicious traffic (000 §11.1)"}]}
    )

    reason: str = Field(min_length=1, max_length=500)


class SnapshotCreate(Strict):
    """A snapshot of a VM's disk (002 §3); the name is optional."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "before-upgrade"}]})

    name: SafeName | None = None


class BackupPlanSet(Strict):
    """Back a VM up under one of its offer's backup options (002 §3.5)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"option": "backup-7d"}]})

    option: SafeName


class RestoreRequest(Strict):
    """Restore a VM to one of its backups (000 §5), or to its original state; with
    ``as_new_vm`` the backup becomes a new VM named ``name`` on the same contract."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"backup_id": _EXAMPLE_ID},
                {"backup_id": _EXAMPLE_ID, "as_new_vm": True, "name": "web-1-restored"},
            ]
        }
    )

    backup_id: ObjectId | None = None
    original: bool = False
    as_new_vm: bool = False
    name: SafeName | None = Field(default=None, description="the new VM's name (as_new_vm)")
    ssh_key_ids: list[ObjectId] | None = Field(
        default=None,
        max_length=20,
        description="as_new_vm: the new VM's keys (default: those the VM restored was "
        "created with and the client still has)",
    )


class ExportCreate(Strict):
    """Export a VM's disk (000 §18): qcow2 (the default) or raw."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"format": "qcow2"}]})

    format: Literal["qcow2", "raw"] = "qcow2"


class GrantCreate(Strict):
    """Give a member a VM to operate (000 §5)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"user_id": _EXAMPLE_ID}]})

    user_id: ObjectId


class SshKeyCreate(Strict):
    """An OpenSSH public key, one line (``ssh-ed25519 AAAA… comment``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "laptop",
                    "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILobMgyDaPEUNzy9bH8umb"
                    "v3Y2gc6kZGb+uyExhAxsFd alice@laptop",
                }
            ]
        }
    )

    name: SafeName
    public_key: str = Field(min_length=1, max_length=16384)


class IpPoolCreate(Strict):
    """A range of fixed addresses on a bridged network of a site (bridge mode)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "paris-1-public",
                    "network": "nuages-br0",
                    "site": "paris-1",
                    "cidr": "192.0.2.0/24",
                    "gateway": "192.0.2.1",
                    "first": "192.0.2.10",
                    "last": "192.0.2.200",
                }
            ]
        }
    )

    name: SafeName
    network: NetworkName
    site: SafeName
    cidr: str = Field(max_length=49)
    gateway: str = Field(max_length=45)
    first: str = Field(max_length=45)
    last: str = Field(max_length=45)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_network(value, strict=True))
        except ValueError as exc:
            raise ValueError(f"not a network in CIDR notation: {exc}") from None

    @field_validator("gateway", "first", "last")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError("not an IP address") from None


class VmOut(Out):
    """A VM: what the client expects (vm_state), what is in flight (task_state) and
    what the hypervisor last said (power_state)."""

    id: str
    client_id: str
    contract_id: str
    name: str
    flavour_id: str
    image_id: str
    host_id: str | None
    vcpus: int
    ram_mib: int
    disk_gib: int
    vm_state: str
    task_state: str | None
    power_state: str
    suspended_reason: str | None
    created_at: dt.datetime
    activated_at: dt.datetime | None
    deleted_at: dt.datetime | None
    ip_address: str | None
    ssh_port: int | None
    managed: bool


class OperationOut(Out):
    """A long action on a VM; poll it until it succeeded or failed."""

    id: str
    vm_id: str
    kind: str
    state: str
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    progress_done: int | None = Field(
        None, description="Bytes copied so far by a snapshot, backup or export; null if unknown."
    )
    progress_total: int | None = Field(
        None, description="Bytes the copy moves in all (the disk's size); null if unknown."
    )


class VmAccepted(BaseModel):
    """The answer to a long action: the operation to poll and the VM as it is now."""

    operation: OperationOut
    vm: VmOut


class SnapshotOut(Out):
    """A snapshot: its size on the host (``size_bytes``, known once taken), the disk
    size it restores (``virtual_bytes``), its SHA-256 and when it is deleted (002 §3)."""

    id: str
    vm_id: str
    name: str
    state: str
    size_bytes: int | None
    virtual_bytes: int | None
    sha256: str | None
    was_running: bool
    created_at: dt.datetime
    expires_at: dt.datetime


class SnapshotAccepted(BaseModel):
    """The answer to taking or restoring a snapshot: the operation to poll."""

    operation: OperationOut
    vm: VmOut
    snapshot: SnapshotOut


class BackupPlanOut(Out):
    """A VM's backup plan: the option and its retention."""

    vm_id: str
    option_id: str
    retention_days: int
    created_at: dt.datetime


class BackupOut(Out):
    """A backup: where (site), its size on the target, checksum and destruction date."""

    id: str
    vm_id: str
    target_id: str
    state: str
    scheduled: bool
    size_bytes: int | None
    virtual_bytes: int | None
    sha256: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    # Incremental backups (issue 13): ``full`` or ``incremental`` on ``parent_id``.
    kind: str = "full"
    parent_id: str | None = None
    # ``blake3:<hex>`` of the backup file (``sha256`` is empty for those).
    checksum: str | None = None


class BackupListed(BackupOut):
    """A backup as listed: ``kept_until`` is later than ``expires_at`` while an
    increment on it is kept (a chain goes whole with its last increment)."""

    kept_until: dt.datetime


class BackupList(BaseModel):
    """A VM's backups and the volume they take (002 §3.5)."""

    items: list[BackupListed]
    volume_bytes: int


class ContractBackupVolume(BaseModel):
    """A contract's backup volume, in all and per VM (002 §3.5)."""

    contract_id: str
    volume_bytes: int
    vms: dict[str, int]


class BackupAccepted(BaseModel):
    """The answer to a backup or a restore: the operation to poll."""

    operation: OperationOut
    vm: VmOut
    backup: BackupOut | None = None


class ExportOut(Out):
    """An export: its format, size, SHA-256 and until when it can be downloaded."""

    id: str
    vm_id: str
    disk_format: str
    state: str
    size_bytes: int | None
    sha256: str | None
    created_at: dt.datetime
    expires_at: dt.datetime


class ExportAccepted(BaseModel):
    """The answer to an export: the operation to poll, then download the file."""

    operation: OperationOut
    vm: VmOut
    export: ExportOut
    download: str


class GrantOut(Out):
    """A member who may operate a VM."""

    id: str
    vm_id: str
    user_id: str
    created_at: dt.datetime


class SshKeyOut(Out):
    """A stored public key."""

    id: str
    user_id: str
    name: str
    public_key: str
    fingerprint: str
    created_at: dt.datetime


class ImageOut(Out):
    """A bootable image of the catalogue."""

    id: str
    name: str
    os: str
    boot_mode: str
    min_disk_gib: int
    size_bytes: int
    client_id: str | None
    created_at: dt.datetime


class HostSiteOut(Out):
    """A site a host serves, in its country."""

    site: str
    country: str


class HostOut(Out):
    """A hypervisor host (staff see all; a client its dedicated hosts, 000 §1).

    ``state``: active (takes new VMs), draining (takes none, its VMs run on), disabled
    (out of service, not watched)."""

    id: str
    name: str
    sites: list[HostSiteOut]  # the URI stays out: clients see their dedicated hosts
    dedicated_to: str | None
    vcpus: int
    ram_mib: int
    disk_gib: int
    cpu_ratio: Decimal
    ram_ratio: Decimal
    disk_ratio: Decimal
    accel: str
    state: str
    reachable: bool
    last_seen: dt.datetime | None


Country = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2}$"),
    Field(description="ISO 3166 country code of the site, e.g. BE"),
]
# Plain decimals, as every decimal of a request body (no exponent, float or "_").
Ratio = Annotated[Money, Field(gt=0, le=64, max_digits=6, decimal_places=2)]


class HostSiteIn(Strict):
    """A site (as the offers' terms name it) and its country."""

    site: SafeName
    country: Country


class HostUpdate(Strict):
    """Staff change a host (issue 9.4): its name, the sites it serves, whom it is
    dedicated to (``null`` makes it shared), its overcommit ratios. Only the fields sent
    change; a host keeps at least one site."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "add_sites": [{"site": "interxion-zav-1", "country": "BE"}],
                    "remove_sites": ["waterloo-1"],
                    "cpu_ratio": "4",
                }
            ]
        }
    )

    name: SafeName | None = None
    add_sites: list[HostSiteIn] = Field(default_factory=list, max_length=64)
    remove_sites: list[SafeName] = Field(default_factory=list, max_length=64)
    dedicated_to: ObjectId | None = None
    cpu_ratio: Ratio | None = None
    ram_ratio: Ratio | None = None
    disk_ratio: Ratio | None = None


class IpPoolOut(Out):
    """An IP pool and how much of it is held."""

    id: str
    name: str
    network: str
    site: str
    cidr: str
    gateway: str
    first_address: str
    last_address: str
    held: int = 0
    size: int = 0

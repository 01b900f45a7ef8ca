"""Compute models: hosts, images, SSH keys, VMs, their operations, grants, leases, outages.

The ``vms`` table keeps exactly the columns billing and SLA helpers read; everything a
VM needs besides (its disk and seed paths, its MAC) is derived from its id or held by
the lease tables. Three state axes are kept apart, Nova style: ``vm_state`` (what the
client expects), ``task_state`` (the operation in flight) and ``power_state`` (what the
hypervisor last reported, the authority).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin, TimestampMixin, UTCDateTime


class Host(IdMixin, TimestampMixin, Base):
    """A hypervisor host reached by a libvirt URI, serving one or more sites.

    One row per machine (per URI): its capacity, port space and domain list are one, so
    a host serving several sites (``host_sites``) is not counted twice — a single-machine
    install serves every site its offers name at once. ``dedicated_to`` names the only
    client whose VMs may run on it (000 §1 "Infrastructure Dédiée"); shared hosts have
    none. Capacity is read from the host when it is added; the overcommit ratios come
    from the settings at that time. ``state``: ``nuages.compute.states.HostState``.
    """

    __tablename__ = "hosts"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    uri: Mapped[str] = mapped_column(String(255), unique=True)
    dedicated_to: Mapped[str | None] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    vcpus: Mapped[int] = mapped_column(Integer)
    ram_mib: Mapped[int] = mapped_column(Integer)
    disk_gib: Mapped[int] = mapped_column(Integer)
    cpu_ratio: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    ram_ratio: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    disk_ratio: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    accel: Mapped[str] = mapped_column(String(8))  # "kvm" | "tcg", from the probe
    state: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    last_seen: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    sites: Mapped[list[HostSite]] = relationship(
        lazy="selectin", order_by="HostSite.site", cascade="all, delete-orphan"
    )

    @property
    def site_ids(self) -> list[str]:
        """The sites this host serves, sorted."""
        return [s.site for s in self.sites]


class HostSite(IdMixin, Base):
    """One site a host serves, with the site's country (as the offers' terms name it).

    Placement matches these against an offer's sites and allowed countries (001 §5,
    004 §4).
    """

    __tablename__ = "host_sites"
    __table_args__ = (UniqueConstraint("host_id", "site"),)

    host_id: Mapped[str] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    site: Mapped[str] = mapped_column(String(63), index=True)
    country: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Image(IdMixin, TimestampMixin, Base):
    """A bootable image: a base disk (and kernel/initrd for direct kernel boot).

    ``client_id`` is null for the provider's public catalogue, else the one client that
    may use it (an image imported for that client).
    """

    __tablename__ = "images"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    os: Mapped[str] = mapped_column(String(63))
    boot_mode: Mapped[str] = mapped_column(String(16))  # "direct-kernel" | "disk"
    disk_format: Mapped[str] = mapped_column(String(8), default="qcow2")
    base_path: Mapped[str] = mapped_column(String(1024))
    kernel_path: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    initrd_path: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    cmdline: Mapped[str] = mapped_column(String(1024), default="")
    min_disk_gib: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    client_id: Mapped[str | None] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SshKey(IdMixin, Base):
    """An OpenSSH public key of one user, injected into the VMs it is chosen for
    (002 §3: management of SSH keys)."""

    __tablename__ = "ssh_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "name"),
        UniqueConstraint("user_id", "fingerprint"),
    )

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str | None] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(63))
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))  # "SHA256:<base64>", as ssh-keygen
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


# A name is unique among a client's VMs that still exist; a deleted VM frees its name.
_LIVE = "vm_state != 'deleted'"


class Vm(Base):
    """A client's virtual machine. The columns are the ones billing reads; keep them."""

    __tablename__ = "vms"
    __table_args__ = (
        Index(
            "uq_vms_client_id_live_name",
            "client_id",
            "name",
            unique=True,
            sqlite_where=text(_LIVE),
            postgresql_where=text(_LIVE),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # = libvirt domain UUID
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(63))
    flavour_id: Mapped[str] = mapped_column(String(63))
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="RESTRICT"))
    host_id: Mapped[str | None] = mapped_column(
        ForeignKey("hosts.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    vcpus: Mapped[int] = mapped_column(Integer)
    ram_mib: Mapped[int] = mapped_column(Integer)
    disk_gib: Mapped[int] = mapped_column(Integer)
    vm_state: Mapped[str] = mapped_column(String(16), index=True)
    task_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    power_state: Mapped[str] = mapped_column(String(16))
    suspended_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    activated_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    ip_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
    ssh_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # 002 §3.8.2: a managed server (infogérance) is administered entirely by the provider;
    # the client has no direct access (no SSH keys, no self-service action).
    managed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The billing extension (000 §8) that created this VM: metering bills it as that
    # extension's VM-hours, and the extension's end removes it. Null for ordinary VMs.
    extension_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)


# At most one operation in flight per VM, enforced by the database as well as by the
# compare-and-swap on task_state.
_IN_FLIGHT = "state IN ('queued', 'running')"


class Operation(IdMixin, Base):
    """A long action on a VM (create, start, stop, …) that a client polls.

    ``params`` holds what the job needs (JSON); ``runner`` names the process that
    executes it (``host:pid``), so crash recovery knows whether it is still alive.
    """

    __tablename__ = "vm_operations"
    __table_args__ = (
        Index(
            "uq_vm_operations_vm_id_in_flight",
            "vm_id",
            unique=True,
            sqlite_where=text(_IN_FLIGHT),
            postgresql_where=text(_IN_FLIGHT),
        ),
    )

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="RESTRICT"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    params: Mapped[str] = mapped_column(Text, default="{}")
    requested_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    runner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    started_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # How far a long copy (snapshot, backup, export) has got, in bytes, while it runs
    # (issue #19): written at most once a second from the worker; null when unknown.
    progress_done: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    progress_total: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class VmGrant(IdMixin, Base):
    """A VM an owner gives a member to operate (SPEC §1; 000 §5 sub-responsables)."""

    __tablename__ = "vm_grants"
    __table_args__ = (UniqueConstraint("vm_id", "user_id"),)

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    granted_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class PortLease(IdMixin, Base):
    """The SSH port forwarded from the host's 127.0.0.1 to one VM (user networking)."""

    __tablename__ = "vm_port_leases"
    __table_args__ = (UniqueConstraint("host_id", "port"),)

    host_id: Mapped[str] = mapped_column(ForeignKey("hosts.id", ondelete="RESTRICT"))
    port: Mapped[int] = mapped_column(Integer)
    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class IpPool(IdMixin, TimestampMixin, Base):
    """A range of fixed addresses on a bridged libvirt network (bridge mode; 003 §4)."""

    __tablename__ = "ip_pools"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    network: Mapped[str] = mapped_column(String(63))  # the libvirt network on the hosts
    site: Mapped[str] = mapped_column(String(63), index=True)
    cidr: Mapped[str] = mapped_column(String(49))
    gateway: Mapped[str] = mapped_column(String(45))
    first_address: Mapped[str] = mapped_column(String(45))
    last_address: Mapped[str] = mapped_column(String(45))


class IpAddress(IdMixin, Base):
    """A fixed address held by one VM. A row exists only while held: releasing it
    returns the address to its pool (003 §4)."""

    __tablename__ = "ip_addresses"

    pool_id: Mapped[str] = mapped_column(ForeignKey("ip_pools.id", ondelete="RESTRICT"))
    # Unique: an address is held by at most one VM, whatever races the allocators run.
    address: Mapped[str] = mapped_column(String(45), unique=True)
    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"), unique=True)
    mac: Mapped[str] = mapped_column(String(17), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


_OPEN = '"end" IS NULL'


class VmOutage(IdMixin, Base):
    """A period a VM that should run was found down, ``[start, end)``; ``end`` is null
    until it is back. The SLA slice reads these (002 §6, 001 §6, 000 §5).

    ``start`` is the last moment the VM was seen running (the platform cannot know
    better; an unclear start is read in the client's favour, SPEC §17); ``detected_at``
    is when reconciliation noticed. ``cause``: crashed, guest-shutdown (the guest
    powered itself off), destroyed (forced off from the host), start-failed, saved,
    migrated, snapshot-restored, host-daemon, shutoff-unknown, domain-missing, paused,
    guest-suspended (``nuages.compute.states``).
    """

    __tablename__ = "vm_outages"
    __table_args__ = (
        Index(
            "uq_vm_outages_vm_id_open",
            "vm_id",
            unique=True,
            sqlite_where=text(_OPEN),
            postgresql_where=text(_OPEN),
        ),
    )

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="RESTRICT"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cause: Mapped[str] = mapped_column(String(64))
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class VmSnapshot(IdMixin, Base):
    """A snapshot of a VM's disk (002 §3: at most ``max_per_vm``, kept ``retention``).

    A point-in-time, self-contained qcow2 copy of the disk (no backing file), in the
    VM's directory (``ComputeRuntime.snapshot_file``): it goes with the VM. ``state``:
    ``creating`` (its operation is running), ``ready``, ``failed`` (nothing kept),
    ``deleted`` (by the client, by expiry, or with the VM). ``size_bytes`` is the space
    the file takes on the host; ``sha256`` its checksum when written.
    """

    __tablename__ = "vm_snapshots"

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="RESTRICT"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(16), index=True)
    operation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    virtual_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    was_running: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deleted_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


class BackupTarget(IdMixin, Base):
    """Where backups are written: a directory (a mounted storage pool) of one site.

    002 §3.5: backups are stored in another data centre than the VM's; nuages only
    writes a VM's backups to a target whose site its host does not serve.
    """

    __tablename__ = "backup_targets"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    site: Mapped[str] = mapped_column(String(63), index=True)
    path: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class VmBackupPlan(IdMixin, Base):
    """A VM's backups, taken under one of its offer's backup options (002 §3.5:
    activation per VM on request; 001 §2.1: included): the option names the retention."""

    __tablename__ = "vm_backup_plans"

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="RESTRICT"), unique=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    option_id: Mapped[str] = mapped_column(String(63))
    retention_days: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class VmBackupOption(IdMixin, Base):
    """The days a VM had a backup option (002 §3.5: activated per VM, billed at the
    option's price): opened when a plan is set, closed when it changes option or
    ends. Invoicing reads these, through ``services.reads``, as option items."""

    __tablename__ = "vm_backup_options"

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="RESTRICT"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    contract_id: Mapped[str] = mapped_column(String(36), index=True)
    option_id: Mapped[str] = mapped_column(String(63))
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class VmBackup(IdMixin, Base):
    """One backup of a VM's disk: a verified qcow2 on a target of another site, standalone
    (``full``) or an increment on its parent's file. ``state`` as a snapshot's:
    ``creating``, ``ready``, ``failed``, ``deleted``."""

    __tablename__ = "vm_backups"

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="RESTRICT"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    target_id: Mapped[str] = mapped_column(
        ForeignKey("backup_targets.id", ondelete="RESTRICT"), index=True
    )
    path: Mapped[str] = mapped_column(String(1000))
    state: Mapped[str] = mapped_column(String(16), index=True)
    scheduled: Mapped[bool] = mapped_column(Boolean, default=True)
    operation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    virtual_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deleted_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Incremental backups (issue 13): ``full`` or ``incremental``; an increment's file
    # is a qcow2 whose backing file is its parent's (``parent_id``), so a parent is kept
    # while any live increment builds on it.
    kind: Mapped[str] = mapped_column(String(16), default="full", server_default="full")
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    # ``blake3:<hex>`` of the file as verified (``sha256`` stays empty for those).
    checksum: Mapped[str | None] = mapped_column(String(80), nullable=True)


class VmExport(IdMixin, Base):
    """A VM's disk exported as a file the client downloads (000 §18, 004 §17.2: an
    image of each VM in a standard format): qcow2 or raw, with its SHA-256, under
    ``data_dir/exports``; the download link works until ``expires_at``, then the file
    is deleted. ``state`` as a snapshot's."""

    __tablename__ = "vm_exports"

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="RESTRICT"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    disk_format: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(1000))
    state: Mapped[str] = mapped_column(String(16), index=True)
    operation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# Network tables (issue 14) live in their own module; imported here so that every user
# of compute's models (metadata, Alembic) sees them.
from nuages.compute.net import models as _net_models  # noqa: E402, F401

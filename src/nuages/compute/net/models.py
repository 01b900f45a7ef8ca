"""Network models: a VM's firewall rules, its network standing (mail server, registered
uses, the cut), the addresses a "new IP" put in quarantine (issue 14), and the abuse
reports and violation notices kept per client (003 §7.9)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from nuages.kernel.clock import utc_now
from nuages.kernel.db import Base, IdMixin, UTCDateTime


class FirewallRule(IdMixin, Base):
    """One client rule of a VM's firewall (002 §3.6). ``state``: ``active`` (enforced),
    ``pending`` (a firewall server's new rule awaiting staff approval, 003 §7.1.1) or
    ``removal_pending`` (enforced until staff approve its removal)."""

    __tablename__ = "vm_firewall_rules"

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    direction: Mapped[str] = mapped_column(String(8))
    protocol: Mapped[str] = mapped_column(String(8))
    port_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    port_to: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cidr: Mapped[str] = mapped_column(String(49))
    action: Mapped[str] = mapped_column(String(8))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    state: Mapped[str] = mapped_column(String(16), default="active")
    requested_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class VmNetwork(Base):
    """What staff declared about a VM's network, and its cut.

    ``mail_server`` (003 §7.4), ``firewall_server`` (003 §7.1.1), ``registered``: the
    registered uses, comma-separated (003 §7.5). A cut (``cut_at`` set) has its ground,
    the clause it rests on, who made it, and ``until_reinstall`` for a compromised
    server (003 §7.3: only a reinstall lifts it), ``expected_end_at`` where staff know it
    (004 §7); ``hold_id`` names the contract hold it
    shares when its ground is contractual (004 §7)."""

    __tablename__ = "vm_network"

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"), primary_key=True)
    mail_server: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    firewall_server: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    registered: Mapped[str] = mapped_column(String(100), default="", server_default="")
    cut_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cut_ground: Mapped[str | None] = mapped_column(String(32), nullable=True)
    cut_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    cut_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    until_reinstall: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When staff expect to lift the cut, where known (004 §7: the client is told the
    # suspension's duration); none for a cut lifted only by a reinstall.
    expected_end_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    hold_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class QuarantinedAddress(IdMixin, Base):
    """An address a VM left for a new one after a misuse report (003 §7.9): no VM gets
    it before ``until``."""

    __tablename__ = "ip_quarantine"

    pool_id: Mapped[str] = mapped_column(ForeignKey("ip_pools.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(45), unique=True)
    vm_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    until: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class VmNetworkHold(Base):
    """A VM a network-scope contract hold covered (kept after the cut is lifted): a
    hold lifted as wrongful gives back these VMs' held time only (000 §11.1)."""

    __tablename__ = "vm_network_holds"

    hold_id: Mapped[str] = mapped_column(
        ForeignKey("contract_holds.id", ondelete="CASCADE"), primary_key=True
    )
    vm_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class AbuseReport(IdMixin, Base):
    """A notification the provider received about a client (003 §7.9), kept per client.

    ``kind``: ``misuse`` (illicit use of the client's IP address: the provider may then
    propose a new French address, ``new_ip``) or ``violation`` (the client breaks French
    law: the client is sent a violation notice, ``notice_id``, and must stop; failing
    that the provider may suspend the service, ``hold_id``). ``source`` says who
    reported, ``evidence`` what they sent; ``closed_at`` when staff found it settled."""

    __tablename__ = "abuse_reports"

    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    vm_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(200))
    evidence: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(100))
    notice_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    hold_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    new_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    close_reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)

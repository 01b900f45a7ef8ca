"""Stored supervision series of VMs (002 §3 "graphes de supervision"; issue 14.4).

Two tables, one per resolution, each keyed by (VM, period start) so writing a period
twice keeps the first row (collector and rollup are idempotent):

- ``vm_metrics_minute``: one row per VM and minute, kept 48 hours. It keeps the
  cumulative counters as read (so the next minute derives its rates from it, whatever
  process collects) and the figures derived from the previous reading;
- ``vm_metrics_hour``: hourly rollups of the minutes, kept 13 months (SLA and billing
  disputes reach back a year).

Rates are per second over the interval actually elapsed between two readings of the
host's clock (``seconds``); CPU % is of the VM's vCPUs (100 = every vCPU busy).
A figure the hypervisor did not report, or that a counter reset (VM restarted) makes
unknowable, is null.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from nuages.kernel.db import Base, UTCDateTime


class VmMetricMinute(Base):
    """One VM's reading of one minute: counters as read, and the rates since the
    previous reading."""

    __tablename__ = "vm_metrics_minute"
    __table_args__ = (Index("ix_vm_metrics_minute_at", "at"),)

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), primary_key=True)  # minute start
    host_id: Mapped[str] = mapped_column(String(36))
    power_state: Mapped[str] = mapped_column(String(16))
    host_ns: Mapped[int] = mapped_column(BigInteger)  # the host's clock at the read
    vcpus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Cumulative counters since the domain's process started.
    cpu_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rd_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    wr_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rd_ops: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    wr_ops: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rx_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tx_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Gauges.
    mem_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    mem_used_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Derived from the previous reading (null on the first one, or after a reset).
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpu_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    rd_bps: Mapped[float | None] = mapped_column(Float, nullable=True)
    wr_bps: Mapped[float | None] = mapped_column(Float, nullable=True)
    rd_iops: Mapped[float | None] = mapped_column(Float, nullable=True)
    wr_iops: Mapped[float | None] = mapped_column(Float, nullable=True)
    rx_bps: Mapped[float | None] = mapped_column(Float, nullable=True)
    tx_bps: Mapped[float | None] = mapped_column(Float, nullable=True)


class VmMetricHour(Base):
    """One VM's hour, rolled up from its minutes: rates averaged over the seconds the
    minutes cover (so the average of rates equals total bytes over total time), CPU and
    memory also as their peak."""

    __tablename__ = "vm_metrics_hour"
    __table_args__ = (Index("ix_vm_metrics_hour_at", "at"),)

    vm_id: Mapped[str] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), primary_key=True)  # hour start
    samples: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpu_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpu_pct_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    mem_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    mem_used_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    mem_used_max: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rd_bps: Mapped[float | None] = mapped_column(Float, nullable=True)
    wr_bps: Mapped[float | None] = mapped_column(Float, nullable=True)
    rd_iops: Mapped[float | None] = mapped_column(Float, nullable=True)
    wr_iops: Mapped[float | None] = mapped_column(Float, nullable=True)
    rx_bps: Mapped[float | None] = mapped_column(Float, nullable=True)
    tx_bps: Mapped[float | None] = mapped_column(Float, nullable=True)

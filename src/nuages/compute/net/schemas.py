"""Request and response bodies of the network API (issue 14)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from nuages.compute.net import rules
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.validation import Instant, Multiline, Out, Strict

Port = Annotated[str, StringConstraints(min_length=1, max_length=11)]


class RuleCreate(Strict):
    """A firewall rule (002 §3.6): traffic ``direction`` (in: to the VM) of ``protocol``
    to ``port`` (one port or a range ``a-b``; none for icmp/any: every port) from
    ``source`` (a CIDR; for outbound rules, the destination) gets ``action``; lower
    ``priority`` first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "direction": "in",
                    "protocol": "tcp",
                    "port": "22",
                    "source": "203.0.113.0/24",
                    "action": "accept",
                    "priority": 100,
                }
            ]
        }
    )

    direction: Literal["in", "out"]
    protocol: Literal["tcp", "udp", "icmp", "any"]
    port: Port | None = None
    source: Annotated[str, StringConstraints(min_length=1, max_length=49)] = "0.0.0.0/0"
    action: Literal["accept", "drop"]
    priority: int = Field(default=100, ge=-1000, le=1000)

    @field_validator("source")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            return rules.parse_cidr(value)
        except ValidationFailed as exc:
            raise ValueError(exc.detail) from exc

    @field_validator("port")
    @classmethod
    def _port(cls, value: str | None) -> str | None:
        try:
            rules.parse_ports(value)
        except ValidationFailed as exc:
            raise ValueError(exc.detail) from exc
        return value


class RuleOut(Out):
    id: str
    direction: str
    protocol: str
    port_from: int | None
    port_to: int | None
    cidr: str
    action: str
    priority: int
    state: str
    created_at: dt.datetime


class FirewallOut(Out):
    """The VM's firewall: the offer's default, the provider's egress rules, the rules."""

    vm_id: str
    default_in: str
    default_out: str
    mail_server: bool
    firewall_server: bool
    registered: list[str]
    smtp_blocked: bool
    approval_needed: bool
    udp_pps_limit: int | None
    icmp_pps_limit: int | None
    cut: bool
    cut_ground: str | None = None
    cut_at: dt.datetime | None = None
    until_reinstall: bool = False
    # When staff expect to lift the cut, where known (004 §7); none until a reinstall.
    cut_expected_end_at: dt.datetime | None = None
    rules: list[RuleOut]


class NetworkCut(Strict):
    """Staff cut a VM's network (000 §6, §11.1): the ground (a network ground or one of
    the contract's suspension grounds) and what was seen. ``all_of_client``: every live
    VM of the VM's client. ``expected_end_at``: when staff expect to lift it, told to
    the client (004 §7); in the future, and not on a cut lifted only by a reinstall."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ground": "malicious-traffic",
                    "reason": "outgoing SYN flood seen 02:10 UTC",
                    "all_of_client": False,
                }
            ]
        }
    )

    ground: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
    reason: str = Field(min_length=1, max_length=500)
    all_of_client: bool = False
    expected_end_at: Instant | None = Field(
        default=None,
        description="when staff expect to lift the cut (004 §7), e.g. 2026-12-05T18:00:00Z",
    )


class NetworkRestore(Strict):
    """Staff lift a cut (the body is optional): why, and ``wrongful`` when the cut was
    manifestly wrong (000 §11.1: the network hold it shares is lifted as wrongful and
    the cut VMs' held time given back)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"reason": "flood stopped, cause fixed", "wrongful": False}]
        }
    )

    reason: str = Field(default="", max_length=500)
    wrongful: bool = False


class NewIp(Strict):
    """Staff move a VM to a new address after a misuse report (003 §7.9)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"reason": "misuse report 2026-117", "quarantine_days": 30}]
        }
    )

    reason: str = Field(min_length=1, max_length=500)
    quarantine_days: int = Field(default=30, ge=0, le=365)
    report_id: str | None = Field(
        default=None, max_length=36, description="the misuse report it answers (003 §7.9)"
    )


class NetworkDeclare(Strict):
    """Staff declarations about a VM (003 §7.1.1, §7.4, §7.5); omitted fields stay."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"mail_server": True, "registered": ["irc"]}]}
    )

    mail_server: bool | None = None
    firewall_server: bool | None = None
    registered: list[Literal["irc", "proxy", "video"]] | None = None


class CutOut(Out):
    vm_ids: list[str]
    ground: str


class NewIpOut(Out):
    vm_id: str
    old_address: str
    new_address: str


class AbuseReportCreate(Strict):
    """Staff record a report received about a client or one of its VMs (003 §7.9):
    ``misuse`` (illicit use of its IP address) or ``violation`` (French law broken:
    the client is sent the violation notice at once)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "misuse",
                    "client_id": None,
                    "vm_id": None,
                    "source": "abuse desk of a mail provider",
                    "evidence": "Spam sent from the VM's address on 1 Dec 2026, headers attached.",
                    "received_at": "2026-12-01T09:00:00Z",
                }
            ]
        }
    )

    kind: Literal["misuse", "violation"]
    client_id: str | None = Field(default=None, max_length=36)
    vm_id: str | None = Field(default=None, max_length=36)
    source: str = Field(min_length=1, max_length=200)
    evidence: Annotated[str, Multiline, Field(max_length=4000)] = ""
    received_at: Instant


class AbuseAction(Strict):
    """Why staff close a report or suspend the service after it."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "the client removed the content"}]}
    )

    reason: str = Field(min_length=1, max_length=500)


class AbuseReportOut(Out):
    id: str
    client_id: str
    vm_id: str | None
    kind: str
    source: str
    evidence: str
    received_at: dt.datetime
    recorded_by: str
    notice_id: str | None
    hold_id: str | None
    new_address: str | None
    closed_at: dt.datetime | None
    close_reason: str
    created_at: dt.datetime


class AbuseStandingOut(Out):
    """A client's reports counted (003 §7.9: kept per client)."""

    client_id: str
    misuse_reports: int
    violation_notices: int
    open_reports: int
    suspensions: int
    clause: str = "003 §7.9"

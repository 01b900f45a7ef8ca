"""The network promises of an offer (issue 14): the firewall's default policy, approval
of a firewall server's rule changes, e-mail and registered uses, UDP/ICMP limits."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt

from nuages.terms.schema_common import Clause, TermsModel


class NetworkTerms(TermsModel):
    """``[network]`` of a terms file; every field has the permissive default, so an offer
    without the section filters nothing its client did not ask for (SPEC §17).

    - ``firewall_default_in``: what inbound traffic no client rule matches gets (002 §3.6:
      the client chooses the ports and source addresses allowed in);
    - ``firewall_server_rules_need_approval``: rule changes on a VM staff declared a
      firewall server wait for staff approval (003 §7.1.1);
    - ``smtp_only_from_mail_servers``: outgoing SMTP (25, 465, 587) is dropped unless
      staff declared the VM a mail server (003 §7.4);
    - ``registration_required``: uses (``irc``, ``proxy``, ``video``) blocked until
      registered for the VM (003 §7.5);
    - ``udp_pps_limit`` / ``icmp_pps_limit``: packets per second a VM may send
      (004 annexe 1 "limitation de débit UDP/ICMP").
    """

    firewall_default_in: Literal["accept", "drop"] = "accept"
    firewall_server_rules_need_approval: StrictBool = False
    smtp_only_from_mail_servers: StrictBool = False
    registration_required: list[Literal["irc", "proxy", "video"]] = []
    udp_pps_limit: Annotated[StrictInt, Field(ge=1)] | None = None
    icmp_pps_limit: Annotated[StrictInt, Field(ge=1)] | None = None
    clause: Clause | None = None

"""Console tickets (002 §3 Cloud VM Avancé "console directe"; issue 14.3).

``issue`` gives a user who may operate the VM (its client's owners, a member it was
given to, staff; 000 §5) a random token, kept only as its SHA-256, valid
``console_ticket_seconds`` (60 s) and once. A guest (Invité, read-only) is refused, and
so is the client of a managed server (002 §3.8.2: no direct access). ``redeem`` takes
the token when the WebSocket opens, with a compare-and-swap on ``used_at``, and writes
the session to the VM's history; ``close`` writes its end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.compute.console.models import ConsoleTicket
from nuages.compute.hypervisor import ConsoleKind
from nuages.compute.models import Host, Vm
from nuages.compute.services.access import load_vm, require_feature
from nuages.compute.states import VmState
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel import personal_data
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import InvalidTransition, NuagesError

TOKEN_PREFIX = "nuc_"  # noqa: S105 - a prefix, not a secret


class ConsoleRefused(NuagesError):
    """The console token cannot open a console (unknown, used, expired, VM gone)."""

    status = 403
    slug = "console-refused"
    title = "The console cannot be opened"


@dataclass(frozen=True)
class Redeemed:
    """A redeemed ticket: which console to open, on which host, for whom."""

    ticket_id: str
    vm_id: str
    uri: str
    kind: ConsoleKind
    actor: Actor
    client_id: str


def token_hash(token: str) -> str:
    """What is stored of a token (it is random and 256 bits long: no slow hash needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    session: Session, actor: Principal, vm_id: str, kind: ConsoleKind, ttl_s: int
) -> tuple[ConsoleTicket, str]:
    """A single-use console token for ``vm_id``; returns the ticket and the token (the
    only time it is visible). 409 unless the VM is running."""
    vm = load_vm(session, actor, vm_id, write=True)
    # 001 §15.3: staff see a client VM's screen only with a live access grant to its
    # consoles (the use is in the client's history).
    personal_data.check(session, actor, vm.client_id, "consoles", f"{kind} console of VM {vm.id}")
    require_feature(session, actor, vm, "console")  # 002 §3: Avancé's, not Essentiel's
    if vm.vm_state != VmState.RUNNING.value or vm.host_id is None:
        raise InvalidTransition(
            f"the VM is {vm.vm_state}: its console opens only while it is running"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utc_now()
    ticket = ConsoleTicket(
        token_hash=token_hash(token),
        vm_id=vm.id,
        client_id=vm.client_id,
        user_id=actor.user_id,
        user_label=actor.email,
        kind=kind,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=ttl_s),
    )
    session.add(ticket)
    session.flush()
    return ticket, token


def redeem(session: Session, token: str) -> Redeemed:
    """Take the token (once, before it expires) and record the console session.

    Raises ``ConsoleRefused`` with a sentence the browser shows as the close reason."""
    now = utc_now()
    ticket = session.execute(
        select(ConsoleTicket).where(ConsoleTicket.token_hash == token_hash(token))
    ).scalar_one_or_none()
    if ticket is None:
        raise ConsoleRefused("unknown console token; ask for a new console")
    if ticket.used_at is not None:
        raise ConsoleRefused("this console token was already used; ask for a new console")
    if ticket.expires_at <= now:
        raise ConsoleRefused("this console token expired; ask for a new console")
    taken = session.execute(
        update(ConsoleTicket)
        .where(
            ConsoleTicket.id == ticket.id,
            ConsoleTicket.used_at.is_(None),
            ConsoleTicket.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) != 1:
        raise ConsoleRefused("this console token was already used; ask for a new console")
    vm = session.get(Vm, ticket.vm_id)
    host = session.get(Host, vm.host_id) if vm is not None and vm.host_id else None
    if vm is None or host is None or vm.vm_state != VmState.RUNNING.value:
        raise ConsoleRefused("the VM is no longer running")
    who = Actor(ticket.user_id, ticket.user_label)
    history.record(
        session,
        who,
        object_type="vm",
        object_id=vm.id,
        action="vm.console.open",
        params={"kind": ticket.kind, "ticket_id": ticket.id},
        client_id=vm.client_id,
    )
    kind: ConsoleKind = "vnc" if ticket.kind == "vnc" else "serial"
    return Redeemed(ticket.id, vm.id, host.uri, kind, who, vm.client_id)


def close(session: Session, done: Redeemed, reason: str, bytes_in: int, bytes_out: int) -> None:
    """Record the end of a console session (once)."""
    ended = session.execute(
        update(ConsoleTicket)
        .where(ConsoleTicket.id == done.ticket_id, ConsoleTicket.closed_at.is_(None))
        .values(closed_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    if getattr(ended, "rowcount", 0) != 1:
        return
    history.record(
        session,
        done.actor,
        object_type="vm",
        object_id=done.vm_id,
        action="vm.console.close",
        params={
            "kind": done.kind,
            "ticket_id": done.ticket_id,
            "reason": reason[:200],
            "bytes_to_vm": bytes_in,
            "bytes_from_vm": bytes_out,
        },
        client_id=done.client_id,
    )

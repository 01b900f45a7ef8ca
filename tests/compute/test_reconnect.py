"""When a call whose connection broke is run again (issue #18), on libvirt's test
driver: the decisions of ``Link.run`` for each kind of loss.

The losses are libvirt's own error values as the remote driver reports them after a
daemon restart (code, domain, message, errno measured with libvirt 9.0): ``Cannot
write data: Broken pipe`` (SYSTEM_ERROR from RPC, errno 32: the request never left),
``End of file while reading data`` (SYSTEM_ERROR from RPC, no errno: the request may
have been carried out), ``internal error: client socket is closed`` (INTERNAL_ERROR
from RPC). The restart itself, on a real daemon, is in ``test_hypervisor_restart``.
"""

from __future__ import annotations

from collections.abc import Iterator

import libvirt
import pytest

from nuages.compute.drivers.libvirt.connection import Attempt, Link, is_lost, never_sent
from nuages.compute.hypervisor import HostUnreachable


def libvirt_error(code: int, domain: int, message: str, errno: int = -1) -> libvirt.libvirtError:
    """A libvirt error carrying the given values (libvirt's ``virError`` fields)."""
    exc = libvirt.libvirtError(message)
    exc.err = (code, domain, message, libvirt.VIR_ERR_ERROR, message, None, None, errno, -1)
    return exc


BROKEN_PIPE = (
    libvirt.VIR_ERR_SYSTEM_ERROR,
    libvirt.VIR_FROM_RPC,
    "Cannot write data: Broken pipe",
    32,
)
EOF_READ = (
    libvirt.VIR_ERR_SYSTEM_ERROR,
    libvirt.VIR_FROM_RPC,
    "End of file while reading data: Input/output error",
    -1,
)
CLOSED = (libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_RPC, "client socket is closed", -1)


@pytest.fixture
def link() -> Iterator[Link]:
    heard: list[tuple[str, str]] = []
    link = Link("test:///default", reconnect_s=0, listener=lambda u, r: heard.append((u, r)))
    link.heard = heard  # type: ignore[attr-defined]
    yield link
    link.close()


def breaks_once(error: tuple[object, ...], *, act_first: bool) -> tuple[list[Attempt], object]:
    tries: list[Attempt] = []

    def call(conn: libvirt.virConnect, attempt: Attempt) -> int:
        tries.append(attempt)
        if len(tries) == 1:
            if act_first:
                attempt.act(lambda: None)
            raise libvirt_error(*error)  # type: ignore[arg-type]
        conn.getInfo()  # the new connection works
        return len(tries)

    return tries, call


def test_lost_connection_errors_are_told_from_refusals() -> None:
    conn = libvirt.open("test:///default")
    try:
        for error in (BROKEN_PIPE, EOF_READ, CLOSED):
            assert is_lost(libvirt_error(*error), conn)  # type: ignore[arg-type]
        refused = libvirt_error(
            libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_FROM_QEMU, "Cannot access storage file"
        )
        assert not is_lost(refused, conn)  # QEMU's error, the connection is fine
        assert never_sent(libvirt_error(*BROKEN_PIPE))  # type: ignore[arg-type]
        assert not never_sent(libvirt_error(*EOF_READ))  # type: ignore[arg-type]
    finally:
        conn.close()


@pytest.mark.parametrize("error", [BROKEN_PIPE, EOF_READ, CLOSED], ids=["pipe", "eof", "closed"])
def test_a_safe_call_is_run_again_once_on_a_new_connection(
    link: Link, error: tuple[object, ...]
) -> None:
    """Reads and state-checked actions: run again, the listener told, success."""
    tries, call = breaks_once(error, act_first=True)
    assert link.run(call, what="stop", safe=True) == 2  # type: ignore[arg-type]
    assert [(t.retrying, t.acted_before) for t in tries] == [(False, False), (True, True)]
    assert link.losses == 1 and link.heard == [("test:///default", error[2])]  # type: ignore[attr-defined]


def test_an_unsafe_call_is_run_again_when_it_had_not_acted(link: Link) -> None:
    """A reboot whose connection broke while looking the domain up: nothing was asked
    yet, so it runs again."""
    tries, call = breaks_once(EOF_READ, act_first=False)
    assert link.run(call, what="reboot", safe=False) == 2  # type: ignore[arg-type]
    assert len(tries) == 2


def test_an_unsafe_call_is_run_again_when_its_request_never_left(link: Link) -> None:
    """``Cannot write data: Broken pipe``: no daemon received the reboot."""
    tries, call = breaks_once(BROKEN_PIPE, act_first=True)
    assert link.run(call, what="reboot", safe=False) == 2  # type: ignore[arg-type]
    assert len(tries) == 2


def test_regression_an_unsafe_call_that_may_have_acted_says_the_hypervisor_restarted(
    link: Link,
) -> None:
    """A reboot sent, then the connection lost before the answer: not sent twice; the
    error says the hypervisor restarted and that reconciliation will tell."""
    tries, call = breaks_once(EOF_READ, act_first=True)
    with pytest.raises(HostUnreachable) as raised:
        link.run(call, what="reboot", safe=False)  # type: ignore[arg-type]
    assert len(tries) == 1
    detail = raised.value.detail
    assert "the hypervisor at test:///default restarted" in detail
    assert "while the reboot was being sent" in detail
    assert "the next reconciliation pass records the VM's actual state" in detail


def test_a_second_loss_is_not_retried_again(link: Link) -> None:
    tries: list[Attempt] = []

    def call(_conn: libvirt.virConnect, attempt: Attempt) -> None:
        tries.append(attempt)
        raise libvirt_error(*CLOSED)  # type: ignore[arg-type]

    with pytest.raises(HostUnreachable, match="lost test:///default again during the status"):
        link.run(call, what="status", safe=True)
    assert len(tries) == 2


def test_a_refusal_is_not_retried(link: Link) -> None:
    tries: list[Attempt] = []

    def call(_conn: libvirt.virConnect, attempt: Attempt) -> None:
        tries.append(attempt)
        raise libvirt_error(libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_FROM_QEMU, "not running")

    with pytest.raises(libvirt.libvirtError):
        link.run(call, what="reboot", safe=True)
    assert len(tries) == 1 and link.losses == 0


def test_the_test_driver_is_not_watched(link: Link) -> None:
    """libvirt's in-process test driver has no daemon to lose: no event loop needed,
    no close callback, no keepalive."""
    assert not link.watched
    assert Link("qemu:///system").watched
    assert not Link("qemu:///system", watch=False).watched

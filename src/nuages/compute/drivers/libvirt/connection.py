"""One libvirt connection that survives its daemon: detect the loss, reopen, retry once.

A libvirt upgrade restarts ``libvirtd``; the guests keep running, but every client
connection breaks. Without help the client notices only when it next writes: the first
call after the restart fails (``Cannot write data: Broken pipe``) and only the one after
it reconnects (issue #18). So:

- libvirt's default event loop runs in a daemon thread of the process (registered once,
  before the first connection opens), so the remote driver watches each connection's
  socket: the close callback fires within milliseconds of the daemon going away, and the
  connection is dropped before anyone uses it again;
- keepalive (``setKeepAlive``) closes a connection whose peer stopped answering (a host
  cut off, a hung daemon): ``interval × (count + 1)`` seconds at most;
- a call made while the daemon is away (within ``reconnect_s`` of the loss) waits for
  it to answer again instead of failing: a delete queued during the restart goes
  through;
- a call that fails because the connection broke anyway (the loss raced the call) is run
  again once on a fresh connection when that is safe: when the request never reached a
  daemon (``Cannot write data``), or when the call is a read or checks the domain's
  state before acting. Otherwise it fails with ``HostUnreachable`` saying the hypervisor
  restarted and that reconciliation will record what really happened.

The close callback runs on the event-loop thread: it only swaps state under a short lock
(never held across a libvirt call) and tells the listener; the stale connection is
closed later by a caller's thread.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import libvirt

from nuages.compute.hypervisor import HostUnreachable

log = logging.getLogger("nuages.compute.libvirt")
T = TypeVar("T")

# Why a connection closed, as libvirt's close callback names it.
CLOSE_REASONS = {
    libvirt.VIR_CONNECT_CLOSE_REASON_ERROR: "error",
    libvirt.VIR_CONNECT_CLOSE_REASON_EOF: "the daemon closed the connection (restart?)",
    libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE: "keepalive timeout",
    libvirt.VIR_CONNECT_CLOSE_REASON_CLIENT: "closed by the client",
}

# Codes that mean "this connection is unusable", whatever layer reported them.
_DEAD_CODES = {libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN}
# From the RPC / remote layers, these codes are the socket failing (broken pipe, EOF,
# "client socket is closed", keepalive timeout), not the hypervisor refusing something.
_SOCKET_CODES = {libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_ERR_RPC}
_SOCKET_DOMAINS = {libvirt.VIR_FROM_RPC, libvirt.VIR_FROM_REMOTE}
# Errors raised while opening: the host cannot be reached (or refuses us).
OPEN_CODES = _DEAD_CODES | {
    libvirt.VIR_ERR_AUTH_FAILED,
    libvirt.VIR_ERR_AUTH_UNAVAILABLE,
    libvirt.VIR_ERR_RPC,
}

_loop_lock = threading.Lock()
_loop_started = False


def ensure_event_loop() -> bool:
    """Register libvirt's default event loop and run it in a daemon thread (once per
    process). Connections opened afterwards get close callbacks and keepalive."""
    global _loop_started
    with _loop_lock:
        if _loop_started:
            return True
        try:
            libvirt.virEventRegisterDefaultImpl()
        except libvirt.libvirtError as exc:  # pragma: no cover - libvirt without it
            log.warning("libvirt event loop unavailable: %s", exc)
            return False
        threading.Thread(target=_run_loop, name="libvirt-events", daemon=True).start()
        _loop_started = True
        return True


def _run_loop() -> None:  # pragma: no cover - runs for the life of the process
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except Exception:
            log.exception("libvirt event loop iteration failed")
            time.sleep(1)


def is_lost(exc: libvirt.libvirtError, conn: libvirt.virConnect) -> bool:
    """True when ``exc`` means the connection broke (not that libvirt refused the call)."""
    code, domain = exc.get_error_code(), exc.get_error_domain()
    if code in _DEAD_CODES:
        return True
    if domain in _SOCKET_DOMAINS and code in _SOCKET_CODES:
        return True
    try:
        return not conn.isAlive()
    except libvirt.libvirtError:
        return True


def never_sent(exc: libvirt.libvirtError) -> bool:
    """True when the request could not be written at all: no daemon received it, so it
    cannot have taken effect (``Cannot write data: Broken pipe``, errno in ``int1``)."""
    return (
        exc.get_error_code() == libvirt.VIR_ERR_SYSTEM_ERROR
        and exc.get_error_domain() in _SOCKET_DOMAINS
        and exc.get_int1() in (errno.EPIPE, errno.ECONNRESET)
    )


class ConnectionLost(Exception):
    """Internal: the connection broke under a call (carries libvirt's error)."""

    def __init__(self, error: libvirt.libvirtError) -> None:
        super().__init__(error.get_error_message())
        self.error = error


@dataclass
class Attempt:
    """One try of a call: ``act`` marks the moment its effect is requested, so a loss
    before it is always safe to retry; ``retrying`` is set on the second try, with
    ``acted_before`` telling whether the first one had asked for the effect."""

    retrying: bool = False
    acted_before: bool = False
    acted: bool = False

    def act(self, call: Callable[[], T]) -> T:
        """Run the call that changes the domain."""
        self.acted = True
        return call()


Listener = Callable[[str, str], None]


class Link:
    """The connection to one libvirt URI, reopened on demand (see the module's rules)."""

    def __init__(
        self,
        uri: str,
        *,
        keepalive_s: int = 5,
        keepalive_count: int = 3,
        reconnect_s: float = 10.0,
        listener: Listener | None = None,
        watch: bool = True,
    ) -> None:
        self.uri = uri
        self.watch = watch
        self.keepalive_s = keepalive_s
        self.keepalive_count = keepalive_count
        self.reconnect_s = reconnect_s
        self.listener = listener
        self.losses = 0  # connections lost so far (close callback or failed call)
        self.last_loss: str | None = None
        self._conn: libvirt.virConnect | None = None
        self._lost_at: float | None = None  # monotonic time of a loss not yet repaired
        self._stale: list[libvirt.virConnect] = []
        self._state = threading.Lock()  # short: never held across a libvirt call
        self._open = threading.Lock()  # one opener at a time

    @property
    def watched(self) -> bool:
        """Whether the daemon's side is watched (event loop, close callback, keepalive):
        every URI but libvirt's in-process test driver, unless ``watch`` is off (a
        process that must not run libvirt's event loop; the retry still applies)."""
        return self.watch and not self.uri.startswith("test:")

    def get(self) -> libvirt.virConnect:
        """The live connection, opened (or reopened) if needed."""
        with self._open:
            with self._state:
                conn = self._conn
            if conn is not None:
                try:
                    if conn.isAlive():
                        return conn
                except libvirt.libvirtError:
                    pass
                self._drop(conn, "found dead before use")
            self._close_stale()
            while True:
                try:
                    return self._open_new()
                except HostUnreachable:
                    # Just lost (a restart in progress): wait for the daemon a while
                    # rather than fail the operation that came in meanwhile.
                    with self._state:
                        lost_at = self._lost_at
                    if lost_at is None or time.monotonic() - lost_at >= self.reconnect_s:
                        raise
                    time.sleep(0.25)

    def reopen(self, lost: ConnectionLost | None = None) -> libvirt.virConnect:
        """A fresh connection after a loss, waiting up to ``reconnect_s`` for the daemon
        to come back (a package upgrade restarts it in about a second)."""
        deadline = time.monotonic() + self.reconnect_s
        while True:
            try:
                return self.get()
            except HostUnreachable:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.25)

    def close(self) -> None:
        """Close the connection (the next call reopens it)."""
        with self._open:
            with self._state:
                conn, self._conn = self._conn, None
                stale, self._stale = self._stale + ([conn] if conn else []), []
            for old in stale:
                _close_quietly(old)

    def lost(self, conn: libvirt.virConnect, reason: str) -> None:
        """Forget ``conn`` because it broke (if it is still the current one)."""
        self._drop(conn, reason)

    def run(self, fn: Callable[[libvirt.virConnect, Attempt], T], *, what: str, safe: bool) -> T:
        """Run ``fn`` on the connection; on a loss run it again once on a new one if
        ``safe`` (or if the first try had not acted yet, or was never sent)."""
        attempt = Attempt()
        conn = self.get()
        try:
            return self._try(fn, conn, attempt)
        except ConnectionLost as lost:
            if attempt.acted and not safe and not never_sent(lost.error):
                raise HostUnreachable(
                    f"the hypervisor at {self.uri} restarted (or its connection broke) "
                    f"while the {what} was being sent: whether it took effect is unknown, "
                    "so it was not sent again; the next reconciliation pass records the "
                    f"VM's actual state ({lost.error.get_error_message()})"
                ) from lost.error
            first = lost
        log.warning("%s: connection lost during %s (%s); retrying once", self.uri, what, first)
        retry = Attempt(retrying=True, acted_before=attempt.acted)
        conn = self.reopen(first)
        try:
            return self._try(fn, conn, retry)
        except ConnectionLost as again:
            raise HostUnreachable(
                f"lost {self.uri} again during the {what}: {again.error.get_error_message()}"
            ) from again.error

    # -- internals ----------------------------------------------------------------------

    def _try(
        self, fn: Callable[[libvirt.virConnect, Attempt], T], conn: libvirt.virConnect, a: Attempt
    ) -> T:
        try:
            return fn(conn, a)
        except libvirt.libvirtError as exc:
            if is_lost(exc, conn):
                self._drop(conn, exc.get_error_message())
                raise ConnectionLost(exc) from exc
            raise

    def _open_new(self) -> libvirt.virConnect:
        if self.watched:
            ensure_event_loop()
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise HostUnreachable(f"cannot reach {self.uri}: {exc}") from exc
        if self.watched:
            self._watch(conn)
        with self._state:
            self._conn = conn
            self._lost_at = None
        return conn

    def _watch(self, conn: libvirt.virConnect) -> None:
        try:
            conn.registerCloseCallback(self._closed, None)
        except libvirt.libvirtError as exc:  # pragma: no cover - drivers without it
            log.info("%s: no close callback: %s", self.uri, exc.get_error_message())
        try:
            conn.setKeepAlive(self.keepalive_s, self.keepalive_count)
        except libvirt.libvirtError as exc:  # pragma: no cover - drivers without it
            log.info("%s: no keepalive: %s", self.uri, exc.get_error_message())

    def _closed(self, conn: libvirt.virConnect, reason: int, _opaque: object) -> None:
        """libvirt's close callback (event-loop thread)."""
        with self._state:
            current = self._conn
        # libvirt hands back its own wrapper of the connection: compare the handles.
        if current is not None and _same(current, conn):
            self._drop(current, CLOSE_REASONS.get(reason, f"reason {reason}"))

    def _drop(self, conn: libvirt.virConnect, reason: str) -> None:
        with self._state:
            if self._conn is not conn:
                return  # already replaced
            self._conn = None
            self._lost_at = time.monotonic()
            self._stale.append(conn)
            self.losses += 1
            self.last_loss = reason
        log.warning("%s: connection lost: %s", self.uri, reason)
        if self.listener is not None:
            try:
                self.listener(self.uri, reason)
            except Exception:  # a listener must not break the driver
                log.exception("connection-loss listener failed")

    def _close_stale(self) -> None:
        with self._state:
            stale, self._stale = self._stale, []
        for old in stale:
            _close_quietly(old)


def _same(a: libvirt.virConnect, b: libvirt.virConnect) -> bool:
    if a is b:
        return True
    try:
        return bool(a.c_pointer() == b.c_pointer())
    except (AttributeError, libvirt.libvirtError):  # pragma: no cover - old bindings
        return False


def _close_quietly(conn: libvirt.virConnect) -> None:
    try:
        conn.unregisterCloseCallback()
    except libvirt.libvirtError:
        pass  # a dead connection refuses it; it is closed below either way
    try:
        conn.close()
    except libvirt.libvirtError:
        pass  # closing a dead connection fails; it is closed either way

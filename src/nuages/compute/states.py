"""The VM state machine, as tables (DESIGN.md "State machines"; Nova's vm/task states).

Three axes, kept apart:

- ``VmState``: what the client expects of the VM (stable between operations);
- ``TaskState``: the operation in flight, null when none; only one at a time, taken
  with a compare-and-swap ``UPDATE … WHERE task_state IS NULL AND vm_state IN (…)``;
- ``PowerState`` (``nuages.compute.hypervisor``): what the hypervisor reports, the
  authority; reconciliation moves ``vm_state`` after it (``DRIFT``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from nuages.compute.hypervisor import PowerState, StopReason
from nuages.kernel.errors import Forbidden, InvalidTransition


class VmState(StrEnum):
    """What the client expects of a VM."""

    BUILDING = "building"
    RUNNING = "running"
    STOPPED = "stopped"
    SUSPENDED = "suspended"  # by the provider, reason kept (000 §11, 003 §8, 004 §7)
    ERROR = "error"
    DELETED = "deleted"


class TaskState(StrEnum):
    """The operation in flight on a VM."""

    CREATING = "creating"
    STARTING = "starting"
    STOPPING = "stopping"
    REBOOTING = "rebooting"
    RESIZING = "resizing"
    REINSTALLING = "reinstalling"
    DELETING = "deleting"
    SUSPENDING = "suspending"
    RESUMING = "resuming"
    SNAPSHOTTING = "snapshotting"  # a point-in-time copy of the disk is being taken
    REVERTING = "reverting"  # the disk goes back to a snapshot
    BACKING_UP = "backing_up"  # a backup copy of the disk is being written
    RESTORING = "restoring"  # the disk goes back to a backup
    EXPORTING = "exporting"  # the disk is being copied out for the client


class OperationState(StrEnum):
    """Where a polled operation stands."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Action(StrEnum):
    """What a client or the provider asks of a VM (an operation's kind)."""

    CREATE = "create"
    START = "start"
    STOP = "stop"
    REBOOT = "reboot"
    RESIZE = "resize"
    REINSTALL = "reinstall"
    DELETE = "delete"
    SUSPEND = "suspend"
    RESUME = "resume"
    SNAPSHOT = "snapshot"  # 002 §3: take a snapshot of the disk
    SNAPSHOT_RESTORE = "snapshot_restore"  # 002 §3: put the disk back to a snapshot
    BACKUP = "backup"  # 002 §3.5: copy the disk to another site
    RESTORE = "restore"  # 000 §5: put the disk back to a backup
    EXPORT = "export"  # 000 §18: an image of the VM in a standard format


V, T = VmState, TaskState

# Which vm_state moves are possible at all (every one is written to the history).
TRANSITIONS: dict[VmState, frozenset[VmState]] = {
    V.BUILDING: frozenset({V.RUNNING, V.ERROR, V.DELETED}),
    V.RUNNING: frozenset({V.RUNNING, V.STOPPED, V.SUSPENDED, V.ERROR, V.DELETED}),
    V.STOPPED: frozenset({V.RUNNING, V.STOPPED, V.SUSPENDED, V.ERROR, V.DELETED}),
    V.SUSPENDED: frozenset({V.RUNNING, V.STOPPED, V.ERROR, V.DELETED}),
    V.ERROR: frozenset({V.RUNNING, V.STOPPED, V.ERROR, V.DELETED}),
    V.DELETED: frozenset(),
}


@dataclass(frozen=True)
class ActionRule:
    """When an action is allowed, which task it runs as, and who may ask for it."""

    allowed: frozenset[VmState]
    task: TaskState
    staff_only: bool = False


# Which actions are allowed in which vm_state (task_state must be null for all of them:
# one operation at a time). Resizing needs the VM stopped (002 §3: vCPU/RAM applied at
# the next start); suspension is the provider's act (000 §11, 004 §7).
ACTIONS: dict[Action, ActionRule] = {
    Action.START: ActionRule(frozenset({V.STOPPED, V.ERROR}), T.STARTING),
    Action.STOP: ActionRule(frozenset({V.RUNNING, V.ERROR}), T.STOPPING),
    Action.REBOOT: ActionRule(frozenset({V.RUNNING}), T.REBOOTING),
    Action.RESIZE: ActionRule(frozenset({V.STOPPED}), T.RESIZING),
    Action.REINSTALL: ActionRule(frozenset({V.RUNNING, V.STOPPED, V.ERROR}), T.REINSTALLING),
    Action.DELETE: ActionRule(frozenset({V.RUNNING, V.STOPPED, V.ERROR, V.SUSPENDED}), T.DELETING),
    Action.SUSPEND: ActionRule(frozenset({V.RUNNING, V.STOPPED}), T.SUSPENDING, True),
    Action.RESUME: ActionRule(frozenset({V.SUSPENDED}), T.RESUMING, True),
    # A snapshot is taken while the VM runs or is stopped, never while it is being
    # created, deleted or is suspended (002 §3; issue 13 "bad input").
    Action.SNAPSHOT: ActionRule(frozenset({V.RUNNING, V.STOPPED}), T.SNAPSHOTTING),
    Action.SNAPSHOT_RESTORE: ActionRule(frozenset({V.RUNNING, V.STOPPED, V.ERROR}), T.REVERTING),
    # A suspended VM (paused by the provider) waits for its resumption to be backed up.
    Action.BACKUP: ActionRule(frozenset({V.RUNNING, V.STOPPED}), T.BACKING_UP),
    Action.RESTORE: ActionRule(frozenset({V.RUNNING, V.STOPPED, V.ERROR}), T.RESTORING),
    Action.EXPORT: ActionRule(frozenset({V.RUNNING, V.STOPPED}), T.EXPORTING),
}
TASK_OF_CREATE = T.CREATING

# A client cannot act on a VM the provider suspended, except staff; deleting one is the
# provider's decision too (003 §8: suspension blocks access).
STAFF_ONLY_STATES = frozenset({V.SUSPENDED})


def check_action(
    action: Action, vm_state: str, task_state: str | None, *, staff: bool
) -> TaskState:
    """Return the task ``action`` runs as, or raise ``InvalidTransition`` saying why not."""
    rule = ACTIONS[action]
    if rule.staff_only and not staff:
        raise Forbidden(f"only provider staff may {action.value} a VM")
    if task_state is not None:
        raise InvalidTransition(f"the VM is busy ({task_state}); try again when it is done")
    if vm_state not in rule.allowed:
        allowed = ", ".join(sorted(s.value for s in rule.allowed))
        raise InvalidTransition(f"cannot {action.value} a {vm_state} VM (only when {allowed})")
    if vm_state in STAFF_ONLY_STATES and not staff:
        raise InvalidTransition(f"the VM is {vm_state} by the provider; contact support")
    return rule.task


def check_transition(current: str, target: VmState) -> None:
    """Raise ``InvalidTransition`` unless the table allows ``current`` → ``target``."""
    if target not in TRANSITIONS[VmState(current)]:
        raise InvalidTransition(f"a {current} VM cannot become {target.value}")


@dataclass(frozen=True)
class Drift:
    """What reconciliation does when it finds ``observed`` for a VM in some state.

    ``becomes``: the new vm_state (None: unchanged); ``outage``: the cause of an outage
    to open (None: none); ``back``: the VM is up again, close any open outage.
    """

    becomes: VmState | None = None
    outage: str | None = None
    back: bool = False


P = PowerState
# The outage cause placeholder of a shut-off domain, replaced by ``outage_cause``.
SHUTOFF = "shutoff"

# Only a guest powering itself off is the client's act ("guest-shutdown", excusable
# under 002 §6). A domain forced off from the host (``virsh destroy``), stopped by the
# daemon or for a reason libvirt does not give is the provider's side: it gets its own
# cause, never "guest-shutdown" (SPEC §17: an unclear cause is read for the client).
SHUTOFF_CAUSES: dict[StopReason | None, str] = {
    StopReason.SHUTDOWN: "guest-shutdown",
    StopReason.DESTROYED: "destroyed",
    StopReason.FAILED: "start-failed",
    StopReason.SAVED: "saved",
    StopReason.MIGRATED: "migrated",
    StopReason.SNAPSHOT: "snapshot-restored",
    StopReason.DAEMON: "host-daemon",
    StopReason.UNKNOWN: "shutoff-unknown",
    None: "shutoff-unknown",
}


def outage_cause(drift_cause: str, stop_reason: StopReason | None) -> str:
    """The cause written on an outage: the drift table's, or for a shut-off domain the
    one its stop reason names."""
    if drift_cause != SHUTOFF:
        return drift_cause
    return SHUTOFF_CAUSES.get(stop_reason, SHUTOFF_CAUSES[None])


_OK = Drift()
_UP = Drift(back=True)

# The power-state sync table (hypervisor is the authority). Rows are the vm_state the
# database holds (no operation in flight); columns what the hypervisor reports.
DRIFT: dict[VmState, dict[PowerState, Drift]] = {
    V.RUNNING: {
        P.RUNNING: _UP,
        P.SHUTTING_DOWN: _OK,  # on its way; the next pass sees where it lands
        # Shut off: the VM is stopped; the outage's cause comes from the stop reason
        # the hypervisor gives (SHUTOFF_CAUSES), and the SLA slice decides from it
        # whether it counts.
        P.SHUTOFF: Drift(V.STOPPED, SHUTOFF),
        P.CRASHED: Drift(V.ERROR, "crashed"),
        P.PAUSED: Drift(V.ERROR, "paused"),  # nobody here paused it
        P.GUEST_SUSPENDED: Drift(None, "guest-suspended"),
        P.UNKNOWN: _OK,
    },
    V.STOPPED: {
        P.RUNNING: Drift(V.RUNNING, back=True),  # started behind our back: it runs
        P.PAUSED: Drift(V.ERROR),
        P.SHUTTING_DOWN: _OK,
        P.SHUTOFF: _OK,
        P.CRASHED: _OK,  # a stopped VM is not expected to run: no outage
        P.GUEST_SUSPENDED: _OK,
        P.UNKNOWN: _OK,
    },
    V.SUSPENDED: {state: _OK for state in PowerState},
    V.ERROR: {
        P.RUNNING: Drift(V.RUNNING, back=True),  # an operator brought it back
        **{state: _OK for state in PowerState if state is not P.RUNNING},
    },
}
# A domain that vanished from its host while the VM should exist.
MISSING_DOMAIN: dict[VmState, Drift] = {
    V.RUNNING: Drift(V.ERROR, "domain-missing"),
    V.STOPPED: Drift(V.ERROR),
    V.SUSPENDED: Drift(V.ERROR),
    V.ERROR: _OK,
}

# What a finished operation leaves, from the power state it observed at the end.
SETTLED: dict[PowerState, VmState] = {
    P.RUNNING: V.RUNNING,
    P.SHUTTING_DOWN: V.RUNNING,
    P.GUEST_SUSPENDED: V.RUNNING,
    P.PAUSED: V.ERROR,  # only a suspension pauses a VM; it says so itself
    P.SHUTOFF: V.STOPPED,
    P.CRASHED: V.ERROR,
    P.UNKNOWN: V.ERROR,
}


class HostState(StrEnum):
    """Whether a host takes new VMs (issue 9.4; staff move it, history records it).

    - ``active``: new VMs are placed on it, reconciliation watches it;
    - ``draining``: no new VM is placed on it; its VMs run on and are watched as before
      (nothing is moved by itself); the step before ``remove``;
    - ``disabled``: out of service: no placement and no reconciliation pass looks at it;
      its VMs' power state becomes ``unknown`` (nobody looks), and an outage found when
      it is enabled again starts at the last time it was seen (SPEC §17: the client's
      favour).

    Removing a host is not a state: the row goes, once no VM is left on it.
    """

    ACTIVE = "active"
    DRAINING = "draining"
    DISABLED = "disabled"


H = HostState
HOST_TRANSITIONS: dict[HostState, frozenset[HostState]] = {
    H.ACTIVE: frozenset({H.DRAINING, H.DISABLED}),
    H.DRAINING: frozenset({H.ACTIVE, H.DISABLED}),
    H.DISABLED: frozenset({H.ACTIVE, H.DRAINING}),
}
# The host states placement may choose; the ones reconciliation looks at.
PLACEABLE = frozenset({H.ACTIVE})
WATCHED = frozenset({H.ACTIVE, H.DRAINING})


def check_host_transition(current: str, target: HostState) -> None:
    """Raise ``InvalidTransition`` unless a ``current`` host may become ``target``."""
    if target not in HOST_TRANSITIONS[HostState(current)]:
        raise InvalidTransition(f"a {current} host cannot become {target.value}")

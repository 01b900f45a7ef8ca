"""libvirt's domain states and capabilities in the protocol's terms (``PowerState``,
``StopReason``, ``QemuUser``): pure translations, kept apart from the driver's
lifecycle calls (``driver.py``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt

from nuages.compute.hypervisor import PowerState, QemuUser, StopReason

_STATES: dict[int, PowerState] = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.UNKNOWN,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,  # running, waiting on a resource
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.SHUTTING_DOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.GUEST_SUSPENDED,
}

_STOP_REASONS: dict[int, StopReason] = {
    libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN: StopReason.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED: StopReason.DESTROYED,
    libvirt.VIR_DOMAIN_SHUTOFF_FAILED: StopReason.FAILED,
    libvirt.VIR_DOMAIN_SHUTOFF_SAVED: StopReason.SAVED,
    libvirt.VIR_DOMAIN_SHUTOFF_MIGRATED: StopReason.MIGRATED,
    libvirt.VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT: StopReason.SNAPSHOT,
    libvirt.VIR_DOMAIN_SHUTOFF_DAEMON: StopReason.DAEMON,
}


def power_state(state: int, reason: int) -> PowerState:
    """Translate libvirt's (state, reason) pair into a ``PowerState``."""
    if state == libvirt.VIR_DOMAIN_SHUTOFF and reason == libvirt.VIR_DOMAIN_SHUTOFF_CRASHED:
        # The QEMU process died under the domain (killed, OOM, assertion): an outage,
        # not a shutdown anyone asked for. start() brings the domain back.
        return PowerState.CRASHED
    return _STATES.get(state, PowerState.UNKNOWN)


def stop_reason(state: int, reason: int) -> StopReason | None:
    """Why a shut-off domain stopped (None unless ``state`` is shut off and not crashed:
    a crash is its own power state)."""
    if state != libvirt.VIR_DOMAIN_SHUTOFF or reason == libvirt.VIR_DOMAIN_SHUTOFF_CRASHED:
        return None
    return _STOP_REASONS.get(reason, StopReason.UNKNOWN)


def qemu_user_of(capabilities_xml: str) -> QemuUser | None:
    """The uid:gid of the DAC security model's base label in libvirt's capabilities
    (``<baselabel type='kvm'>+64055:+64055</baselabel>``: qemu.conf's ``user`` and
    ``group``, or the daemon's own user in session mode); None without a DAC model."""
    caps = ET.fromstring(capabilities_xml)  # noqa: S314 - libvirt's own XML
    for model in caps.iterfind("host/secmodel"):
        if (model.findtext("model") or "") != "dac":
            continue
        labels = {b.get("type"): (b.text or "") for b in model.iterfind("baselabel")}
        label = labels.get("kvm") or labels.get("qemu") or next(iter(labels.values()), "")
        uid, _, gid = label.partition(":")
        try:
            return QemuUser(uid=int(uid.lstrip("+")), gid=int(gid.lstrip("+")))
        except ValueError:
            return None
    return None

"""What QEMU must reach: the data directory, read as the user QEMU runs as.

QEMU does not run as nuages: on ``qemu:///system`` it runs as the user of libvirt's
``qemu.conf`` (Debian: ``libvirt-qemu``), read from the host's capabilities
(``Hypervisor.qemu_user``). libvirt hands each disk, seed and kernel file to that user
(dynamic ownership), but not the directories above them: a data directory below a
``0700`` directory (a private temporary directory, a home directory) makes every start
fail with ``Cannot access storage file … Permission denied`` (issue #18). So
``nuages host add``, ``nuages up`` and every create check first that QEMU's user can
search (``x``) every directory down to the VM files, images and backups, and say what
to change when it cannot.

The check reads modes, owners and the user's groups; as root it confirms a refusal by
trying for real as that user (``test -x`` under its uid and groups), so an ACL that lets
QEMU through is honoured. Only local QEMU hosts are checked: another host's file system
is not visible from here.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from nuages.compute.hypervisor import Hypervisor, QemuCannotReach, QemuUser


@dataclass(frozen=True)
class Blocked:
    """Where QEMU's user is stopped on the way to ``target``."""

    target: Path
    at: Path
    need: str  # "search": x on a directory
    mode: int
    owner: str
    group: str


def user_name(user: QemuUser) -> str:
    """``libvirt-qemu (uid 64055, gid 64055)``, names as this machine knows them."""
    try:
        name = pwd.getpwuid(user.uid).pw_name
    except KeyError:
        name = f"uid {user.uid}"
    return f"{name} (uid {user.uid}, gid {user.gid})"


def groups_of(user: QemuUser) -> set[int]:
    """The user's primary and supplementary groups on this machine."""
    try:
        name = pwd.getpwuid(user.uid).pw_name
    except KeyError:
        return {user.gid}
    return {user.gid, *os.getgrouplist(name, user.gid)}


def _names(st: os.stat_result) -> tuple[str, str]:
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return owner, group


def _allowed(st: os.stat_result, user: QemuUser, groups: set[int], bit: int) -> bool:
    """POSIX permission bits as the kernel applies them (owner, else group, else other)."""
    if user.uid == 0:
        return True
    if st.st_uid == user.uid:
        return bool(st.st_mode & (bit << 6))
    if st.st_gid in groups:
        return bool(st.st_mode & (bit << 3))
    return bool(st.st_mode & bit)


def _really_denied(path: Path, user: QemuUser, groups: set[int], flag: str) -> bool:
    """Try as the user itself (root only): ACLs may allow what the mode bits refuse."""
    if os.geteuid() != 0 or user.uid == 0:
        return True
    done = subprocess.run(
        ["test", flag, str(path)],
        user=user.uid,
        group=user.gid,
        extra_groups=sorted(groups),
        check=False,
        capture_output=True,
        timeout=10,
    )
    return done.returncode != 0


def check(paths: Iterable[Path], user: QemuUser, groups: set[int] | None = None) -> Blocked | None:
    """The first directory ``user`` cannot search on the way to ``paths``, else None.

    Every existing directory from ``/`` down to each path needs search (``x``). Files
    themselves are not checked: libvirt's dynamic ownership (on by default) hands each
    one to QEMU's user when the domain starts, which it cannot do for the directories
    above them. Parts that do not exist yet are skipped: nuages makes them searchable
    (``make_vm_dir``)."""
    groups = groups if groups is not None else groups_of(user)
    for target in paths:
        target = Path(os.path.abspath(target))
        for part in [*reversed(target.parents), target]:
            try:
                st = part.stat()
            except FileNotFoundError:
                break
            except PermissionError:  # pragma: no cover - nuages itself cannot look
                continue
            if not stat.S_ISDIR(st.st_mode):
                break
            if not _allowed(st, user, groups, 1) and _really_denied(part, user, groups, "-x"):
                owner, group = _names(st)
                return Blocked(target, part, "search", stat.S_IMODE(st.st_mode), owner, group)
    return None


def explain(uri: str, user: QemuUser, blocked: Blocked) -> str:
    """What is wrong and what to change, in one paragraph."""
    who = user_name(user)
    name = who.split(" ", 1)[0]
    mode = stat.filemode(blocked.mode | stat.S_IFDIR)
    return (
        f"QEMU on {uri} runs as {who} and cannot reach {blocked.target}: the directory "
        f"{blocked.at} is {mode} {blocked.owner}:{blocked.group}, so {name} may not "
        "enter it (search permission, x). Change one of: set NUAGES_DATA_DIR to a "
        "directory QEMU can reach (the default /var/lib/nuages when run as root; not a "
        "private temporary or home directory); or let QEMU through with "
        f"`chmod o+x {blocked.at}` or `setfacl -m u:{name}:x {blocked.at}`"
    )


def is_local_qemu(uri: str) -> bool:
    """A QEMU URI on this machine (no host part): its file system is ours."""
    parts = urlsplit(uri)
    return parts.scheme.startswith("qemu") and not parts.netloc


def require(hv: Hypervisor, uri: str, paths: Sequence[Path]) -> QemuUser | None:
    """Raise ``QemuCannotReach`` unless QEMU's user on ``uri`` reaches ``paths``.
    Returns that user (None when not checked: no QEMU, or another machine)."""
    if not is_local_qemu(uri):
        return None
    user = hv.qemu_user()
    if user is None:
        return None
    blocked = check(paths, user)
    if blocked is not None:
        raise QemuCannotReach(explain(uri, user, blocked))
    return user

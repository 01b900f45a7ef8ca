"""What QEMU must reach (issue #18): a data directory QEMU's user cannot enter is
refused at ``nuages host add``, warned about at ``nuages up``, and fails a create before
any domain is defined, each time saying what to change.

QEMU's user is read from the real libvirt (``qemu:///system``: ``libvirt-qemu`` on
Debian); nothing here starts a guest (only capabilities and lookups are asked).
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from nuages import cli, server
from nuages.compute import reach, schemas
from nuages.compute.drivers.libvirt.states import qemu_user_of
from nuages.compute.hypervisor import DomainNotFound, QemuCannotReach, QemuUser
from nuages.compute.models import Host, Operation, PortLease, Vm
from nuages.compute.services import vms
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings, get_settings
from tests.compute.world import ComputeWorld, make_runtime
from tests.factories import World

SYSTEM = "qemu:///system"


@pytest.fixture
def qemu_host() -> str:
    """The machine's libvirt, for its capabilities only."""
    try:
        libvirt.open(SYSTEM).close()
    except libvirt.libvirtError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"libvirtd unreachable at {SYSTEM}: {exc}")
        pytest.skip(f"libvirtd unreachable at {SYSTEM}: {exc}")
    return SYSTEM


@pytest.fixture
def folder() -> Iterator[Path]:
    """A directory QEMU's user can traverse (0755), removed at the end."""
    path = Path(tempfile.mkdtemp(prefix="nuages-reach-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def nobody() -> QemuUser:
    entry = pwd.getpwnam("nobody")
    return QemuUser(uid=entry.pw_uid, gid=entry.pw_gid)


def test_qemu_user_is_read_from_libvirts_capabilities() -> None:
    """The DAC model's base label is qemu.conf's user:group; the test driver has none."""
    caps = (
        "<capabilities><host><secmodel><model>none</model></secmodel>"
        "<secmodel><model>dac</model><doi>0</doi>"
        "<baselabel type='kvm'>+64055:+108</baselabel>"
        "<baselabel type='qemu'>+64055:+108</baselabel></secmodel></host></capabilities>"
    )
    assert qemu_user_of(caps) == QemuUser(uid=64055, gid=108)
    test_caps = libvirt.open("test:///default")
    try:
        assert qemu_user_of(test_caps.getCapabilities()) is None
    finally:
        test_caps.close()


def test_search_permission_is_needed_on_every_directory(folder: Path) -> None:
    """A 0700 directory anywhere above the data directory stops QEMU's user; 0711 lets
    it through (search is enough, listing is not needed); parts still to be made are
    not in the way."""
    user = nobody()
    data = folder / "private" / "nuages"
    data.mkdir(parents=True)
    (folder / "private").chmod(0o700)
    blocked = reach.check([data / "vms"], user)
    assert blocked is not None and blocked.at == folder / "private"
    assert (blocked.need, blocked.mode) == ("search", 0o700)
    message = reach.explain("qemu:///system", user, blocked)
    assert f"cannot reach {data / 'vms'}" in message
    assert f"the directory {folder / 'private'} is drwx------ root:root" in message
    assert "NUAGES_DATA_DIR" in message and f"chmod o+x {folder / 'private'}" in message
    (folder / "private").chmod(0o711)
    assert reach.check([data / "vms" / "not-yet"], user) is None


def test_root_and_group_members_pass(folder: Path) -> None:
    """Mode bits as the kernel applies them: owner, else group, else other."""
    shut = folder / "shut"
    shut.mkdir(mode=0o750)
    shut.chmod(0o750)
    user = nobody()
    assert reach.check([shut], user) is not None
    assert reach.check([shut], user, groups={0}) is None  # root's group may search
    assert reach.check([shut], QemuUser(uid=0, gid=0)) is None


def test_host_add_refuses_a_data_dir_qemu_cannot_reach(
    qemu_host: str, database: Database, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #18: ``nuages host add`` with the data directory below a 0700 directory
    says plainly who QEMU runs as, where it is stopped and what to change, exits 1,
    and records no host."""
    (folder / "private").mkdir(mode=0o700)
    data = folder / "private" / "data"
    monkeypatch.setenv("NUAGES_DATABASE_URL", database.url)
    monkeypatch.setenv("NUAGES_DATA_DIR", str(data))
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(
            cli.app, ["host", "add", qemu_host, "--site", "waterloo-1", "--country", "BE"]
        )
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 1, done.stdout
    qemu = reach.user_name(reach_user(qemu_host))
    assert f"error: QEMU on {qemu_host} runs as {qemu} and cannot reach {data}" in done.stderr
    assert f"chmod o+x {folder / 'private'}" in done.stderr
    with database.unit() as session:
        assert session.execute(select(Host)).first() is None


def reach_user(uri: str) -> QemuUser:
    from nuages.compute.drivers.libvirt import LibvirtHypervisor

    hv = LibvirtHypervisor(uri)
    try:
        user = hv.qemu_user()
    finally:
        hv.close()
    assert user is not None
    return user


def test_up_warns_when_qemu_cannot_reach_the_data_dir(
    qemu_host: str, database: Database, folder: Path
) -> None:
    """``nuages up``'s start-up check: one plain warning naming the fix when the data
    directory is out of QEMU's reach, none when it is reachable."""
    (folder / "private").mkdir(mode=0o700)
    settings = Settings(data_dir=folder / "private" / "data", database_url=database.url)
    [warning] = server._qemu_reach(settings, database)
    assert f"QEMU on {qemu_host} runs as" in warning and "NUAGES_DATA_DIR" in warning
    ok = Settings(data_dir=folder / "data", database_url=database.url)
    assert server._qemu_reach(ok, database) == []


def test_regression_create_in_an_unreachable_data_dir_leaves_no_half_made_vm(
    qemu_host: str,
    world: World,
    offers: object,
    database: Database,
    folder: Path,
    image_for: Callable[[ComputeWorld], str],
) -> None:
    """Issue #18: a data directory QEMU cannot enter made every create fail inside
    libvirt (``Cannot access storage file … Permission denied``). Now the create checks
    first: the operation fails with the plain message, no domain is defined, the VM's
    directory, port and address are gone, the VM is ``error``."""
    data = folder / "private" / "data"
    data.mkdir(parents=True)
    runtime = make_runtime(data, database)
    cw = ComputeWorld(world, runtime, offers, folder)  # type: ignore[arg-type]
    try:
        client_id = world.client()
        contract = cw.contract(client_id)
        cw.host(uri=qemu_host, name="this-machine")
        image = image_for(cw)
        (folder / "private").chmod(0o700)  # the operator moved things after adding it
        _owner, who = cw.owner(client_id)
        body = {"contract_id": contract, "flavour": "vm-s", "image": image, "name": "half"}
        with database.unit() as session:
            vm, op = vms.create_vm(session, who, runtime, cw.offers, schemas.VmCreate(**body))
            vm_id, op_id = vm.id, op.id
        assert cw.run(op_id) == "failed"
        with database.unit() as session:
            row = session.get(Vm, vm_id)
            operation = session.get(Operation, op_id)
            assert row is not None and operation is not None
            assert (row.vm_state, row.task_state, row.host_id) == ("error", None, None)
            assert operation.error is not None
            assert f"QEMU on {qemu_host} runs as" in operation.error
            assert f"chmod o+x {folder / 'private'}" in operation.error
            assert session.execute(select(PortLease)).first() is None
        with pytest.raises(DomainNotFound):
            runtime.hypervisor(qemu_host).status(uuid.UUID(vm_id))
        assert not runtime.vm_files(vm_id).directory.exists()
    finally:
        (folder / "private").chmod(0o755)
        runtime.close()


@pytest.fixture
def image_for(folder: Path) -> Callable[[ComputeWorld], str]:
    """An empty disk-boot image outside the data directory; its id."""

    def make(cw: ComputeWorld) -> str:
        cw.tmp = folder
        return cw.image("base").id

    return make


def test_require_skips_hosts_it_cannot_see() -> None:
    """Another machine's file system is not visible from here, nor does libvirt's test
    driver run QEMU: nothing is checked, nothing refused."""
    assert not reach.is_local_qemu("qemu+ssh://hv2/system")
    assert not reach.is_local_qemu("test:///default")
    assert reach.is_local_qemu("qemu:///system?socket=/run/x")


def test_qemu_cannot_reach_is_a_409() -> None:
    assert QemuCannotReach("x").status == 409

"""Benchmark: boot the tiny guest through nuages and through raw ``virsh create``.

For each round, the same domain XML (fresh overlay, seed and port each time) is started
by both sides; two instants are timed from the call: "running" (libvirt reports the
domain running) and "SSH answers" (an ``SSH-`` banner on the forwarded 127.0.0.1 port).
Prints the medians and the ratio nuages / virsh (1.00 = no overhead).

The nuages side is a function ``(LibvirtHypervisor, DomainSpec) -> None`` chosen with
``--provisioner module:function`` (default: the driver's ``create``), or the whole
platform with ``--via platform``: the create service (contract, flavour, placement, port
lease, history) and its job (overlay, seed, define and start) on a throwaway SQLite
database, as the API and a worker run them. The virsh side then boots the same shape
(the offer's smallest flavour: 1 vCPU, 1 GiB, 20 GiB disk).

    .venv/bin/python bench/provision.py --rounds 3
    .venv/bin/python bench/provision.py --rounds 3 --via platform
"""

from __future__ import annotations

import argparse
import importlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt

from nuages.compute import disks
from nuages.compute.drivers.libvirt import LibvirtHypervisor
from nuages.compute.drivers.libvirt.domxml import domain_xml
from nuages.compute.hypervisor import DirectKernelBoot, DiskBoot, DomainSpec, UserNet
from nuages.compute.seed import SeedContent, build_seed_iso
from nuages.compute.tinyimage import TinyImage, build_tiny_image, load_tiny_image

Provisioner = Callable[[LibvirtHypervisor, DomainSpec], None]
TIMEOUT_S = 120.0
BENCH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHdZ0KpmdTb3rQ0o0bYbJ0nT7m4KZ0QYd8m8r5b0x6Fq bench"


def driver_create(hv: LibvirtHypervisor, spec: DomainSpec) -> None:
    """The nuages side today: the libvirt driver's ``create`` (define + start)."""
    hv.create(spec)


@dataclass
class Timing:
    running_s: float
    ssh_s: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ssh_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.settimeout(1)
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def make_spec(
    image: TinyImage, workdir: Path, tag: str, memory_mib: int = 256, disk_gib: int | None = None
) -> DomainSpec:
    vm_id = uuid.uuid4()
    name = f"bench-{tag}-{vm_id.hex[:8]}"
    overlay = workdir / f"{name}.qcow2"
    disks.create_overlay(image.disk, overlay, size_gib=disk_gib)
    seed = build_seed_iso(
        workdir / f"{name}-seed.iso",
        SeedContent(str(vm_id), name, ssh_authorized_keys=[BENCH_KEY]),
    )
    return DomainSpec(
        name=name,
        uuid=vm_id,
        vcpus=1,
        memory_mib=memory_mib,
        disk=overlay,
        seed_iso=seed,
        boot=DirectKernelBoot(image.kernel, image.initrd, image.cmdline),
        network=UserNet(ssh_port=free_port()),
    )


def wait_running(conn: libvirt.virConnect, spec: DomainSpec, start: float) -> float:
    while time.monotonic() - start < TIMEOUT_S:
        try:
            if conn.lookupByUUID(spec.uuid.bytes).state()[0] == libvirt.VIR_DOMAIN_RUNNING:
                return time.monotonic() - start
        except libvirt.libvirtError:
            pass
        time.sleep(0.01)
    raise TimeoutError(f"{spec.name} not running after {TIMEOUT_S} s")


def wait_ssh(spec: DomainSpec, start: float) -> float:
    assert isinstance(spec.network, UserNet)
    while time.monotonic() - start < TIMEOUT_S:
        if ssh_answers(spec.network.ssh_port):
            return time.monotonic() - start
        time.sleep(0.05)
    raise TimeoutError(f"{spec.name}: no SSH after {TIMEOUT_S} s")


def run_nuages(
    hv: LibvirtHypervisor, conn: libvirt.virConnect, spec: DomainSpec, provision: Provisioner
) -> Timing:
    start = time.monotonic()
    provision(hv, spec)
    running = wait_running(conn, spec, start)
    return Timing(running, wait_ssh(spec, start))


def run_virsh(uri: str, conn: libvirt.virConnect, spec: DomainSpec, workdir: Path) -> Timing:
    xml_file = workdir / f"{spec.name}.xml"
    xml_file.write_text(domain_xml(spec))
    start = time.monotonic()
    subprocess.run(["virsh", "-q", "-c", uri, "create", str(xml_file)], check=True)
    running = wait_running(conn, spec, start)
    return Timing(running, wait_ssh(spec, start))


def cleanup(conn: libvirt.virConnect, spec: DomainSpec, workdir: Path) -> None:
    try:
        dom = conn.lookupByUUID(spec.uuid.bytes)
        if dom.isActive():
            dom.destroy()
        if dom.isPersistent():
            dom.undefine()
    except libvirt.libvirtError:
        pass
    for path in workdir.glob(f"{spec.name}*"):
        path.unlink()


class PlatformSide:
    """The nuages side through the platform's create service and job (``--via platform``):
    a throwaway SQLite database with the host, the tiny image, a client and a formed
    isstar-cloud contract; each round asks for a vm-s VM and runs its job in-process."""

    FLAVOUR = ("vm-s", 1024, 20)  # isstar-cloud's smallest: 1 vCPU, 1 GiB, 20 GiB

    def __init__(self, uri: str, image: TinyImage, workdir: Path) -> None:
        from nuages.accounts.models import Client
        from nuages.compute.runtime import ComputeRuntime, ComputeSettings
        from nuages.compute.services import hosts, images
        from nuages.contracts import schemas, service
        from nuages.contracts.offers import OfferRegistry
        from nuages.contracts.states import ContractState
        from nuages.history.service import Actor
        from nuages.kernel import migrate
        from nuages.kernel.db import Database
        from nuages.kernel.settings import Settings

        url = f"sqlite:///{workdir / 'platform.db'}"
        migrate.upgrade(url)
        self.database = Database(url)
        settings = Settings(data_dir=workdir / "platform", database_url=url)
        self.runtime = ComputeRuntime(settings, ComputeSettings(executor="manual"), self.database)
        self.offers = OfferRegistry.from_directory(Path(__file__).resolve().parents[1] / "offers")
        facts = hosts.inspect(self.runtime, uri, probe=False)
        with self.database.unit() as session:
            hosts.register(
                session, STAFF, self.runtime, uri=uri, site="waterloo-1", country="BE",
                facts=facts, name="bench-host",
            )  # fmt: skip
            images.register_tiny(session, STAFF, image)
            client = Client(
                kind="business", legal_name="Bench", country="BE", billing_email="b@example.com"
            )
            session.add(client)
            session.flush()
            contract = service.create_contract(
                session,
                STAFF,
                self.offers,
                schemas.ContractCreate(
                    offer_id="isstar-cloud", client_id=client.id, accept_terms=True
                ),
            )
            service.transition(session, contract, ContractState.ACTIVE, Actor.system(), "bench")
            self.contract_id = contract.id
        self.made: list[str] = []

    def run(self, conn: libvirt.virConnect, n: int) -> Timing:
        """Ask for a VM and run its create job; time to running and to SSH."""
        from nuages.compute import schemas
        from nuages.compute.services import operations, vms

        start = time.monotonic()
        with self.database.unit() as session:
            vm, op = vms.create_vm(
                session,
                STAFF,
                self.runtime,
                self.offers,
                schemas.VmCreate(
                    contract_id=self.contract_id,
                    flavour=self.FLAVOUR[0],
                    image="nuages-tiny",
                    name=f"bench-{n}",
                ),
            )
            vm_id, op_id, port = vm.id, op.id, vm.ssh_port
        self.made.append(vm_id)
        outcome = operations.run_operation(self.database, self.runtime, op_id)
        if outcome != "succeeded":
            raise RuntimeError(f"create {op_id}: {outcome}")
        probe = DomainSpec(
            name=f"nuages-{vm_id}",
            uuid=uuid.UUID(vm_id),
            vcpus=1,
            memory_mib=self.FLAVOUR[1],
            disk=None,
            boot=DiskBoot(),
            network=UserNet(ssh_port=port or 1),
        )
        running = wait_running(conn, probe, start)
        return Timing(running, wait_ssh(probe, start))

    def cleanup(self) -> None:
        """Delete every VM made (domain, disk, seed, port), through the service."""
        from nuages.compute.services import operations, vms
        from nuages.compute.states import Action

        for vm_id in self.made:
            with self.database.unit() as session:
                _vm, op = vms.request(session, STAFF, self.runtime, vm_id, Action.DELETE)
                op_id = op.id
            operations.run_operation(self.database, self.runtime, op_id)
        self.made.clear()

    def close(self) -> None:
        """Delete what is left and close the connections."""
        self.cleanup()
        self.runtime.close()
        self.database.dispose()


def _staff() -> object:
    from nuages.accounts.principal import Principal
    from nuages.accounts.roles import Role, Scope

    return Principal(
        user_id="bench",
        email="bench",
        role=Role.PROVIDER_ADMIN,
        client_id=None,
        scopes=frozenset(Scope),
    )


STAFF: Any = _staff()


def load_provisioner(ref: str | None) -> Provisioner:
    if ref is None:
        return driver_create
    module, _, func = ref.partition(":")
    found: Provisioner = getattr(importlib.import_module(module), func)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Boot the tiny guest via nuages and virsh.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--uri", default="qemu:///system")
    parser.add_argument("--provisioner", help="module:function taking (hypervisor, spec)")
    parser.add_argument("--image-dir", type=Path, help="reuse/build the tiny image here")
    parser.add_argument(
        "--via",
        choices=("driver", "platform"),
        default="driver",
        help="nuages side: the driver's create, or the whole create service and job",
    )
    args = parser.parse_args(argv)
    provision = load_provisioner(args.provisioner)

    workdir = Path(tempfile.mkdtemp(prefix="nuages-bench-"))
    workdir.chmod(0o755)  # the QEMU user must reach the files
    image_dir = args.image_dir or workdir / "image"
    image = load_tiny_image(image_dir) or build_tiny_image(image_dir)
    hv = LibvirtHypervisor(args.uri)
    conn = libvirt.open(args.uri)
    platform = PlatformSide(args.uri, image, workdir) if args.via == "platform" else None
    shape = {"memory_mib": 1024, "disk_gib": 20} if platform else {}
    results: dict[str, list[Timing]] = {"nuages": [], "virsh": []}
    try:
        for n in range(args.rounds):
            # Alternate who goes first so neither side always meets a warm cache.
            order = ["nuages", "virsh"] if n % 2 == 0 else ["virsh", "nuages"]
            for side in order:
                if side == "nuages" and platform is not None:
                    try:
                        timing = platform.run(conn, n)
                    finally:
                        platform.cleanup()
                    results[side].append(timing)
                    print(
                        f"round {n + 1} {side:6s}: running {timing.running_s:6.2f} s, "
                        f"SSH answers {timing.ssh_s:6.2f} s",
                        flush=True,
                    )
                    continue
                spec = make_spec(image, workdir, side, **shape)
                try:
                    if side == "nuages":
                        timing = run_nuages(hv, conn, spec, provision)
                    else:
                        timing = run_virsh(args.uri, conn, spec, workdir)
                finally:
                    cleanup(conn, spec, workdir)
                results[side].append(timing)
                print(
                    f"round {n + 1} {side:6s}: running {timing.running_s:6.2f} s, "
                    f"SSH answers {timing.ssh_s:6.2f} s",
                    flush=True,
                )
    finally:
        if platform is not None:
            platform.close()
        hv.close()
        conn.close()
        if args.image_dir is None:
            for path in sorted(workdir.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
            workdir.rmdir()

    via = "create service + job" if platform else "driver create"
    print(f"\nmedians over {args.rounds} rounds ({args.uri}, tiny guest, TCG, nuages = {via}):")
    for metric in ("running_s", "ssh_s"):
        ours = statistics.median(getattr(t, metric) for t in results["nuages"])
        base = statistics.median(getattr(t, metric) for t in results["virsh"])
        label = "domain running" if metric == "running_s" else "SSH answers   "
        print(
            f"  {label}: nuages {ours:6.2f} s | virsh create {base:6.2f} s | "
            f"ratio {ours / base:5.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

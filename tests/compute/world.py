"""Factories of the compute service tests: hosts on libvirt's test driver, images,
formed contracts, principals. Everything goes through the real services.

Each simulated host is its own ``test:///<file>.xml`` connection (libvirt's test driver
keeps one private state per file connection, and the runtime keeps one connection per
host), so several hosts of different sizes live side by side in one process.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nuages.accounts import service as accounts
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.compute import schemas
from nuages.compute.models import Host, Image, VmExport, VmSnapshot
from nuages.compute.net import service as netservice
from nuages.compute.net.models import AbuseReport
from nuages.compute.runtime import ComputeRuntime, ComputeSettings
from nuages.compute.services import hosts, images, ipam, keys, operations, vms
from nuages.contracts import schemas as contract_schemas
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history.service import Actor as HistoryActor
from nuages.kernel.clock import utc_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from tests.factories import Actor, World

CLI = Principal(
    user_id="cli",
    email="cli",
    role=Role.PROVIDER_ADMIN,
    client_id=None,
    scopes=frozenset(Scope),
)


def host_xml(path: Path, *, cpus: int, ram_mib: int) -> Path:
    """A libvirt test-driver node description: one host of the given size, no domain."""
    path.write_text(
        "<node>\n"
        f"  <cpu><mhz>2000</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets>"
        f"<cores>{cpus}</cores><threads>1</threads></cpu>\n"
        f"  <memory>{ram_mib * 1024}</memory>\n"
        "</node>\n"
    )
    return path


def make_runtime(
    data_dir: Path,
    database: Database,
    executor: str = "manual",
    network_mode: str = "user",
    **compute: object,
) -> ComputeRuntime:
    """A runtime over ``data_dir`` whose operations run as the test says."""
    settings = Settings(data_dir=data_dir, database_url=database.url, network_mode=network_mode)
    knobs = ComputeSettings(**({"executor": executor, "stop_timeout_s": 5} | compute))  # type: ignore[arg-type]
    return ComputeRuntime(settings, knobs, database)


@dataclass
class ComputeWorld:
    """Clients with formed contracts, hosts and images, over one database and runtime."""

    world: World
    runtime: ComputeRuntime
    offers: OfferRegistry
    tmp: Path
    _hosts: int = field(default=0)

    @property
    def database(self) -> Database:
        return self.world.database

    def principal(self, actor: Actor) -> Principal:
        """The principal behind a test user's token (as the API would see it)."""
        with self.database.unit() as session:
            return accounts.authenticate(session, actor.token)

    def owner(self, client_id: str) -> tuple[Actor, Principal]:
        actor = self.world.user(Role.CLIENT_OWNER, client_id)
        return actor, self.principal(actor)

    def contract(self, client_id: str, offer_id: str = "isstar-cloud") -> str:
        """A formed (active) contract of ``client_id`` on ``offer_id``."""
        with self.database.unit() as session:
            contract = contracts.create_contract(
                session,
                CLI,
                self.offers,
                contract_schemas.ContractCreate(
                    offer_id=offer_id, client_id=client_id, accept_terms=True
                ),
            )
            contracts.transition(
                session, contract, ContractState.ACTIVE, HistoryActor.system("test"), "formed"
            )
            return contract.id

    def host(
        self,
        *,
        site: str = "waterloo-1",
        country: str = "BE",
        cpus: int = 8,
        ram_mib: int = 32768,
        dedicated_to: str | None = None,
        uri: str | None = None,
        name: str | None = None,
        probe: bool = False,
    ) -> Host:
        """A simulated host (its own test-driver state) registered through the service."""
        self._hosts += 1
        if uri is None:
            xml = host_xml(self.tmp / f"host-{self._hosts}.xml", cpus=cpus, ram_mib=ram_mib)
            uri = f"test://{xml}"
        facts = hosts.inspect(self.runtime, uri, probe=probe)
        with self.database.unit() as session:
            return hosts.register(
                session,
                CLI,
                self.runtime,
                uri=uri,
                site=site,
                country=country,
                facts=facts,
                dedicated_to=dedicated_to,
                name=name or f"host-{self._hosts}",
            )

    def image(self, name: str = "base", size_gib: int = 1, client_id: str | None = None) -> Image:
        """An empty qcow2 base disk registered as a disk-boot image."""
        base = self.tmp / f"{name}.qcow2"
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", str(base), f"{size_gib}G"], check=True
        )
        with self.database.unit() as session:
            return images.register_image(
                session, CLI, name=name, os="linux", boot_mode="disk", base=base,
                client_id=client_id,
            )  # fmt: skip

    def run(self, operation_id: str) -> str:
        """Run one queued operation the way a worker does."""
        return operations.run_operation(self.database, self.runtime, operation_id)


@pytest.fixture(name="cw")
def cw_fixture(
    world: World, offers: OfferRegistry, tmp_path: Path, database: Database
) -> Iterator[ComputeWorld]:
    """A compute world whose operations run when the test says (``cw.run``)."""
    runtime = make_runtime(tmp_path / "data", database)
    try:
        yield ComputeWorld(world, runtime, offers, tmp_path)
    finally:
        runtime.close()


def tenant_objects(world: World, client_id: str, owner: Actor) -> dict[str, str]:
    """One object of each compute kind owned by ``client_id`` (for the generated access
    tests): a dedicated host, a private image, an SSH key, a VM and its create
    operation, a snapshot and an export of it, an IP pool (staff-only), an abuse report."""
    tmp = Path(tempfile.mkdtemp(prefix="nuages-tenant-"))
    runtime = make_runtime(tmp / "data", world.database)
    offers = OfferRegistry.from_directory(Path(__file__).resolve().parents[2] / "offers")
    cw = ComputeWorld(world, runtime, offers, tmp)
    try:
        contract_id = cw.contract(client_id)
        host = cw.host(dedicated_to=client_id, name="tenant-host")
        image = cw.image("tenant-image", client_id=client_id)
        principal = cw.principal(owner)
        with world.database.unit() as session:
            key = keys.create_key(
                session,
                principal,
                schemas.SshKeyCreate(name="tenant-key", public_key=TENANT_KEY),
            )
        with world.database.unit() as session:
            vm, operation = vms.create_vm(
                session,
                principal,
                runtime,
                offers,
                schemas.VmCreate(
                    contract_id=contract_id,
                    flavour="vm-s",
                    image=image.id,
                    name="tenant-vm",
                    ssh_key_ids=[key.id],
                ),
            )
        with world.database.unit() as session:
            pool = ipam.create_pool(
                session,
                CLI,
                schemas.IpPoolCreate(
                    name="tenant-pool",
                    network="nuages-br0",
                    site="waterloo-1",
                    cidr="192.0.2.0/24",
                    gateway="192.0.2.1",
                    first="192.0.2.10",
                    last="192.0.2.20",
                ),
            )
        with world.database.unit() as session:
            # The tenant's offer has no snapshots and its VM is not built: the row is
            # written as the snapshot service would once a copy is taken.
            snapshot = VmSnapshot(
                vm_id=vm.id,
                client_id=client_id,
                name="tenant-snapshot",
                state="ready",
                expires_at=utc_now() + dt.timedelta(days=7),
            )
            session.add(snapshot)
            export = VmExport(
                vm_id=vm.id,
                client_id=client_id,
                disk_format="qcow2",
                path=str(tmp / "tenant-export.qcow2"),
                state="ready",
                expires_at=utc_now() + dt.timedelta(days=7),
            )
            session.add(export)
            session.flush()
            snapshot_id, export_id = snapshot.id, export.id
        with world.database.unit() as session:
            rule = netservice.add_rule(  # issue 14: a firewall rule of the tenant's VM
                session,
                principal,
                runtime,
                vm.id,
                netservice.NewRule(direction="in", protocol="tcp", action="accept", port="22"),
            )
            rule_id = rule.id
        with world.database.unit() as session:
            # issue 20: an abuse report about the tenant's VM (003 §7.9), written as
            # staff would record it.
            report = AbuseReport(
                client_id=client_id,
                vm_id=vm.id,
                kind="misuse",
                source="tenant-abuse-desk",
                evidence="",
                received_at=utc_now(),
                recorded_by="staff",
                close_reason="",
            )
            session.add(report)
            session.flush()
            report_id = report.id
        return {
            "report_id": report_id,
            "rule_id": rule_id,
            "snapshot_id": snapshot_id,
            "export_id": export_id,
            "vm_id": vm.id,
            "operation_id": operation.id,
            "key_id": key.id,
            "image_id": image.id,
            "host_id": host.id,
            "pool_id": pool.id,
        }
    finally:
        runtime.close()
        shutil.rmtree(tmp, ignore_errors=True)


TENANT_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILobMgyDaPEUNzy9bH8umbv3Y2gc6kZGb+uyExhAxsFd tenant"
)


def holds_inline(runtime: ComputeRuntime) -> AbstractContextManager[None]:
    """Run the ``compute_enforce_holds`` jobs a hold asks for in this process, on
    ``runtime``, right after the commit (as a worker would, without the queue)."""
    from nuages.compute.services import holds as compute_holds
    from nuages.kernel import jobs

    def run(contract_id: str) -> None:
        assert runtime.database is not None
        compute_holds.run_job(runtime.database, runtime, contract_id)

    return jobs.handled("compute_enforce_holds", run)
